package main

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/workflow"
)

// reprocessOptions are the flags of reprocess.
type reprocessOptions struct {
	target       string
	replace      bool
	maxRejected  int64
	balanceCheck string
	dry, yes     bool
	json         bool
	setMax       bool // --max-rejected was given
}

func newReprocessCmd(a *app, t *target) *cobra.Command {
	var o reprocessOptions
	what := "a local file, a file of the data folder's raw bucket, or an execution's name (its file)"
	if t.aws {
		what = "an object of the stack's raw bucket (s3://BUCKET/KEY), or an execution's name (its file)"
	}
	cmd := &cobra.Command{
		Use:   "reprocess FILE|NAME",
		Short: "Run a file again as a new execution: a rejected file, a regenerated report, a lost event",
		Long: `Reprocess runs a file again as a new execution: FILE is ` + what + `.

It is the way out of a rejected file: --max-rejected N commits a file whose N rejected rows may be left
out (they stay in the rejected rows file), --balance-check off commits an unbalanced batch (the
imbalance becomes the manifest's warning), and --replace commits a regenerated report in place of the
batch's committed file. These settings apply to this execution only: they are recorded in its input and
in the manifest's policy. Without them the configured policy applies (MAX_REJECTED_ROWS, BALANCE_CHECK).

The execution is named by the file's ETag when that name is free and no setting is given, else
<that name>-pN. --replace shows its plan and asks on a terminal; elsewhere it needs --yes.`,
		Example: `  ` + t.prefix() + ` reprocess 3fde3b99a6baa7a1245af073c8edd8b4 --max-rejected 13
  ` + t.prefix() + ` reprocess 908263f885fb01d1d1ad04fbddf280e9 --balance-check off --json
  ` + t.prefix() + ` reprocess ` + map[bool]string{false: "reports/settlement_detail_report_batch_61_v2.csv", true: "s3://settle-raw-123/incoming/settlement_detail_report_batch_61_v2.csv"}[t.aws] + ` --replace --yes`,
		Args: exactArgs(1, "name one file or execution"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			o.target, o.setMax = args[0], cmd.Flags().Changed("max-rejected")
			opts, err := o.options()
			if err != nil {
				return err
			}
			op, err := t.open(cmd.Context())
			if err != nil {
				return err
			}
			return runReprocess(cmd.Context(), a, op, o, opts)
		}),
	}
	t.flags(cmd)
	cmd.Flags().BoolVar(&o.replace, "replace", false, "replace the batch's committed file with this one")
	cmd.Flags().Int64Var(&o.maxRejected, "max-rejected", 0, "allow this many rejected rows for this file (default: MAX_REJECTED_ROWS)")
	cmd.Flags().StringVar(&o.balanceCheck, "balance-check", "", "on or off: the batch balance check for this file (default: BALANCE_CHECK)")
	cmd.Flags().BoolVar(&o.dry, "dry-run", false, "say what would be done, do nothing")
	cmd.Flags().BoolVar(&o.yes, "yes", false, "with --replace: go ahead without asking (required when not on a terminal)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print what was done (and locally the execution's result) as one JSON object (the plan, when asked for, goes to stderr)")
	return cmd
}

// options are the reprocess's settings, from the flags.
func (o reprocessOptions) options() (ops.ReprocessOptions, error) {
	r := ops.ReprocessOptions{Replace: o.replace}
	var p workflow.PolicyOverride
	if o.setMax {
		if o.maxRejected < 0 {
			return r, usageError("--max-rejected %d: want a whole number >= 0", o.maxRejected)
		}
		max := o.maxRejected
		p.MaxRejected = &max
	}
	switch strings.ToLower(o.balanceCheck) {
	case "":
	case "on", "true":
		on := true
		p.BalanceCheck = &on
	case "off", "false":
		off := false
		p.BalanceCheck = &off
	default:
		return r, usageError("--balance-check %q: want on or off", o.balanceCheck)
	}
	if !p.Empty() {
		r.Policy = &p
	}
	return r, nil
}

func runReprocess(ctx context.Context, a *app, op operator, o reprocessOptions, opts ops.ReprocessOptions) error {
	if o.replace && !o.dry && !o.yes {
		planned, err := op.Reprocess(ctx, o.target, opts, true)
		if err != nil {
			return err
		}
		if ok, err := confirmActions(a, op, op.command("reprocess --replace"), "Replace the batch's committed file with this one?", []action{planned}, o.json); !ok {
			return err
		}
	}
	act, err := op.Reprocess(ctx, o.target, opts, o.dry)
	if err != nil && act.Target == "" {
		return err
	}
	if o.json {
		if err := printActionsJSON(a.stdout, op, []action{act}, o.dry); err != nil {
			return err
		}
	} else {
		printActions(a.stdout, op, []action{act}, viewOf(o.dry))
	}
	if err != nil {
		return err
	}
	return actionsExit([]action{act})
}
