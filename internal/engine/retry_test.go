package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/states"
)

func secs(fs ...float64) []time.Duration {
	var ds []time.Duration
	for _, f := range fs {
		ds = append(ds, time.Duration(f*float64(time.Second)))
	}
	return ds
}

func TestRetryDelays(t *testing.T) {
	tests := []struct {
		name       string
		retry      string
		rand       float64
		errors     int // consecutive failures of error "E"
		wantSleeps []time.Duration
		wantStatus states.Status
		wantCalls  int
	}{
		{name: "defaults: 1s, x2, 3 attempts", retry: `{"ErrorEquals":["E"]}`, errors: 10,
			wantSleeps: secs(1, 2, 4), wantStatus: states.Failed, wantCalls: 4},
		{name: "BackoffRate 1.5 and MaxDelaySeconds cap", retry: `{"ErrorEquals":["E"],"IntervalSeconds":3,"MaxAttempts":4,"BackoffRate":1.5,"MaxDelaySeconds":6}`, errors: 10,
			wantSleeps: secs(3, 4.5, 6, 6), wantStatus: states.Failed, wantCalls: 5},
		{name: "success after two retries", retry: `{"ErrorEquals":["E"],"IntervalSeconds":2}`, errors: 2,
			wantSleeps: secs(2, 4), wantStatus: states.Succeeded, wantCalls: 3},
		{name: "MaxAttempts 0 never retries", retry: `{"ErrorEquals":["E"],"MaxAttempts":0}`, errors: 10,
			wantStatus: states.Failed, wantCalls: 1},
		{name: "BackoffRate 1 is constant", retry: `{"ErrorEquals":["E"],"IntervalSeconds":5,"BackoffRate":1,"MaxAttempts":2}`, errors: 10,
			wantSleeps: secs(5, 5), wantStatus: states.Failed, wantCalls: 3},
		{name: "FULL jitter scales the capped delay by Rand", retry: `{"ErrorEquals":["E"],"IntervalSeconds":2,"MaxAttempts":6,"MaxDelaySeconds":60,"JitterStrategy":"FULL"}`, rand: 0.5, errors: 10,
			wantSleeps: secs(1, 2, 4, 8, 16, 30), wantStatus: states.Failed, wantCalls: 7},
		{name: "FULL jitter lower bound is 0", retry: `{"ErrorEquals":["E"],"IntervalSeconds":2,"MaxAttempts":2,"JitterStrategy":"FULL"}`, rand: 0, errors: 10,
			wantSleeps: secs(0, 0), wantStatus: states.Failed, wantCalls: 3},
		{name: "FULL jitter stays below the delay", retry: `{"ErrorEquals":["E"],"IntervalSeconds":2,"MaxAttempts":2,"JitterStrategy":"FULL"}`, rand: 0.999999, errors: 10,
			wantSleeps: secs(1.999998, 3.999996), wantStatus: states.Failed, wantCalls: 3},
		{name: "JitterStrategy NONE", retry: `{"ErrorEquals":["E"],"IntervalSeconds":2,"MaxAttempts":2,"JitterStrategy":"NONE"}`, rand: 0.5, errors: 10,
			wantSleeps: secs(2, 4), wantStatus: states.Failed, wantCalls: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			names := slices.Repeat([]string{"E"}, tt.errors)
			clock := newFakeClock()
			e, err := New(Config{
				Definition:      []byte(taskDef(`"Retry":[` + tt.retry + `],`)),
				StateMachineARN: testMachineArn,
				Resources:       map[string]TaskFunc{lambdaArn: failing(&calls, names...)},
				Dir:             t.TempDir(),
				Clock:           clock,
				Rand:            func() float64 { return tt.rand },
			})
			if err != nil {
				t.Fatal(err)
			}
			x, _ := runOnce(t, e, `{}`)
			if x.Status != tt.wantStatus || calls != tt.wantCalls {
				t.Errorf("status %s after %d calls, want %s after %d", x.Status, calls, tt.wantStatus, tt.wantCalls)
			}
			if got := clock.Sleeps(); !slices.Equal(got, tt.wantSleeps) {
				t.Errorf("sleeps = %v, want %v", got, tt.wantSleeps)
			}
		})
	}
}

