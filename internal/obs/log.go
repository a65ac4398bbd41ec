package obs

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Names of the fields that tie a log line to a file and an invocation. Logs Insights queries and the
// dashboard's log widgets use them (docs/operations.md lists them all).
const (
	KeyExecution = "execution"  // the Step Functions execution name
	KeyStep      = "step"       // check, validate, transform, write, starter
	KeyBucket    = "bucket"     // the raw object's bucket
	KeyKey       = "key"        // the raw object's key
	KeyETag      = "etag"       // the raw object's ETag, unquoted
	KeyBatch     = "batch"      // the batch number, once known
	KeyMerchant  = "merchant"   // the merchant account, once known
	KeyRequestID = "request_id" // the Lambda request id
	KeyTraceID   = "trace_id"   // the X-Ray trace id
)

// NewLogger returns a JSON logger writing to w at level. Lines logged with a Lambda invocation's
// context (the ...Context methods) carry its request id and X-Ray trace id.
func NewLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(&contextHandler{Handler: slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})})
}

// Discard is a logger that drops everything.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// LevelFromEnv reads the log level from AWS_LAMBDA_LOG_LEVEL (set by a function's logging
// configuration) or LOG_LEVEL: DEBUG, INFO (default), WARN or ERROR.
func LevelFromEnv(getenv func(string) string) slog.Level {
	v := getenv("AWS_LAMBDA_LOG_LEVEL")
	if v == "" {
		v = getenv("LOG_LEVEL")
	}
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "DEBUG", "TRACE":
		return slog.LevelDebug
	case "WARN":
		return slog.LevelWarn
	case "ERROR", "FATAL":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// contextHandler adds the invocation's request id and trace id from the context of each record.
type contextHandler struct{ slog.Handler }

func (h *contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
			r.AddAttrs(slog.String(KeyRequestID, lc.AwsRequestID))
		}
		if id := TraceRoot(ctx); id != "" {
			r.AddAttrs(slog.String(KeyTraceID, id))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h *contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &contextHandler{h.Handler.WithAttrs(attrs)}
}

func (h *contextHandler) WithGroup(name string) slog.Handler {
	return &contextHandler{h.Handler.WithGroup(name)}
}

// lambdaTraceKey is the context key under which aws-lambda-go stores the invocation's X-Ray trace
// header ("Root=1-…;Parent=…;Sampled=1"). It is a plain string key, as aws-lambda-go sets it.
const lambdaTraceKey = "x-amzn-trace-id"

// TraceRoot returns the Root of the invocation's trace header in ctx (set by aws-lambda-go), or "".
func TraceRoot(ctx context.Context) string {
	h, _ := ctx.Value(lambdaTraceKey).(string)
	for part := range strings.SplitSeq(h, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "Root="); ok {
			return v
		}
	}
	return ""
}
