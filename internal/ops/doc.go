// Package ops is the operator of the pipeline, for the person on call: where files stand (Status,
// Executions, Show), and the one-command fixes (Redrive, RedriveFailed, Reprocess, the dead-letter
// queues, the batch ledgers, Verify). Every decision is made once, by Operator, against small
// interfaces (Executions, Queues, Files, the processed bucket) with two implementations: a deployed
// stack through the AWS SDK (Connect, which reads the stack's CloudFormation outputs and uses the SDK's
// standard configuration: profile, region, credentials chain), and a data folder through the local
// engine (internal/local's Env.Operator). What only a stack has (an EventBridge Replay) is on Ops.
//
// It reuses the workflow package's contracts: execution names from ETags (workflow.ExecutionName), the
// execution input (workflow.ExecutionInput) and the starter's decision between redriving a failed
// execution and starting a "-rN" successor (workflow.Launch), so an operator's restart is exactly what a
// re-delivery would have done.
//
// Every error a command returns is one sentence for a person: what is wrong and what to do.
package ops
