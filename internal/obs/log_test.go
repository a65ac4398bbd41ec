package obs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/paysettle/settle/internal/obs"
)

func decodeLines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		out = append(out, m)
	}
	return out
}

func TestLoggerAddsInvocationFields(t *testing.T) {
	var buf bytes.Buffer
	l := obs.NewLogger(&buf, slog.LevelInfo).With(obs.KeyExecution, "abc", obs.KeyStep, "validate")
	ctx := lambdacontext.NewContext(t.Context(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
	//lint:ignore SA1029 aws-lambda-go stores the invocation's trace header under this plain string key
	ctx = context.WithValue(ctx, "x-amzn-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
	l.InfoContext(ctx, "validated", "rows", 3)
	l.Info("no context")
	l.Debug("below the level")
	lines := decodeLines(t, &buf)
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2", len(lines))
	}
	first := lines[0]
	for k, want := range map[string]any{"request_id": "req-1", "trace_id": "1-5759e988-bd862e3fe1be46a994272793", "execution": "abc", "step": "validate", "rows": 3.0, "msg": "validated"} {
		if first[k] != want {
			t.Errorf("%s = %v, want %v", k, first[k], want)
		}
	}
	if _, ok := lines[1]["request_id"]; ok {
		t.Error("a line without an invocation context has a request id")
	}
}

func TestLevelFromEnv(t *testing.T) {
	for in, want := range map[string]slog.Level{"": slog.LevelInfo, "DEBUG": slog.LevelDebug, "warn": slog.LevelWarn, "ERROR": slog.LevelError} {
		if got := obs.LevelFromEnv(func(k string) string {
			if k == "AWS_LAMBDA_LOG_LEVEL" {
				return in
			}
			return ""
		}); got != want {
			t.Errorf("LevelFromEnv(%q) = %v, want %v", in, got, want)
		}
	}
}

// aws-lambda-go logs the error payload of a failed invocation with the standard logger; the redirected
// line must keep the error type and drop the message, which can quote a rejected row's cells.
func TestRedirectStdLogDropsErrorMessages(t *testing.T) {
	var buf bytes.Buffer
	prev := log.Writer()
	defer log.SetOutput(prev)
	defer log.SetFlags(log.Flags())
	obs.RedirectStdLog(obs.NewLogger(&buf, slog.LevelInfo))

	secret := `Merchant Reference "Jane Doe order 4711"`
	payload, _ := json.Marshal(messages.InvokeResponse_Error{Message: "s3://raw/x.csv: rejected: 1 of 2 rows rejected, first on line 3: " + secret, Type: "ValidationError"})
	log.Printf("%s", payload) // exactly what aws-lambda-go's reportFailure does
	panicPayload, _ := json.Marshal(messages.InvokeResponse_Error{Message: "runtime error: " + secret, Type: "runtime.Error",
		StackTrace: []*messages.InvokeResponse_Error_StackFrame{{Path: "workflow/steps.go", Line: 42, Label: "(*Steps).Validate"}}})
	log.Printf("%s", panicPayload)

	if strings.Contains(buf.String(), "Jane Doe") {
		t.Fatalf("the error message reached the log: %s", buf.String())
	}
	lines := decodeLines(t, &buf)
	if len(lines) != 2 || lines[0]["error_type"] != "ValidationError" || lines[0]["level"] != "ERROR" {
		t.Fatalf("lines = %v", lines)
	}
	if st, _ := lines[1]["stack"].([]any); len(st) != 1 || !strings.Contains(st[0].(string), "steps.go:42") {
		t.Errorf("panic stack = %v", lines[1]["stack"])
	}
}
