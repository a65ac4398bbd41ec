package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/paysettle/settle/internal/states"
)

type ValidationError struct{ Rejected int }

func (e *ValidationError) Error() string { return fmt.Sprintf("%d rows <rejected>", e.Rejected) }

type valueError struct{}

func (valueError) Error() string { return "by value" }

type lambdaIn struct {
	N int `json:"n"`
}

type lambdaOut struct {
	Text string `json:"text"`
}

func TestLambdaTask(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		panicWith any
		input     string
		wantOut   string
		wantName  string
		wantCause string
	}{
		{name: "success", input: `{"n":2}`, wantOut: `{"text":"<2 & more>"}`},
		{name: "typed error", input: `{"n":1}`, err: &ValidationError{Rejected: 3},
			wantName: "ValidationError", wantCause: `{"errorMessage":"3 rows \u003crejected\u003e","errorType":"ValidationError"}`},
		{name: "value error", input: `{}`, err: valueError{}, wantName: "valueError", wantCause: `{"errorMessage":"by value","errorType":"valueError"}`},
		{name: "errors.New", input: `{}`, err: errors.New("boom"), wantName: "errorString", wantCause: `{"errorMessage":"boom","errorType":"errorString"}`},
		{name: "fmt.Errorf without %w", input: `{}`, err: fmt.Errorf("plain %d", 1), wantName: "errorString", wantCause: `{"errorMessage":"plain 1","errorType":"errorString"}`},
		{name: "fmt.Errorf with %w hides the typed error", input: `{}`, err: fmt.Errorf("validate: %w", &ValidationError{Rejected: 1}),
			wantName: "wrapError", wantCause: `{"errorMessage":"validate: 1 rows \u003crejected\u003e","errorType":"wrapError"}`},
		{name: "input that does not decode", input: `{"n":"two"}`, wantName: "UnmarshalTypeError"},
		{name: "input that is not JSON", input: `{"n":x}`, wantName: "SyntaxError"},
		{name: "panic", input: `{}`, panicWith: "kaboom", wantName: "string", wantCause: `{"errorMessage":"kaboom","errorType":"string"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fn := LambdaTask(func(_ context.Context, in lambdaIn) (lambdaOut, error) {
				if tt.panicWith != nil {
					panic(tt.panicWith)
				}
				return lambdaOut{Text: fmt.Sprintf("<%d & more>", in.N)}, tt.err
			})
			out, err := fn(t.Context(), json.RawMessage(tt.input))
			if tt.wantName == "" {
				if err != nil || string(out) != tt.wantOut {
					t.Errorf("= %s, %v; want %s", out, err, tt.wantOut)
				}
				return
			}
			var te *TaskError
			if !errors.As(err, &te) || te.Name != tt.wantName {
				t.Fatalf("error = %#v, want a *TaskError named %s", err, tt.wantName)
			}
			if tt.wantCause != "" && te.Cause != tt.wantCause {
				t.Errorf("cause = %s, want %s", te.Cause, tt.wantCause)
			}
			var payload struct{ ErrorMessage, ErrorType string }
			if err := json.Unmarshal([]byte(te.Cause), &payload); err != nil || payload.ErrorType != tt.wantName || payload.ErrorMessage == "" {
				t.Errorf("cause %q is not the runtime's JSON error payload", te.Cause)
			}
		})
	}
}

// TestTaskErrorNames checks how the engine names errors a raw TaskFunc returns.
func TestTaskErrorNames(t *testing.T) {
	tests := []struct {
		err       error
		wantName  string
		wantCause string
	}{
		{&TaskError{Name: "Lambda.ServiceException", Cause: "c"}, "Lambda.ServiceException", "c"},
		{TaskError{Name: "ByValue", Cause: "c"}, "ByValue", "c"},
		{fmt.Errorf("context: %w", &TaskError{Name: "Wrapped", Cause: "c"}), "Wrapped", "c"},
		{errors.New("boom"), "errorString", "boom"},
		{fmt.Errorf("x: %w", errors.New("y")), "wrapError", "x: y"},
		{&ValidationError{Rejected: 2}, "ValidationError", "2 rows <rejected>"},
	}
	for _, tt := range tests {
		def := fmt.Sprintf(`{"StartAt":"T","States":{"T":{"Type":"Task","Resource":%q,"Catch":[{"ErrorEquals":[%q],"Next":"C"}],"End":true},"C":{"Type":"Pass","End":true}}}`, lambdaArn, tt.wantName)
		e, _ := newTestEngine(t, def, map[string]TaskFunc{lambdaArn: func(context.Context, json.RawMessage) (json.RawMessage, error) { return nil, tt.err }})
		x, _ := runOnce(t, e, `{}`)
		want := encodeJSON(&object{keys: []string{"Error", "Cause"}, vals: map[string]any{"Error": tt.wantName, "Cause": tt.wantCause}})
		if x.Status != states.Succeeded || string(x.Output) != want {
			t.Errorf("%#v: %s %s %s, want caught as %s", tt.err, x.Status, x.Error, x.Output, want)
		}
	}
}
