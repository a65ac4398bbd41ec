package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/workflow"
)

// redriveOptions are the flags of redrive.
type redriveOptions struct {
	name            string
	allFailed       bool
	since           string
	dry, force, yes bool
	json            bool
}

func newRedriveCmd(a *app, t *target) *cobra.Command {
	var o redriveOptions
	cmd := &cobra.Command{
		Use:   "redrive NAME | --all-failed",
		Short: "Rerun a failed execution from the step that failed (or every one since --since)",
		Long: `Redrive restarts an execution that failed, timed out or was aborted, the way a new delivery of its
file would: from the step that failed, with the same input (on a stack, RedriveExecution within 14
days, then a new NAME-rN execution). Fix the cause first (storage, permissions, a function's limits).

A file rejected for a data error (InvalidFileError, ValidationError, ConflictError) is not redriven:
its execution ended in the Fail state, and a redrive re-enters it; the same bytes under the same
policy are rejected again. Redrive says so and prints the reprocess command that can let it through.`,
		Example: `  ` + t.prefix() + ` redrive b8df9bee01ed8fd0fe163ff207fab8d6
  ` + t.prefix() + ` redrive --all-failed --since 2h --dry-run
  ` + t.prefix() + ` redrive --all-failed --yes --json | jq -r 'select(.outcome == "failed") | .execution'`,
		Args: maxArgs(1, "name one execution, or pass --all-failed"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.name = args[0]
			}
			if o.allFailed == (o.name != "") {
				return usageError("%s redrive: name one execution, or pass --all-failed", t.prefix())
			}
			op, err := t.open(cmd.Context())
			if err != nil {
				return err
			}
			return runRedrive(cmd.Context(), a, op, o)
		}),
	}
	t.flags(cmd)
	cmd.Flags().BoolVar(&o.allFailed, "all-failed", false, "every execution that failed, timed out or was aborted since --since")
	cmd.Flags().StringVar(&o.since, "since", "24h", "with --all-failed: failed since (a duration ago or a time)")
	cmd.Flags().BoolVar(&o.dry, "dry-run", false, "say what would be done, do nothing")
	cmd.Flags().BoolVar(&o.force, "force", false, "redrive a rejected file's execution anyway (it re-enters the Fail state)")
	cmd.Flags().BoolVar(&o.yes, "yes", false, "with --all-failed: go ahead without asking (required when not on a terminal)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print one JSON object per execution restarted (the plan, when asked for, goes to stderr)")
	return cmd
}

func runRedrive(ctx context.Context, a *app, op operator, o redriveOptions) error {
	since, err := parseSince(o.since, a.now())
	if err != nil {
		return err
	}
	if !o.allFailed {
		act, err := op.Redrive(ctx, o.name, o.dry, o.force)
		if err != nil && act.Execution == "" {
			return err
		}
		var rejected *ops.Detail
		var fix string
		if err == nil && act.Outcome == ops.Skipped {
			rejected, fix = rejection(ctx, op, act)
		}
		if o.json {
			j := toActionJSON(op, act, o.dry)
			j.Advice = fix
			if err := printJSON(a.stdout, j); err != nil {
				return err
			}
		} else {
			printActions(a.stdout, op, []action{act}, viewOf(o.dry))
			if rejected != nil {
				fmt.Fprintf(a.stdout, "\n%s was rejected for a data error (%s at %s): its redrive would re-enter the Fail state and cannot change the outcome.\n%s\n",
					act.Execution, rejected.Error, ops.OrDash(rejected.FailedStep), fix)
			}
		}
		if err != nil {
			return err
		}
		if rejected != nil {
			return failed("%s was not redriven: a rejected file is reprocessed, not redriven", act.Execution)
		}
		return actionsExit([]action{act})
	}
	if !o.dry && !o.yes {
		planned, err := op.RedriveFailed(ctx, since, true)
		if err != nil {
			return err
		}
		if ok, err := confirmActions(a, op, op.command("redrive --all-failed"), "Restart them?", planned, o.json); !ok {
			return err
		}
	}
	actions, err := op.RedriveFailed(ctx, since, o.dry)
	switch {
	case o.json:
		if err := printActionsJSON(a.stdout, op, actions, o.dry); err != nil {
			return err
		}
	case len(actions) > 0 || err == nil:
		printActions(a.stdout, op, actions, viewOf(o.dry))
	}
	if err != nil {
		return err
	}
	return actionsExit(actions)
}

// rejection is why a skipped redrive was not done when its execution was rejected for a data error:
// the execution, with what can let its file through; nil when it was not.
func rejection(ctx context.Context, op operator, act action) (*ops.Detail, string) {
	d, err := op.Show(ctx, act.Execution)
	if err != nil || !workflow.IsDataError(d.Error) {
		return nil, ""
	}
	fix, _ := remedy(op, d.Name, d.Error, d.Remedy)
	return d, fix
}
