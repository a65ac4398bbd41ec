package engine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/states"
)

// taskDef is a one-Task machine; fields is spliced into the Task state.
func taskDef(fields string) string {
	return fmt.Sprintf(`{"StartAt":"T","States":{"T":{"Type":"Task","Resource":%q,%s"End":true}}}`, lambdaArn, fields)
}

// TestTaskDataFlow pins the order InputPath → Parameters → task → ResultSelector → ResultPath →
// OutputPath, with what the task receives and what the state outputs.
func TestTaskDataFlow(t *testing.T) {
	const input = `{"keep":"me","sub":{"id":7,"name":"n"},"list":["a","b"]}`
	tests := []struct {
		name      string
		fields    string
		result    string // the task's raw result
		wantTask  string // what the task receives
		wantOut   string // the execution output
		wantError string // execution error instead
	}{
		{name: "defaults", result: `{"r":1}`, wantTask: input, wantOut: `{"r":1}`},
		{name: "InputPath", fields: `"InputPath":"$.sub",`, result: `{"r":1}`, wantTask: `{"id":7,"name":"n"}`, wantOut: `{"r":1}`},
		{name: "InputPath then Parameters",
			fields:   `"InputPath":"$.sub","Parameters":{"static":"s","id.$":"$.id","nested":{"n.$":"$.name"},"arr":[{"x.$":"$.id"}]},`,
			result:   `{"r":1}`,
			wantTask: `{"static":"s","id":7,"nested":{"n":"n"},"arr":[{"x":7}]}`, wantOut: `{"r":1}`},
		{name: "ResultSelector then ResultPath into the raw input",
			fields:   `"InputPath":"$.sub","ResultSelector":{"picked.$":"$.big.value","fixed":1},"ResultPath":"$.res",`,
			result:   `{"big":{"value":"v","noise":[1,2,3]}}`,
			wantTask: `{"id":7,"name":"n"}`,
			wantOut:  `{"keep":"me","sub":{"id":7,"name":"n"},"list":["a","b"],"res":{"picked":"v","fixed":1}}`},
		{name: "ResultPath null keeps the raw input", fields: `"InputPath":"$.sub","ResultPath":null,`, result: `{"r":1}`, wantTask: `{"id":7,"name":"n"}`, wantOut: input},
		{name: "ResultPath creates nested objects", fields: `"ResultPath":"$.a.b.c",`, result: `"r"`, wantTask: input,
			wantOut: `{"keep":"me","sub":{"id":7,"name":"n"},"list":["a","b"],"a":{"b":{"c":"r"}}}`},
		{name: "ResultPath replaces an existing field in place", fields: `"ResultPath":"$.sub.name",`, result: `"new"`, wantTask: input,
			wantOut: `{"keep":"me","sub":{"id":7,"name":"new"},"list":["a","b"]}`},
		{name: "OutputPath last", fields: `"ResultPath":"$.res","OutputPath":"$.res.r",`, result: `{"r":[1]}`, wantTask: input, wantOut: `[1]`},
		{name: "OutputPath null", fields: `"OutputPath":null,`, result: `{"r":1}`, wantTask: input, wantOut: `{}`},
		{name: "InputPath null", fields: `"InputPath":null,`, result: `{"r":1}`, wantTask: `{}`, wantOut: `{"r":1}`},
		{name: "Parameters with the context object and intrinsics",
			fields: `"Parameters":{"exec.$":"$$.Execution.Name","id.$":"$$.Execution.Id","input.$":"$$.Execution.Input.keep",` +
				`"state.$":"$$.State.Name","retry.$":"$$.State.RetryCount","machine.$":"$$.StateMachine.Name","start.$":"$$.Execution.StartTime",` +
				`"msg.$":"States.Format('{} of {}', $.sub.name, $$.Execution.Name)","json.$":"States.JsonToString($.sub)","arr.$":"States.Array($.keep, 1)"},`,
			result: `{}`,
			wantTask: `{"exec":"x","id":"arn:aws:states:local:000000000000:execution:test:x","input":"me","state":"T","retry":0,` +
				`"machine":"test","start":"2024-05-01T12:00:00.000Z","msg":"n of x","json":"{\"id\":7,\"name\":\"n\"}","arr":["me",1]}`,
			wantOut: `{}`},
		{name: "missing InputPath is States.Runtime", fields: `"InputPath":"$.nope",`, result: `{}`, wantError: "States.Runtime"},
		{name: "missing Parameters path is States.Runtime", fields: `"Parameters":{"a.$":"$.nope"},`, result: `{}`, wantError: "States.Runtime"},
		{name: "missing ResultSelector path is States.Runtime", fields: `"ResultSelector":{"a.$":"$.nope"},`, result: `{}`, wantTask: input, wantError: "States.Runtime"},
		{name: "missing OutputPath is States.Runtime", fields: `"OutputPath":"$.nope",`, result: `{}`, wantTask: input, wantError: "States.Runtime"},
		{name: "ResultPath through a string", fields: `"ResultPath":"$.keep.x",`, result: `{}`, wantTask: input, wantError: "States.ResultPathMatchFailure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			e, _ := newTestEngine(t, taskDef(tt.fields), map[string]TaskFunc{lambdaArn: fixed(tt.result, &got)})
			x, _ := runOnce(t, e, input)
			if tt.wantTask != "" && (len(got) != 1 || got[0] != tt.wantTask) {
				t.Errorf("task input = %q, want %s", got, tt.wantTask)
			}
			if tt.wantError != "" {
				if x.Status != states.Failed || x.Error != tt.wantError {
					t.Errorf("execution = %s %s (%s), want FAILED %s", x.Status, x.Error, x.Cause, tt.wantError)
				}
				return
			}
			if x.Status != states.Succeeded || string(x.Output) != tt.wantOut {
				t.Errorf("execution = %s %s %s, output %s; want SUCCEEDED with %s", x.Status, x.Error, x.Cause, x.Output, tt.wantOut)
			}
		})
	}
}

