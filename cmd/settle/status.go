package main

import (
	"context"

	"github.com/spf13/cobra"
)

// statusOptions are the flags of status.
type statusOptions struct {
	since string
	json  bool
}

func newStatusCmd(a *app, t *target) *cobra.Command {
	var o statusOptions
	cmd := &cobra.Command{
		Use:   "status",
		Short: "What needs attention: the failed-files queue, executions by status, the oldest running file",
		Example: `  ` + t.prefix() + ` status
  ` + t.prefix() + ` status --since 7d
  ` + t.prefix() + ` status --json | jq '.counts.FAILED'`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			op, err := t.open(cmd.Context())
			if err != nil {
				return err
			}
			return runStatus(cmd.Context(), a, op, o)
		}),
	}
	t.flags(cmd)
	cmd.Flags().StringVar(&o.since, "since", t.since, t.sinceUsage("count executions started since"))
	cmd.Flags().BoolVar(&o.json, "json", false, "print the queues, the counts and the running and failed executions as one JSON object")
	return cmd
}

func runStatus(ctx context.Context, a *app, op operator, o statusOptions) error {
	since, err := parseSince(o.since, a.now())
	if err != nil {
		return err
	}
	st, err := op.Status(ctx, since)
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(a.stdout, toStatusJSON(op, st))
	}
	printStatus(a.stdout, op, st)
	return nil
}