// TestRetryAndCatchMatching covers which retrier and catcher an error meets.
func TestRetryAndCatchMatching(t *testing.T) {
	tests := []struct {
		name       string
		fields     string
		errors     []string
		wantCalls  int
		wantSleeps []time.Duration
		wantStatus states.Status
		wantError  string // execution error (FAILED) or the caught error's state (SUCCEEDED)
	}{
		{name: "only the first matching retrier is used, then Catch",
			fields:    `"Retry":[{"ErrorEquals":["E"],"MaxAttempts":1},{"ErrorEquals":["States.ALL"],"MaxAttempts":5}],"Catch":[{"ErrorEquals":["E"],"Next":"CaughtA"}],`,
			errors:    []string{"E", "E", "E", "E"},
			wantCalls: 2, wantSleeps: secs(1), wantStatus: states.Succeeded, wantError: "CaughtA"},
		{name: "a later retrier is used for an error the first does not match",
			fields: `"Retry":[{"ErrorEquals":["E"],"MaxAttempts":1},{"ErrorEquals":["States.ALL"],"MaxAttempts":5,"IntervalSeconds":3}],`,
			errors: []string{"F", "F"}, wantCalls: 3, wantSleeps: secs(3, 6), wantStatus: states.Succeeded},
		{name: "AWS's complex retry scenario: each retrier counts its own attempts",
			fields: `"Retry":[{"ErrorEquals":["ErrorA","ErrorB"],"IntervalSeconds":1,"BackoffRate":2.0,"MaxAttempts":2},{"ErrorEquals":["ErrorC"],"IntervalSeconds":5}],` +
				`"Catch":[{"ErrorEquals":["States.ALL"],"Next":"CaughtB"}],`,
			errors:    []string{"ErrorA", "ErrorB", "ErrorC", "ErrorB"},
			wantCalls: 4, wantSleeps: secs(1, 2, 5), wantStatus: states.Succeeded, wantError: "CaughtB"},
		{name: "catchers are scanned in order",
			fields: `"Catch":[{"ErrorEquals":["X"],"Next":"CaughtA"},{"ErrorEquals":["Y","E"],"Next":"CaughtB"},{"ErrorEquals":["States.ALL"],"Next":"CaughtC"}],`,
			errors: []string{"E"}, wantCalls: 1, wantStatus: states.Succeeded, wantError: "CaughtB"},
		{name: "States.ALL catches what nothing else names",
			fields: `"Catch":[{"ErrorEquals":["X"],"Next":"CaughtA"},{"ErrorEquals":["States.ALL"],"Next":"CaughtC"}],`,
			errors: []string{"E"}, wantCalls: 1, wantStatus: states.Succeeded, wantError: "CaughtC"},
		{name: "States.TaskFailed matches a task error",
			fields: `"Retry":[{"ErrorEquals":["States.TaskFailed"],"MaxAttempts":1}],`,
			errors: []string{"E"}, wantCalls: 2, wantSleeps: secs(1), wantStatus: states.Succeeded},
		{name: "an uncaught error fails the execution at the task",
			fields: `"Catch":[{"ErrorEquals":["X"],"Next":"CaughtA"}],`,
			errors: []string{"E"}, wantCalls: 1, wantStatus: states.Failed, wantError: "E"},
		{name: "States.ALL neither retries nor catches States.Runtime",
			fields: `"Retry":[{"ErrorEquals":["States.ALL"]}],"Catch":[{"ErrorEquals":["States.ALL"],"Next":"CaughtC"}],`,
			errors: []string{"States.Runtime"}, wantCalls: 1, wantStatus: states.Failed, wantError: "States.Runtime"},
		{name: "naming States.Runtime does not catch it either",
			fields: `"Catch":[{"ErrorEquals":["States.Runtime"],"Next":"CaughtA"}],`,
			errors: []string{"States.Runtime"}, wantCalls: 1, wantStatus: states.Failed, wantError: "States.Runtime"},
		{name: "a data error before the task is States.Runtime and not caught",
			fields:    `"Parameters":{"a.$":"$.missing"},"Catch":[{"ErrorEquals":["States.ALL"],"Next":"CaughtC"}],`,
			wantCalls: 0, wantStatus: states.Failed, wantError: "States.Runtime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Route makes every Caught* state reachable; the input always goes to T.
			def := fmt.Sprintf(`{"StartAt":"Route","States":{
				"Route":{"Type":"Choice","Default":"T","Choices":[
					{"Variable":"$.never","IsPresent":true,"Next":"CaughtA"},
					{"Variable":"$.never","IsPresent":true,"Next":"CaughtB"},
					{"Variable":"$.never","IsPresent":true,"Next":"CaughtC"}]},
				"T":{"Type":"Task","Resource":%q,%s"End":true},
				"CaughtA":{"Type":"Pass","Result":"CaughtA","End":true},
				"CaughtB":{"Type":"Pass","Result":"CaughtB","End":true},
				"CaughtC":{"Type":"Pass","Result":"CaughtC","End":true}}}`, lambdaArn, tt.fields)
			calls := 0
			e, err := New(Config{Definition: []byte(def), StateMachineARN: testMachineArn, Dir: t.TempDir(),
				Resources: map[string]TaskFunc{lambdaArn: failing(&calls, tt.errors...)}, Clock: newFakeClock()})
			if err != nil {
				t.Fatal(err)
			}
			clock := e.clock.(*fakeClock)
			x, _ := runOnce(t, e, `{}`)
			if x.Status != tt.wantStatus || calls != tt.wantCalls {
				t.Fatalf("status %s (%s: %s) after %d calls, want %s after %d", x.Status, x.Error, x.Cause, calls, tt.wantStatus, tt.wantCalls)
			}
			if got := clock.Sleeps(); !slices.Equal(got, tt.wantSleeps) {
				t.Errorf("sleeps = %v, want %v", got, tt.wantSleeps)
			}
			switch {
			case x.Status == states.Failed && x.Error != tt.wantError:
				t.Errorf("error = %s, want %s", x.Error, tt.wantError)
			case x.Status == states.Succeeded && tt.wantError != "" && string(x.Output) != `"`+tt.wantError+`"`:
				t.Errorf("caught by %s, want %s", x.Output, tt.wantError)
			}
		})
	}
}

