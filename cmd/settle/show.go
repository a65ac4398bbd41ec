package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/workflow"
)

// showOptions are the flags of show.
type showOptions struct {
	name string
	json bool
}

func newShowCmd(a *app, t *target) *cobra.Command {
	var o showOptions
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "An execution: the step that failed, the cause, what to do, the committed batch, the history",
		Long: `Show describes an execution like the Step Functions console: its file, the step that failed (for a
rejected file, the step that rejected it), the error and its cause laid out, and what to do, with the
command that does it; for a success, the manifest it committed (counts, partition, policy, warnings,
totals per currency); then its history events.`,
		Example: `  ` + t.prefix() + ` show 3fde3b99a6baa7a1245af073c8edd8b4
  ` + t.prefix() + ` show 3fde3b99a6baa7a1245af073c8edd8b4 --json | jq .advice`,
		Args: exactArgs(1, "name one execution ("+t.prefix()+" executions lists them)"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			o.name = args[0]
			op, err := t.open(cmd.Context())
			if err != nil {
				return err
			}
			return runShow(cmd.Context(), a, op, o)
		}),
	}
	t.flags(cmd)
	cmd.Flags().BoolVar(&o.json, "json", false, "print the execution, its history and its manifest as one JSON object")
	return cmd
}

// detailJSON is what show --json prints.
type detailJSON struct {
	executionJSON
	FailedStep string                  `json:"failed_step,omitempty"`
	Advice     string                  `json:"advice"`
	Manifest   *workflow.Manifest      `json:"manifest,omitempty"`
	Snapshot   *workflow.TableSnapshot `json:"snapshot,omitempty"`
	Events     []eventJSON             `json:"events"`
}

