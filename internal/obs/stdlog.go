package obs

import (
	"bytes"
	"encoding/json"
	"log"
	"log/slog"
)

// RedirectStdLog sends the standard library logger's lines through l. aws-lambda-go logs the JSON
// error payload of every failed invocation there, errorMessage included; a ValidationError's message
// quotes a rejected row's reason, which quotes cell values. The redirected line keeps the error type
// and, for a panic, the stack frames, but never the message (the step has already logged the failure
// with counts and line numbers; Step Functions keeps the full cause in the execution history).
func RedirectStdLog(l *slog.Logger) {
	log.SetFlags(0)
	log.SetPrefix("")
	log.SetOutput(stdLogWriter{l})
}

type stdLogWriter struct{ l *slog.Logger }

func (w stdLogWriter) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	var payload struct {
		ErrorType  string `json:"errorType"`
		StackTrace []struct {
			Path  string `json:"path"`
			Line  int    `json:"line"`
			Label string `json:"label"`
		} `json:"stackTrace"`
	}
	if json.Unmarshal(line, &payload) == nil && payload.ErrorType != "" {
		args := []any{"error_type", payload.ErrorType}
		if len(payload.StackTrace) > 0 {
			frames := make([]string, 0, len(payload.StackTrace))
			for _, f := range payload.StackTrace {
				frames = append(frames, f.Label+" "+f.Path+":"+itoa(f.Line))
			}
			args = append(args, "stack", frames)
		}
		w.l.Error("invocation failed", args...)
		return len(p), nil
	}
	w.l.Warn("runtime: " + string(line))
	return len(p), nil
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