func TestCatchResultPath(t *testing.T) {
	def := fmt.Sprintf(`{"StartAt":"T","States":{
		"T":{"Type":"Task","Resource":%q,"InputPath":"$.sub","Catch":[{"ErrorEquals":["E"],"ResultPath":"$.error","Next":"P"}],"End":true},
		"P":{"Type":"Pass","End":true}}}`, lambdaArn)
	calls := 0
	e, _ := newTestEngine(t, def, map[string]TaskFunc{lambdaArn: failing(&calls, "E")})
	x, h := runOnce(t, e, `{"a":1,"sub":{"b":2}}`)
	// The error output goes into the state's RAW input, not its effective input.
	want := `{"a":1,"sub":{"b":2},"error":{"Error":"E","Cause":"cause E"}}`
	if x.Status != states.Succeeded || string(x.Output) != want {
		t.Errorf("output = %s %s, want %s", x.Status, x.Output, want)
	}
	wantTypes := "ExecutionStarted TaskStateEntered LambdaFunctionScheduled LambdaFunctionStarted LambdaFunctionFailed TaskStateExited PassStateEntered PassStateExited ExecutionSucceeded"
	if got := strings.Join(eventTypes(h), " "); got != wantTypes {
		t.Errorf("history = %s\nwant %s", got, wantTypes)
	}
	if d := h[4].LambdaFunctionFailedEventDetails; d == nil || d.Error != "E" || d.Cause != "cause E" {
		t.Errorf("LambdaFunctionFailed details = %+v", d)
	}
}

func TestRetryCountersResetWhenTheStateIsLeft(t *testing.T) {
	def := fmt.Sprintf(`{"StartAt":"T","States":{
		"T":{"Type":"Task","Resource":%q,"Parameters":{"retry.$":"$$.State.RetryCount"},"ResultPath":"$.r","Retry":[{"ErrorEquals":["E"],"MaxAttempts":1}],"Next":"Again?"},
		"Again?":{"Type":"Choice","Choices":[{"Variable":"$.r.done","BooleanEquals":true,"Next":"Done"}],"Default":"T"},
		"Done":{"Type":"Succeed"}}}`, lambdaArn)
	results := []string{"E", `{"done":false}`, "E", `{"done":true}`}
	var inputs []string
	task := func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
		inputs = append(inputs, string(in))
		r := results[0]
		results = results[1:]
		if r == "E" {
			return nil, &TaskError{Name: "E"}
		}
		return json.RawMessage(r), nil
	}
	e, clock := newTestEngine(t, def, map[string]TaskFunc{lambdaArn: task})
	x, _ := runOnce(t, e, `{}`)
	if x.Status != states.Succeeded {
		t.Fatalf("status %s (%s %s), want SUCCEEDED: the retrier's counter must restart on re-entry", x.Status, x.Error, x.Cause)
	}
	if want := []string{`{"retry":0}`, `{"retry":1}`, `{"retry":0}`, `{"retry":1}`}; !slices.Equal(inputs, want) {
		t.Errorf("task inputs = %v, want %v", inputs, want)
	}
	if got := clock.Sleeps(); !slices.Equal(got, secs(1, 1)) {
		t.Errorf("sleeps = %v, want [1s 1s]", got)
	}
}

