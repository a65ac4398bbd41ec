//go:build !settle_noxray

// Package xraytrace is the AWS X-Ray backend of obs.Tracer (github.com/aws/aws-xray-sdk-go/v2), with the
// instrumentation of the AWS SDK clients. Only the Lambda functions' wiring imports it, so nothing else
// links the X-Ray SDK; built with the tag settle_noxray it records nothing and links none of it.
package xraytrace

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-xray-sdk-go/v2/instrumentation/awsv2"
	"github.com/aws/aws-xray-sdk-go/v2/strategy/ctxmissing"
	"github.com/aws/aws-xray-sdk-go/v2/xray"
	"github.com/aws/aws-xray-sdk-go/v2/xraylog"

	"github.com/paysettle/settle/internal/obs"
)

// New returns a Tracer that is on inside a Lambda function (AWS_LAMBDA_FUNCTION_NAME is set), unless
// AWS_XRAY_SDK_DISABLED=true. Lambda passes each invocation's trace header in its context; the spans
// become X-Ray subsegments of the function's segment, sent to the daemon Lambda runs.
//
// An AWS call or span outside an invocation (at init, or under an emulator that sends no trace header)
// is not traced and not reported: the SDK's context-missing strategy is set to ignore, unless
// AWS_XRAY_CONTEXT_MISSING says otherwise.
func New(getenv func(string) string) obs.Tracer {
	if getenv("AWS_LAMBDA_FUNCTION_NAME") == "" || strings.EqualFold(getenv("AWS_XRAY_SDK_DISABLED"), "true") {
		return obs.Tracer{}
	}
	if getenv("AWS_XRAY_CONTEXT_MISSING") == "" {
		_ = xray.Configure(xray.Config{ContextMissingStrategy: ctxmissing.NewDefaultIgnoreErrorStrategy()})
	}
	return obs.NewTracer(backend{})
}

// InstrumentAWS makes every client built from cfg record each AWS call as a subsegment of the span in
// its context. It does nothing when t is off.
func InstrumentAWS(t obs.Tracer, cfg *aws.Config) {
	if t.Enabled() {
		awsv2.AWSV2Instrumentor(&cfg.APIOptions)
	}
}

// SetLogger sends the X-Ray SDK's own messages (warnings and errors only) to log as JSON. Call it once,
// from main, before any span is started. It does nothing when t is off.
func SetLogger(t obs.Tracer, log *slog.Logger) {
	if t.Enabled() {
		xray.SetLogger(xrayLogger{log})
	}
}

// backend starts X-Ray subsegments.
type backend struct{}

func (backend) Start(ctx context.Context, name string) (context.Context, obs.SpanBackend) {
	if xray.GetSegment(ctx) == nil && obs.TraceRoot(ctx) == "" {
		return ctx, nil
	}
	c, seg := xray.BeginSubsegment(ctx, name)
	if seg == nil {
		return ctx, nil
	}
	return c, span{seg}
}

// span is an X-Ray subsegment.
type span struct{ seg *xray.Segment }

func (s span) Annotate(key string, value any) {
	switch v := value.(type) { // X-Ray takes bool, int, uint, float and string only
	case int64:
		value = int(v)
	case int32:
		value = int(v)
	case uint64:
		value = uint(v)
	}
	_ = s.seg.AddAnnotation(key, value)
}

func (s span) End(err error) { s.seg.Close(err) }

// xrayLogger adapts slog to the X-Ray SDK's logger, keeping warnings and errors.
type xrayLogger struct{ log *slog.Logger }

func (l xrayLogger) Log(level xraylog.LogLevel, msg fmt.Stringer) {
	switch level {
	case xraylog.LogLevelWarn:
		l.log.Warn("xray: " + msg.String())
	case xraylog.LogLevelError:
		l.log.Error("xray: " + msg.String())
	}
}
