// Package engine is a local Amazon States Language engine: it runs the pipeline's own Step Functions
// definition (statemachine/settlement.asl.json) without an AWS account, with the semantics of a
// STANDARD state machine as AWS documents them, and keeps every execution and its history in a
// directory so that executions can be listed, inspected and redriven later.
//
// New substitutes the ${Name} placeholders (as SAM's DefinitionSubstitutions do), parses and validates
// the definition, and refuses anything it does not implement with a *DefinitionError naming the state
// and the feature. Start runs an execution synchronously; Redrive restarts a failed one.
//
// # Supported
//
//   - States: Task, Pass, Choice, Succeed, Fail. Top level: StartAt, States, Comment, Version "1.0",
//     QueryLanguage "JSONPath".
//   - Task resources: Lambda function ARNs (arn:aws:lambda:…; LambdaFunction* history events) and
//     request-response service integrations arn:aws:states:::service:action (Task* events). Each
//     resource is a TaskFunc from Config.Resources; LambdaTask adapts a typed Go handler exactly as the
//     Lambda Go runtime would (error name = Go type name, Cause = the runtime's JSON error payload).
//   - Data flow, in AWS's order. Task: InputPath → Parameters → resource → ResultSelector → ResultPath
//     → OutputPath. Pass: InputPath → Parameters → Result → ResultPath → OutputPath. Choice and
//     Succeed: InputPath, OutputPath. InputPath/OutputPath null give {}; ResultPath null keeps the raw
//     input; ResultPath $.a.b writes into a copy of the raw input, creating objects as needed.
//   - Payload templates (Parameters, ResultSelector): keys ending in ".$" with a path, a context path
//     ($$.Execution.{Id,Name,Input,StartTime,RoleArn,RedriveCount,RedriveTime},
//     $$.State.{Name,EnteredTime,RetryCount}, $$.StateMachine.{Id,Name}) or an intrinsic function.
//   - Paths: $, .field, ['field'], [index] on the data or on $$.
//   - Intrinsic functions: States.Format ({} placeholders; \' \{ \} \\ escapes), States.StringToJson,
//     States.JsonToString, States.Array, nested up to 10 deep.
//   - Choice: Variable with StringEquals, StringEqualsPath, StringMatches (* wildcard, \* and \\
//     escapes), NumericEquals, NumericLessThan, NumericLessThanEquals, NumericGreaterThan,
//     NumericGreaterThanEquals, BooleanEquals, IsPresent, IsNull, IsString, IsNumeric, IsBoolean; And,
//     Or, Not; Default. No match and no Default fails with States.NoChoiceMatched.
//   - Fail: Error/Cause, or ErrorPath/CausePath (a path or an intrinsic function).
//   - Retry: ErrorEquals, IntervalSeconds (default 1), MaxAttempts (default 3; 0 = never),
//     BackoffRate (default 2.0, >= 1), MaxDelaySeconds, JitterStrategy FULL|NONE. The first retrier
//     whose ErrorEquals matches decides; each retrier counts its own attempts; counters reset when the
//     state is entered again. Attempt n waits IntervalSeconds × BackoffRate^(n−1), capped at
//     MaxDelaySeconds; FULL jitter waits uniformly in [0, that delay). All waits go through Clock.
//   - Catch after retries: ErrorEquals, Next, ResultPath (default $) applied to the state's raw input
//     with {"Error", "Cause"}.
//   - Error matching: States.ALL (alone, in the last retrier/catcher) matches everything except
//     States.Runtime and States.DataLimitExceeded; States.TaskFailed everything except States.Timeout
//     too. States.Runtime is never retried or caught.
//   - Task TimeoutSeconds (States.Timeout; LambdaFunctionTimedOut/TaskTimedOut events).
//   - The 256 KiB payload quota (States.DataLimitExceeded).
//   - Executions: names of 1–80 characters of [0-9A-Za-z_-]; STANDARD idempotency (same name and
//     byte-identical input while RUNNING returns the running execution; otherwise
//     *ExecutionAlreadyExistsError); Describe, History (GetExecutionHistory event names and details),
//     List; Redrive of FAILED, TIMED_OUT and ABORTED executions within 14 days, from the state that
//     failed, with the input it received. An execution whose context is cancelled is ABORTED.
//   - Validation at load: StartAt and every Next, Default and Catch Next exist; Task and Pass states
//     have Next or End; every state is reachable; ErrorEquals is not empty; States.ALL is alone and
//     last; IntervalSeconds >= 1, MaxAttempts >= 0, BackoffRate >= 1, MaxDelaySeconds > 0,
//     JitterStrategy FULL or NONE; every path, template and intrinsic call parses; every Task
//     resource has a TaskFunc.
//
// # Refused
//
// Parallel, Map, Wait and any other state type; JSONata (QueryLanguage, Arguments, Output) and
// variables (Assign); Task fields HeartbeatSeconds, HeartbeatSecondsPath, TimeoutSecondsPath,
// Credentials; .sync and .waitForTaskToken integrations and activity resources; a state machine
// TimeoutSeconds; JSONPath wildcards, "..", filters, slices, unions and functions; $$ in InputPath,
// OutputPath and ResultPath; intrinsic functions other than the four above; Choice operators other
// than those above (StringLessThan, TimestampEquals, NumericEqualsPath, …); any field the engine does
// not know.
//
// # Deviations
//
// A data-processing error (a missing path in InputPath, Parameters, ResultSelector, OutputPath or a
// Choice Variable, a bad intrinsic argument, a ResultPath that cannot be applied) fails the execution
// at that state, without Retry or Catch; the name is States.Runtime (States.ResultPathMatchFailure
// for ResultPath). Retry waits and task deadlines use Config.Clock. Executions are not deleted
// after 90 days. Executions run inside the process that started or redrove them, so a process that
// dies mid-execution (SIGKILL, out of memory, a machine that stops) cannot finish it: the next reader
// (Describe, History, List, Start, Redrive, in any process) ends such an execution as ABORTED at the
// state it was in, with the cause "the <command> process running it (pid N) ended without finishing
// it", and a redrive resumes from that state.
//
// # Storage
//
// Dir/<name>.json holds the execution and its history. A name is reserved by creating that file with
// O_CREATE|O_EXCL; every later update (after each history event) is written to a temporary file and
// renamed over it, so any process reading the directory sees a complete record.
//
// Dir/.locks/ holds lock files (flock on Unix, LockFileEx on Windows; a network file system must support
// them). <name>.lease is held by the process running the execution, from before its record says
// RUNNING until after the record says how it ended; the operating system releases it when that process
// dies, however it dies. gate serialises the short transitions (reserving a name, starting a redrive,
// ending an execution whose process is gone), so that testing a lease and acting on the answer is
// atomic across processes: a RUNNING record whose lease is free under the gate has lost its process,
// and exactly one reader records that.
package engine
