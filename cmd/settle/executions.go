package main

import (
	"context"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/paysettle/settle/internal/states"
)

// executionsOptions are the flags of executions.
type executionsOptions struct {
	status, since string
	limit         int
	json          bool
}

func newExecutionsCmd(a *app, t *target) *cobra.Command {
	var o executionsOptions
	cmd := &cobra.Command{
		Use:   "executions",
		Short: "List executions, newest first, with file, duration, error and redrive status",
		Example: `  ` + t.prefix() + ` executions
  ` + t.prefix() + ` executions --status FAILED --since 2h
  ` + t.prefix() + ` executions --json | jq -r 'select(.error == "ValidationError") | .name'`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if err := o.check(); err != nil {
				return err
			}
			op, err := t.open(cmd.Context())
			if err != nil {
				return err
			}
			return runExecutions(cmd.Context(), a, op, o)
		}),
	}
	t.flags(cmd)
	cmd.Flags().StringVar(&o.status, "status", "", "only executions with this status: "+strings.Join(states.Statuses, ", "))
	cmd.Flags().StringVar(&o.since, "since", t.since, t.sinceUsage("started since"))
	cmd.Flags().IntVar(&o.limit, "limit", 100, "at most this many (0: all)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print one JSON object per execution")
	return cmd
}

func (o *executionsOptions) check() error {
	o.status = strings.ToUpper(o.status)
	if o.status != "" && !slices.Contains(states.Statuses, o.status) {
		return usageError("--status %s is not an execution status; use one of %s", o.status, strings.Join(states.Statuses, ", "))
	}
	return nil
}

func runExecutions(ctx context.Context, a *app, op operator, o executionsOptions) error {
	since, err := parseSince(o.since, a.now())
	if err != nil {
		return err
	}
	list, err := op.Executions(ctx, o.status, since, o.limit)
	if err != nil {
		return err
	}
	if o.json {
		for _, x := range list {
			if err := printJSON(a.stdout, toJSON(op, x)); err != nil {
				return err
			}
		}
		return nil
	}
	printExecutions(a.stdout, list)
	return nil
}