type eventJSON struct {
	ID     int64     `json:"id"`
	Time   time.Time `json:"time"`
	Type   string    `json:"type"`
	Step   string    `json:"step,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

func runShow(ctx context.Context, a *app, op operator, o showOptions) error {
	d, err := op.Show(ctx, o.name)
	if err != nil {
		return err
	}
	if o.json {
		j := detailJSON{executionJSON: toJSON(op, d.Execution), FailedStep: d.FailedStep, Advice: advice(op, d), Manifest: d.Manifest, Snapshot: d.Snapshot, Events: []eventJSON{}}
		for _, ev := range d.Events {
			j.Events = append(j.Events, eventJSON{ID: ev.ID, Time: ev.Time.UTC(), Type: ev.Type, Step: ev.State, Detail: op.text(ev.Detail)})
		}
		return printJSON(a.stdout, j)
	}
	printDetail(a.stdout, op, d)
	return nil
}

func printDetail(w io.Writer, op operator, d *ops.Detail) {
	fmt.Fprintf(w, "Execution %s  %s\n", d.Name, d.Status)
	fmt.Fprintf(w, "  ARN       %s\n  File      %s (etag %s, %d bytes)", d.ARN, op.file(d.File), d.File.ETag, d.File.Size)
	if note := ops.ReprocessNote(workflow.ExecutionInput{Replace: d.Replace, Policy: d.Policy}); note != "" {
		fmt.Fprint(w, ", "+note)
	}
	fmt.Fprintf(w, "\n  Started   %s\n", ts(d.Start))
	if !d.Stop.IsZero() {
		fmt.Fprintf(w, "  Stopped   %s (%s)\n", ts(d.Stop), duration(d.Execution))
	}
	if d.Failed() {
		// An execution stopped by StopExecution has no error or cause.
		fmt.Fprintf(w, "  Failed at %s\n  Error     %s\n  Cause     %s\n", ops.OrDash(d.FailedStep), ops.OrDash(d.Error),
			ops.OrDash(indentCause(op.text(d.Message()), "            ")))
		if workflow.IsDataError(d.Error) {
			fmt.Fprintf(w, "  Redrive   no use: the execution ended in its Fail state, which a redrive re-enters (%s so far)\n", plural(d.RedriveCount, "redrive", "redrives"))
		} else {
			fmt.Fprintf(w, "  Redrive   %s", ops.OrDash(d.RedriveStatus))
			if d.RedriveReason != "" {
				fmt.Fprintf(w, " (%s)", d.RedriveReason)
			}
			fmt.Fprintf(w, ", %d so far\n", d.RedriveCount)
		}
	}
	fmt.Fprintf(w, "  To do     %s\n", strings.ReplaceAll(advice(op, d), "\n", "\n            "))
	if m := d.Manifest; m != nil {
		printManifest(w, op, d, m)
	}
	fmt.Fprintln(w)
	tw := table(w)
	fmt.Fprintln(tw, "ID\tTYPE\tSTEP\tELAPSED\tDETAIL")
	for _, ev := range d.Events {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", ev.ID, ev.Type, ops.OrDash(ev.State), ev.Time.Sub(d.Start).Round(time.Millisecond), ops.OrDash(shorten(op.text(ev.Detail), 140)))
	}
	tw.Flush()
}

// printSnapshot names the Iceberg snapshot the batch version was committed in. Its id is random: the
// sequence number (the table's count of snapshots) says which one it is in text, the id is in --json and
// in settle table history.
func printSnapshot(w io.Writer, s *workflow.TableSnapshot) {
	if s == nil {
		fmt.Fprintln(w, "    table     not in the Iceberg table's kept snapshots (replaced since, expired, or not synced: settle verify says which)")
		return
	}
	state := "still the current snapshot"
	if !s.Current {
		state = fmt.Sprintf("later commits since (table version %d)", s.Version)
	}
	fmt.Fprintf(w, "    table     Iceberg snapshot #%d (sequence number); %s\n", s.Sequence, state)
}

// printManifest prints the summary of the batch an execution committed.
func printManifest(w io.Writer, op operator, d *ops.Detail, m *workflow.Manifest) {
	fmt.Fprintf(w, "\n  Committed batch %s/%s/%d, settlement date %s", m.Provider, m.MerchantAccount, m.BatchNumber, m.SettlementDate)
	if m.Revision > 0 && m.Replaced != nil {
		fmt.Fprintf(w, ", replacing %s (revision %d)", op.file(*m.Replaced), m.Revision)
	}
	fmt.Fprintln(w)
	switch {
	case m.Execution == "": // a manifest written again from the table after its commit's snapshot expired
		fmt.Fprintf(w, "    now committed from %s (by an execution the table no longer records)\n", op.file(m.Source))
	case m.Execution != d.Name:
		fmt.Fprintf(w, "    now committed by %s, from %s\n", m.Execution, op.file(m.Source))
	}
	c := m.Counts
	fmt.Fprintf(w, "    rows      %d written, %d rejected, of %d data rows (%d lines)\n", c.RowsWritten, c.RowsRejected, c.DataRows, c.Lines)
	for _, p := range m.Partitions {
		fmt.Fprintf(w, "    output    %s (%d rows)\n", op.output(p.Key), p.Rows)
	}
	printSnapshot(w, d.Snapshot)
	balance := "on"
	if !m.Policy.BalanceCheck {
		balance = "off"
	}
	fmt.Fprintf(w, "    policy    at most %d rejected rows, balance check %s\n", m.Policy.MaxRejected, balance)
	if len(m.Warnings) == 0 {
		fmt.Fprintln(w, "    warnings  none")
	}
	for i, wn := range m.Warnings {
		label := "warnings "
		if i > 0 {
			label = "         "
		}
		lines := ""
		if len(wn.Lines) > 0 {
			lines = " (lines " + strings.Trim(strings.Join(strings.Fields(fmt.Sprint(wn.Lines)), ", "), "[]") + ")"
		}
		fmt.Fprintf(w, "    %s %d %s: %s%s\n", label, max(wn.Count, 1), wn.Rule, wn.Message, lines)
	}
	tw := table(w)
	fmt.Fprintln(tw, "    CURRENCY\tGROSS\tFEES\tNET\tPAYOUT")
	for _, cur := range m.Currencies {
		var t currencyTotals
		t.Add(cur)
		fmt.Fprintf(tw, "    %s\n", t.cells(cur.Currency))
	}
	tw.Flush()
}