func TestTaskTimeout(t *testing.T) {
	def := fmt.Sprintf(`{"StartAt":"T","States":{
		"T":{"Type":"Task","Resource":%q,"TimeoutSeconds":5,
			"Retry":[{"ErrorEquals":["States.TaskFailed"],"MaxAttempts":3}],
			"Catch":[{"ErrorEquals":["States.Timeout"],"ResultPath":"$.err","Next":"TimedOut"}],"End":true},
		"TimedOut":{"Type":"Pass","End":true}}}`, lambdaArn)
	var clock *fakeClock
	calls := 0
	slow := func(ctx context.Context, _ json.RawMessage) (json.RawMessage, error) {
		calls++
		clock.Advance(6 * time.Second)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	e, clock := newTestEngine(t, def, map[string]TaskFunc{lambdaArn: slow})
	x, h := runOnce(t, e, `{}`)
	if x.Status != states.Succeeded || calls != 1 {
		t.Fatalf("status %s after %d calls, want SUCCEEDED via the States.Timeout catcher after 1 (States.TaskFailed must not match States.Timeout)", x.Status, calls)
	}
	if !strings.Contains(string(x.Output), `"Error":"States.Timeout"`) {
		t.Errorf("output = %s, want the States.Timeout error", x.Output)
	}
	if !slices.Contains(eventTypes(h), EventLambdaFunctionTimedOut) {
		t.Errorf("history %v has no LambdaFunctionTimedOut", eventTypes(h))
	}
}

func TestDataLimitExceeded(t *testing.T) {
	big := `{"s":"` + strings.Repeat("x", 300*1024) + `"}`
	def := fmt.Sprintf(`{"StartAt":"T","States":{
		"T":{"Type":"Task","Resource":%q,"Catch":[{"ErrorEquals":["States.ALL"],"Next":"C"}],"End":true},
		"C":{"Type":"Pass","End":true}}}`, lambdaArn)
	e, _ := newTestEngine(t, def, map[string]TaskFunc{lambdaArn: fixed(big, nil)})
	x, _ := runOnce(t, e, `{}`)
	if x.Status != states.Failed || x.Error != "States.DataLimitExceeded" {
		t.Errorf("execution = %s %s, want FAILED States.DataLimitExceeded (not caught by States.ALL)", x.Status, x.Error)
	}
}

func TestServiceIntegrationEvents(t *testing.T) {
	const res = "arn:aws:states:::sqs:sendMessage"
	def := fmt.Sprintf(`{"StartAt":"T","States":{"T":{"Type":"Task","Resource":%q,"Parameters":{"QueueUrl":"q","MessageBody.$":"$"},"ResultPath":null,"End":true}}}`, res)
	calls := 0
	e, _ := newTestEngine(t, def, map[string]TaskFunc{res: failing(&calls)})
	x, h := runOnce(t, e, `{"m":1}`)
	want := "ExecutionStarted TaskStateEntered TaskScheduled TaskStarted TaskSucceeded TaskStateExited ExecutionSucceeded"
	if got := strings.Join(eventTypes(h), " "); x.Status != states.Succeeded || got != want {
		t.Fatalf("status %s, history %s; want SUCCEEDED, %s", x.Status, got, want)
	}
	d := h[2].TaskScheduledEventDetails
	if d.ResourceType != "sqs" || d.Resource != "sendMessage" || d.Region != "local" || d.Parameters != `{"QueueUrl":"q","MessageBody":{"m":1}}` {
		t.Errorf("TaskScheduled details = %+v", d)
	}
}
