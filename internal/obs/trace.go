//go:build !settle_noxray

package obs

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
)

// Tracer starts trace spans. The zero Tracer is off: Start returns a nil *Span, whose methods do
// nothing, and the X-Ray SDK is never called.
type Tracer struct{ on bool }

// NewTracer returns a Tracer that is on inside a Lambda function (AWS_LAMBDA_FUNCTION_NAME is set),
// unless AWS_XRAY_SDK_DISABLED=true. Lambda passes each invocation's trace header in its context; the
// spans become X-Ray subsegments of the function's segment, sent to the daemon Lambda runs.
//
// An AWS call or span outside an invocation (at init, or under an emulator that sends no trace header)
// is not traced and not reported: the SDK's context-missing strategy is set to ignore, unless
// AWS_XRAY_CONTEXT_MISSING says otherwise.
func NewTracer(getenv func(string) string) Tracer {
	t := Tracer{on: getenv("AWS_LAMBDA_FUNCTION_NAME") != "" && !strings.EqualFold(getenv("AWS_XRAY_SDK_DISABLED"), "true")}
	if t.on && getenv("AWS_XRAY_CONTEXT_MISSING") == "" {
		_ = xray.Configure(xray.Config{ContextMissingStrategy: ctxmissing.NewDefaultIgnoreErrorStrategy()})
	}
	return t
}

// Enabled reports whether spans are recorded.
func (t Tracer) Enabled() bool { return t.on }

// InstrumentAWS makes every client built from cfg record each AWS call as a subsegment of the span in
// its context. It does nothing when the Tracer is off.
func (t Tracer) InstrumentAWS(cfg *aws.Config) {
	if t.on {
		awsv2.AWSV2Instrumentor(&cfg.APIOptions)
	}
}

// SetLogger sends the X-Ray SDK's own messages (warnings and errors only) to log as JSON. Call it once,
// from main, before any span is started.
func (t Tracer) SetLogger(log *slog.Logger) {
	if t.on {
		xray.SetLogger(xrayLogger{log})
	}
}

// Span is a traced phase of work. A nil *Span does nothing.
type Span struct{ seg *xray.Segment }

// Start begins a span named name as a child of the span in ctx (in Lambda: of the invocation's
// segment). Pass the returned context to the work it measures, so that AWS calls nest under it.
func (t Tracer) Start(ctx context.Context, name string) (context.Context, *Span) {
	if !t.on || (xray.GetSegment(ctx) == nil && traceRoot(ctx) == "") {
		return ctx, nil
	}
	c, seg := xray.BeginSubsegment(ctx, name)
	if seg == nil {
		return ctx, nil
	}
	return c, &Span{seg: seg}
}

// Annotate adds an indexed, searchable annotation (a string, number or bool): etag, batch, rows.
func (s *Span) Annotate(key string, value any) {
	if s == nil {
		return
	}
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

// End closes the span, recording err when not nil.
func (s *Span) End(err error) {
	if s == nil {
		return
	}
	s.seg.Close(err)
}

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
