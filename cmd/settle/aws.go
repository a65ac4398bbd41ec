package main

import (
	"github.com/spf13/cobra"

	"github.com/paysettle/settle/internal/ops"
)

const awsLong = `settle aws operates a deployed stack with the operator commands of the local pipeline, with the
same flags and the same output; replay, which only a stack has (its EventBridge archive); and backfill,
which queues report downloads by batch number for the stack's fetch function (locally, settle fetch
--batches downloads and runs them).

The stack is found by its name (--stack, default settle: samconfig.toml's stack_name) with the standard
AWS configuration: --profile and --region, or AWS_PROFILE, AWS_REGION, SSO, ~/.aws. Its outputs name
the buckets, queues and state machine.

Times are RFC 3339 (2024-05-07T09:00:00Z), a date (2024-05-07, UTC) or a duration ago (6h, 7d). The
commands that change many things or replace data (redrive --all-failed, dlq redrive without message
ids, reprocess --replace, replay) print their plan and ask on a terminal; elsewhere they need --yes.`

// newAWSCmd is `settle aws`: the operator commands for a stack.
func newAWSCmd(a *app) *cobra.Command {
	cmd := parent(&cobra.Command{
		Use:   "aws",
		Short: "Operate a deployed stack: the same commands, on AWS",
		Long:  awsLong,
		Example: `  settle aws status
  settle aws executions --status FAILED --since 2h --profile oncall --region eu-west-1
  settle aws show b8df9bee01ed8fd0fe163ff207fab8d6 --stack settle-prod`,
	})
	var stack, profile, region string
	cmd.PersistentFlags().StringVar(&stack, "stack", ops.DefaultStack, "CloudFormation stack name")
	cmd.PersistentFlags().StringVar(&profile, "profile", "", "AWS profile (default: AWS_PROFILE, or the default chain)")
	cmd.PersistentFlags().StringVar(&region, "region", "", "AWS region (default: AWS_REGION, or the profile's)")
	t := awsTarget(a, &stack, &profile, &region)
	cmd.AddCommand(operatorCmds(a, t)...)
	cmd.AddCommand(newReplayCmd(a, t), newBackfillCmd(a, t))
	return cmd
}
