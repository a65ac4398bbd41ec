package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/paysettle/settle/internal/settlement"
)

func newZonesCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "zones",
		Short: "List the time-zone abbreviations and their UTC offsets (with SETTLE_TIMEZONES)",
		Long: `Zones lists the time-zone abbreviations the reports' TimeZone columns may hold and the UTC offset each
stands for; an abbreviation not in the table is a row error. SETTLE_TIMEZONES adds or overrides some
(e.g. CST=-06:00,IST=+05:30).`,
		Example: `  settle zones
  SETTLE_TIMEZONES=IST=+05:30 settle zones | grep IST`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			zones := map[string]int{}
			if z := a.getenv("SETTLE_TIMEZONES"); z != "" {
				var err error
				if zones, err = settlement.ParseZones(z); err != nil {
					return usageError("SETTLE_TIMEZONES: %v", err)
				}
			}
			fmt.Fprintln(a.stdout, strings.Join(settlement.ZoneTable(zones), "\n"))
			return nil
		}),
	}
}
