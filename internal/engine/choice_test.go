package engine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/states"
)

func TestChoiceRules(t *testing.T) {
	const input = `{"s":"settlement_2024-05-01.csv","n":10,"f":1.5,"b":true,"z":null,"o":{"k":"v"},"s2":"settlement_2024-05-01.csv","star":"a*b"}`
	tests := []struct {
		rule string
		want bool
	}{
		{`"Variable":"$.s","StringEquals":"settlement_2024-05-01.csv"`, true},
		{`"Variable":"$.s","StringEquals":"other"`, false},
		{`"Variable":"$.n","StringEquals":"10"`, false},
		{`"Variable":"$.s","StringEqualsPath":"$.s2"`, true},
		{`"Variable":"$.s","StringEqualsPath":"$.o.k"`, false},
		{`"Variable":"$.s","StringMatches":"settlement_*.csv"`, true},
		{`"Variable":"$.s","StringMatches":"*.json"`, false},
		{`"Variable":"$.s","StringMatches":"*"`, true},
		{`"Variable":"$.star","StringMatches":"a\\*b"`, true},
		{`"Variable":"$.s","StringMatches":"a\\*b"`, false},
		{`"Variable":"$.n","NumericEquals":10`, true},
		{`"Variable":"$.n","NumericEquals":10.0`, true},
		{`"Variable":"$.f","NumericLessThan":2`, true},
		{`"Variable":"$.f","NumericLessThanEquals":1.5`, true},
		{`"Variable":"$.f","NumericGreaterThan":1.5`, false},
		{`"Variable":"$.n","NumericGreaterThanEquals":10`, true},
		{`"Variable":"$.s","NumericEquals":10`, false},
		{`"Variable":"$.b","BooleanEquals":true`, true},
		{`"Variable":"$.s","BooleanEquals":true`, false},
		{`"Variable":"$.missing","IsPresent":false`, true},
		{`"Variable":"$.z","IsPresent":true`, true},
		{`"Variable":"$.z","IsNull":true`, true},
		{`"Variable":"$.n","IsNull":false`, true},
		{`"Variable":"$.s","IsString":true`, true},
		{`"Variable":"$.n","IsNumeric":true`, true},
		{`"Variable":"$.s","IsNumeric":true`, false},
		{`"Variable":"$.b","IsBoolean":true`, true},
		{`"Variable":"$$.Execution.Name","StringEquals":"x"`, true},
		{`"And":[{"Variable":"$.n","NumericGreaterThan":5},{"Variable":"$.b","BooleanEquals":true}]`, true},
		{`"And":[{"Variable":"$.n","NumericGreaterThan":5},{"Variable":"$.b","BooleanEquals":false}]`, false},
		{`"Or":[{"Variable":"$.n","NumericGreaterThan":50},{"Variable":"$.b","BooleanEquals":true}]`, true},
		{`"Not":{"Variable":"$.s","StringEquals":"other"}`, true},
		{`"Not":{"Variable":"$.missing","IsPresent":true}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			def := fmt.Sprintf(`{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{%s,"Next":"Yes"}],"Default":"No"},
				"Yes":{"Type":"Pass","Result":true,"End":true},"No":{"Type":"Pass","Result":false,"End":true}}}`, tt.rule)
			e, _ := newTestEngine(t, def, nil)
			x, _ := runOnce(t, e, input)
			if x.Status != states.Succeeded || string(x.Output) != fmt.Sprint(tt.want) {
				t.Errorf("rule {%s}: %s %s %s, want %v", tt.rule, x.Status, x.Cause, x.Output, tt.want)
			}
		})
	}
}

func TestChoiceFailures(t *testing.T) {
	tests := []struct{ name, rule, wantError, wantCause string }{
		{"no rule matches and no Default", `"Variable":"$.a","StringEquals":"zzz"`, "States.NoChoiceMatched", "No Choice rule matched"},
		{"a missing Variable is a runtime error", `"Variable":"$.missing","BooleanEquals":true`, "States.Runtime", "invalid path $.missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			def := fmt.Sprintf(`{"StartAt":"Pick","States":{"Pick":{"Type":"Choice","Choices":[{%s,"Next":"Yes"}]},"Yes":{"Type":"Succeed"}}}`, tt.rule)
			e, _ := newTestEngine(t, def, nil)
			x, h := runOnce(t, e, `{"a":"b"}`)
			if x.Status != states.Failed || x.Error != tt.wantError || !strings.Contains(x.Cause, tt.wantCause) || x.FailedState != "Pick" {
				t.Errorf("execution = %s %s %q at %q, want FAILED %s containing %q at Pick", x.Status, x.Error, x.Cause, x.FailedState, tt.wantError, tt.wantCause)
			}
			want := "ExecutionStarted ChoiceStateEntered ExecutionFailed"
			if got := strings.Join(eventTypes(h), " "); got != want {
				t.Errorf("history = %s, want %s", got, want)
			}
		})
	}
}

func TestFailState(t *testing.T) {
	tests := []struct {
		name, fields, input, wantError, wantCause string
	}{
		{"Error and Cause", `"Error":"Rejected","Cause":"bad file"`, `{}`, "Rejected", "bad file"},
		{"ErrorPath and CausePath", `"ErrorPath":"$.error.Error","CausePath":"$.error.Cause"`,
			`{"error":{"Error":"ValidationError","Cause":"{\"errorMessage\":\"3 rows\"}"}}`, "ValidationError", `{"errorMessage":"3 rows"}`},
		{"CausePath with an intrinsic", `"Error":"E","CausePath":"States.Format('file {} failed', $.file)"`, `{"file":"a.csv"}`, "E", "file a.csv failed"},
		{"ErrorPath to a non-string", `"ErrorPath":"$.n"`, `{"n":1}`, "States.Runtime", "not a string"},
		{"ErrorPath missing", `"ErrorPath":"$.nope"`, `{}`, "States.Runtime", "could not be found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			def := fmt.Sprintf(`{"StartAt":"F","States":{"F":{"Type":"Fail",%s}}}`, tt.fields)
			e, _ := newTestEngine(t, def, nil)
			x, h := runOnce(t, e, tt.input)
			if x.Status != states.Failed || x.Error != tt.wantError || !strings.Contains(x.Cause, tt.wantCause) {
				t.Errorf("execution = %s %s %q, want FAILED %s %q", x.Status, x.Error, x.Cause, tt.wantError, tt.wantCause)
			}
			want := "ExecutionStarted FailStateEntered ExecutionFailed"
			if got := strings.Join(eventTypes(h), " "); got != want {
				t.Errorf("history = %s, want %s", got, want)
			}
			if d := h[2].ExecutionFailedEventDetails; d == nil || d.Error != x.Error || d.Cause != x.Cause {
				t.Errorf("ExecutionFailed details = %+v", d)
			}
		})
	}
}
