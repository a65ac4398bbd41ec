package engine

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestDefinitionRefused(t *testing.T) {
	task := func(fields string) string {
		return fmt.Sprintf(`{"StartAt":"My Task","States":{"My Task":{"Type":"Task","Resource":%q,%s"End":true},"Other":{"Type":"Pass","End":true}}}`, lambdaArn, fields)
	}
	// reach makes "Other" reachable from "My Task" so that only the feature under test is at fault.
	reach := `"Catch":[{"ErrorEquals":["X"],"Next":"Other"}],`
	tests := []struct {
		name      string
		def       string
		wantState string
		wantMsg   string
	}{
		{"Parallel", `{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[],"End":true}}}`, "P", "Type \"Parallel\" is not supported"},
		{"Map", `{"StartAt":"M","States":{"M":{"Type":"Map","End":true}}}`, "M", "Type \"Map\" is not supported"},
		{"Wait", `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":1,"End":true}}}`, "W", "Type \"Wait\" is not supported"},
		{"HeartbeatSeconds", task(reach + `"HeartbeatSeconds":10,`), "My Task", `field "HeartbeatSeconds" is not supported`},
		{"Credentials", task(reach + `"Credentials":{},`), "My Task", `field "Credentials" is not supported`},
		{"Arguments (JSONata)", task(reach + `"Arguments":{},`), "My Task", `field "Arguments" is not supported`},
		{"Output (JSONata)", task(reach + `"Output":{},`), "My Task", `field "Output" is not supported`},
		{"Assign (variables)", task(reach + `"Assign":{"a":1},`), "My Task", `field "Assign" is not supported`},
		{"QueryLanguage JSONata", task(reach + `"QueryLanguage":"JSONata",`), "My Task", `QueryLanguage "JSONata" is not supported`},
		{"TimeoutSecondsPath", task(reach + `"TimeoutSecondsPath":"$.t",`), "My Task", `field "TimeoutSecondsPath" is not supported`},
		{"ItemProcessor on a Pass", `{"StartAt":"P","States":{"P":{"Type":"Pass","ItemProcessor":{},"End":true}}}`, "P", `field "ItemProcessor" is not supported`},
		{"wildcard path", task(reach + `"InputPath":"$.a[*]",`), "My Task", "wildcards"},
		{"recursive path", task(reach + `"Parameters":{"a.$":"$..b"},`), "My Task", "recursive descent"},
		{"filter path", task(reach + `"ResultSelector":{"a.$":"$.b[?(@.c)]"},`), "My Task", "filter"},
		{"unsupported intrinsic", task(reach + `"Parameters":{"id.$":"States.UUID()"},`), "My Task", "States.UUID is not supported"},
		{"unsupported Choice operator", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","StringLessThan":"b","Next":"S"}]},"S":{"Type":"Succeed"}}}`, "C", `"StringLessThan" is not supported`},
		{"activity resource", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:local:000000000000:activity:a","End":true}}}`, "T", "not supported"},
		{".sync integration", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::states:startExecution.sync","End":true}}}`, "T", ".sync"},
		{"resource without TaskFunc", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:local:000000000000:function:other","End":true}}}`, "T", "no TaskFunc"},
		{"States.ALL not last in Retry", task(reach + `"Retry":[{"ErrorEquals":["States.ALL"]},{"ErrorEquals":["E"]}],`), "My Task", "States.ALL must be in the last retrier"},
		{"States.ALL not last in Catch", task(`"Catch":[{"ErrorEquals":["States.ALL"],"Next":"Other"},{"ErrorEquals":["E"],"Next":"Other"}],`), "My Task", "States.ALL must be in the last catcher"},
		{"States.ALL not alone", task(reach + `"Retry":[{"ErrorEquals":["E","States.ALL"]}],`), "My Task", "States.ALL must appear alone"},
		{"BackoffRate below 1", task(reach + `"Retry":[{"ErrorEquals":["E"],"BackoffRate":0.5}],`), "My Task", "BackoffRate must be a number >= 1.0"},
		{"bad JitterStrategy", task(reach + `"Retry":[{"ErrorEquals":["E"],"JitterStrategy":"HALF"}],`), "My Task", "JitterStrategy must be FULL or NONE"},
		{"negative MaxAttempts", task(reach + `"Retry":[{"ErrorEquals":["E"],"MaxAttempts":-1}],`), "My Task", "MaxAttempts must be an integer from 0"},
		{"MaxDelaySeconds 0", task(reach + `"Retry":[{"ErrorEquals":["E"],"MaxDelaySeconds":0}],`), "My Task", "MaxDelaySeconds must be an integer from 1"},
		{"IntervalSeconds 0", task(reach + `"Retry":[{"ErrorEquals":["E"],"IntervalSeconds":0}],`), "My Task", "IntervalSeconds must be an integer from 1"},
		{"empty ErrorEquals", task(reach + `"Retry":[{"ErrorEquals":[]}],`), "My Task", "ErrorEquals must be a non-empty array"},
		{"unknown retrier field", task(reach + `"Retry":[{"ErrorEquals":["E"],"Backoff":2}],`), "My Task", `field "Backoff" is not supported`},
		{"Catch Next missing", task(`"Catch":[{"ErrorEquals":["E"],"Next":"Nowhere"}],`), "My Task", `Catch[0].Next "Nowhere" is not a state`},
		{"Next missing", `{"StartAt":"P","States":{"P":{"Type":"Pass","Next":"Nowhere"}}}`, "P", `Next "Nowhere" is not a state`},
		{"Default missing", `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","IsNull":true,"Next":"S"}],"Default":"Nowhere"},"S":{"Type":"Succeed"}}}`, "C", `Default "Nowhere" is not a state`},
		{"neither Next nor End", `{"StartAt":"P","States":{"P":{"Type":"Pass"}}}`, "P", "needs Next or \"End\": true"},
		{"both Next and End", `{"StartAt":"P","States":{"P":{"Type":"Pass","Next":"P","End":true}}}`, "P", "both Next and End"},
		{"Next on a Succeed", `{"StartAt":"S","States":{"S":{"Type":"Succeed","Next":"S"}}}`, "S", `field "Next" is not supported`},
		{"unreachable state", `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true},"Lost":{"Type":"Pass","End":true}}}`, "Lost", "not reachable"},
		{"Error and ErrorPath", `{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"E","ErrorPath":"$.e"}}}`, "F", "mutually exclusive"},
		{"StartAt missing", `{"StartAt":"Nowhere","States":{"P":{"Type":"Pass","End":true}}}`, "", `StartAt "Nowhere" is not a state`},
		{"machine TimeoutSeconds", `{"StartAt":"P","TimeoutSeconds":5,"States":{"P":{"Type":"Pass","End":true}}}`, "", `top-level field "TimeoutSeconds" is not supported`},
		{"duplicate template key", task(reach + `"Parameters":{"a":1,"a.$":"$.b"},`), "My Task", `both produce "a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Config{Definition: []byte(tt.def), StateMachineARN: testMachineArn, Dir: t.TempDir(),
				Resources: map[string]TaskFunc{lambdaArn: fixed(`{}`, nil), "arn:aws:states:::states:startExecution.sync": fixed(`{}`, nil)}})
			var de *DefinitionError
			if !errors.As(err, &de) {
				t.Fatalf("New error = %v, want a *DefinitionError", err)
			}
			if de.State != tt.wantState || !strings.Contains(de.Msg, tt.wantMsg) {
				t.Errorf("error = %v (state %q), want state %q and %q", err, de.State, tt.wantState, tt.wantMsg)
			}
			if tt.wantState != "" && !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.wantState)) {
				t.Errorf("message %q does not name the state", err)
			}
		})
	}
}

func TestSubstitutions(t *testing.T) {
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"${Fn}","Parameters":{"q":"${Queue}"},"End":true}}}`
	res := map[string]TaskFunc{lambdaArn: fixed(`{}`, nil)}
	tests := []struct {
		name string
		subs map[string]string
		want string // error substring; "" = success
	}{
		{"all used", map[string]string{"Fn": lambdaArn, "Queue": `q "quoted"`}, ""},
		{"placeholder without value", map[string]string{"Fn": lambdaArn}, "no substitution for placeholder(s) ${Queue}"},
		{"value without placeholder", map[string]string{"Fn": lambdaArn, "Queue": "q", "Topic": "t"}, "substitution(s) Topic match no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			res[lambdaArn] = fixed(`{}`, &got)
			e, err := New(Config{Definition: []byte(def), Substitutions: tt.subs, StateMachineARN: testMachineArn, Dir: t.TempDir(), Resources: res, Clock: newFakeClock()})
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("New error = %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			runOnce(t, e, `{}`)
			if len(got) != 1 || got[0] != `{"q":"q \"quoted\""}` {
				t.Errorf("task input = %v: the substituted value must be JSON-escaped", got)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	def := []byte(`{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`)
	if _, err := New(Config{Definition: def, StateMachineARN: "settlement", Dir: t.TempDir()}); err == nil {
		t.Error("New accepted a malformed StateMachineArn")
	}
	if _, err := New(Config{Definition: def, StateMachineARN: testMachineArn}); err == nil {
		t.Error("New accepted an empty Dir")
	}
}
