package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/workflow"
)

// DefaultData is the data folder when --data is not given.
const DefaultData = "settle-data"

// target is where the operator commands act: the local data folder (settle X) or a deployed stack
// (settle aws X). The commands are built once per target, from the same code.
type target struct {
	aws bool
	// flags adds the target's own flags to a command (--data locally; the stack's flags are on the
	// aws command, for all its commands).
	flags func(cmd *cobra.Command)
	// open connects to the target.
	open func(ctx context.Context) (operator, error)
	// since is the default --since of status and executions: everything locally, a day on a stack
	// (whose history is long). redrive --all-failed looks back a day on both (docs/operations.md).
	since string
}

// localTarget is the data folder named by --data.
func localTarget(a *app) *target {
	var data string
	return &target{
		flags: func(cmd *cobra.Command) {
			cmd.Flags().StringVar(&data, "data", DefaultData, "data folder")
		},
		open: func(ctx context.Context) (operator, error) {
			env, err := openData(a, data, a.stderr, nil, local.OpenExisting)
			if err != nil {
				return operator{}, err
			}
			return localOperator(env, data), nil
		},
	}
}

// openData opens a data folder with the environment's configuration (the variables the Lambda
// functions read), logging to stderr with SETTLE_VERBOSE, and the app's clock; with open =
// local.OpenExisting a folder that a run did not make is an error.
func openData(a *app, dir string, stderr io.Writer, opts *local.Options, open func(string, local.Options) (*local.Env, error)) (*local.Env, error) {
	conf, err := workflow.LoadConfig(a.getenv)
	if err != nil {
		return nil, usageError("%v", err)
	}
	batches, err := ledger.PolicyFromEnv(a.getenv)
	if err != nil {
		return nil, usageError("%v", err)
	}
	var o local.Options
	if opts != nil {
		o = *opts
	}
	o.Config, o.Batches, o.Clock = conf, batches, a.clock
	o.Log, o.Metrics = newLogger(a, stderr), newMetrics(a, stderr)
	return open(dir, o)
}

// awsTarget is the stack named by the aws command's --stack, --profile and --region.
func awsTarget(a *app, stack, profile, region *string) *target {
	return &target{
		aws:   true,
		flags: func(*cobra.Command) {},
		open: func(ctx context.Context) (operator, error) {
			o, err := ops.Connect(ctx, ops.Options{Stack: *stack, Profile: *profile, Region: *region, Now: a.now})
			if err != nil {
				return operator{}, err
			}
			return awsOperator(o), nil
		},
		since: "24h",
	}
}

// operatorCmds are the operator commands for a target.
func operatorCmds(a *app, t *target) []*cobra.Command {
	return []*cobra.Command{
		newStatusCmd(a, t), newExecutionsCmd(a, t), newShowCmd(a, t), newRedriveCmd(a, t), newReprocessCmd(a, t),
		newDLQCmd(a, t), newBatchesCmd(a, t), newLedgerCmd(a, t), newVerifyCmd(a, t), newTableCmd(a, t), newUICmd(a, t),
	}
}

// prefix is the command line of the target's commands: "settle" or "settle aws".
func (t *target) prefix() string {
	if t.aws {
		return "settle aws"
	}
	return "settle"
}

// sinceUsage is the help of a --since flag.
func (t *target) sinceUsage(what string) string {
	u := what + " (a duration ago, like 24h or 7d, or a time)"
	if t.since == "" {
		u += " (default: all)"
	}
	return u
}
