// Package obs is the pipeline's observability, behind one small API so that its backends can change
// without touching the handlers:
//
//   - Logs: JSON lines through log/slog (NewLogger). Every line logged with a Lambda invocation's
//     context carries its request id and trace id; the handlers add the execution, step, bucket, key,
//     etag and batch. Rows, cell values and free-text references are never logged: counts and line
//     numbers are.
//   - Metrics: CloudWatch Embedded Metric Format lines (Metrics): a JSON log line that CloudWatch Logs
//     turns into metrics of one namespace, with low-cardinality dimensions only. No API calls, no
//     buffering, nothing lost when a function times out after a step's work.
//   - Traces: one span per phase of a step (Tracer, Span), recorded by a backend: AWS X-Ray
//     (github.com/aws/aws-xray-sdk-go/v2) in package xraytrace, which also instruments the AWS SDK
//     clients. This package links neither SDK; the X-Ray SDK is in maintenance, and Tracer and Span are
//     the only names the rest of the code uses, so OpenTelemetry can replace xraytrace alone.
//
// Outside Lambda (the CLI, the local runner, tests) tracing is off and free: the X-Ray SDK is never
// called, so it never logs "context missing". A nil *Metrics and a zero Tracer do nothing.
package obs