func TestPassDataFlow(t *testing.T) {
	const input = `{"a":1,"b":{"c":2}}`
	tests := []struct{ name, fields, want string }{
		{"input passes through", ``, input},
		{"Result replaces", `"Result":{"r":true},`, `{"r":true}`},
		{"Result with ResultPath", `"Result":"Check","ResultPath":"$.failedStep",`, `{"a":1,"b":{"c":2},"failedStep":"Check"}`},
		{"Parameters without Result", `"Parameters":{"x.$":"$.b.c"},"ResultPath":"$.p",`, `{"a":1,"b":{"c":2},"p":{"x":2}}`},
		{"Result wins over Parameters", `"Parameters":{"x.$":"$.b.c"},"Result":"r",`, `"r"`},
		{"InputPath then OutputPath", `"InputPath":"$.b","OutputPath":"$.c",`, `2`},
		{"ResultPath null", `"Result":"r","ResultPath":null,`, input},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			def := fmt.Sprintf(`{"StartAt":"P","States":{"P":{"Type":"Pass",%s"End":true}}}`, tt.fields)
			e, _ := newTestEngine(t, def, nil)
			x, h := runOnce(t, e, input)
			if x.Status != states.Succeeded || string(x.Output) != tt.want {
				t.Errorf("output = %s %s %s, want %s", x.Status, x.Cause, x.Output, tt.want)
			}
			want := "ExecutionStarted PassStateEntered PassStateExited ExecutionSucceeded"
			if got := strings.Join(eventTypes(h), " "); got != want {
				t.Errorf("history = %s, want %s", got, want)
			}
		})
	}
}

func TestChoiceAndSucceedPaths(t *testing.T) {
	def := `{"StartAt":"C","States":{
		"C":{"Type":"Choice","InputPath":"$.in","OutputPath":"$.v","Choices":[{"Variable":"$.v","IsPresent":true,"Next":"S"}]},
		"S":{"Type":"Succeed","InputPath":"$.x","OutputPath":"$.y"}}}`
	e, _ := newTestEngine(t, def, nil)
	x, h := runOnce(t, e, `{"in":{"v":{"x":{"y":"done"}}}}`)
	if x.Status != states.Succeeded || string(x.Output) != `"done"` {
		t.Errorf("execution = %s %s, output %s; want SUCCEEDED \"done\"", x.Status, x.Cause, x.Output)
	}
	want := "ExecutionStarted ChoiceStateEntered ChoiceStateExited SucceedStateEntered SucceedStateExited ExecutionSucceeded"
	if got := strings.Join(eventTypes(h), " "); got != want {
		t.Errorf("history = %s, want %s", got, want)
	}
}

func TestMissingParameterPathCause(t *testing.T) {
	def := `{"StartAt":"Pick","States":{"Pick":{"Type":"Pass","Parameters":{"missing.$":"$.nope.deep"},"End":true}}}`
	e, _ := newTestEngine(t, def, nil)
	x, _ := runOnce(t, e, `{"other":1}`)
	want := `The JSONPath '$.nope.deep' specified for the field 'missing.$' could not be found in the input '{"other":1}'`
	if x.Status != states.Failed || x.Error != "States.Runtime" || !strings.Contains(x.Cause, want) || x.FailedState != "Pick" {
		t.Errorf("execution = %s %s %q at %s; want FAILED States.Runtime containing %q", x.Status, x.Error, x.Cause, x.FailedState, want)
	}
}
