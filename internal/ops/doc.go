// Package ops operates a deployed settlement stack for the person on call: where files stand (Status,
// Executions, Show), and the one-command fixes (Redrive, RedriveFailed, Replay, the dead-letter queues,
// Reprocess). It reads the stack's CloudFormation outputs, and calls Step Functions, SQS, EventBridge and
// S3 with the AWS SDK's standard configuration (profile, region, credentials chain).
//
// It reuses the workflow package's contracts: execution names from ETags (workflow.ExecutionName), the
// execution input (workflow.ExecutionInput) and the starter's decision between redriving a failed
// execution and starting a "-rN" successor (workflow.Launch), so an operator's restart is exactly what a
// re-delivery would have done.
//
// Every error a command returns is one sentence for a person: what is wrong and what to do.
package ops
