package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/paysettle/settle/internal/states"
)

// The pipeline's real definition, run with fake steps that behave like the deployed Go Lambdas
// (LambdaTask) and fake SQS/SNS integrations.

type InvalidFileError struct{ Reason string }

func (e *InvalidFileError) Error() string { return "invalid file: " + e.Reason }

type ConflictError struct{ Other string }

func (e *ConflictError) Error() string { return "conflicts with " + e.Other }

type TransientError struct{ Op string }

func (e *TransientError) Error() string { return e.Op + ": slow down" }

type fileRef struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	ETag   string `json:"etag"`
}

type stepIn struct {
	Execution string          `json:"execution"`
	File      fileRef         `json:"file"`
	Replace   bool            `json:"replace"`
	Check     json.RawMessage `json:"check,omitempty"`
	Validate  json.RawMessage `json:"validate,omitempty"`
	Transform json.RawMessage `json:"transform,omitempty"`
}

// pipeline holds the fakes' behaviour and what they saw.
type pipeline struct {
	mu        sync.Mutex
	duplicate bool
	fail      map[string][]error // step → errors to return, in turn, before succeeding
	calls     map[string][]stepIn
	sqs       []json.RawMessage
	sns       []json.RawMessage
}

// step fakes a deployed step. A *TaskError in its fail list stands for a failure of the Lambda service
// itself (Lambda.ServiceException, …), reported before the handler runs; any other error is returned
// by the handler.
func (p *pipeline) step(name string, result any) TaskFunc {
	handler := LambdaTask(func(_ context.Context, in stepIn) (any, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.calls[name] = append(p.calls[name], in)
		if errs := p.fail[name]; len(errs) > 0 {
			p.fail[name] = errs[1:]
			return nil, errs[0]
		}
		if name == "check" {
			return map[string]any{"alreadyProcessed": p.duplicate, "format": "csv"}, nil
		}
		return result, nil
	})
	return func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
		p.mu.Lock()
		if errs := p.fail[name]; len(errs) > 0 {
			if te, ok := errs[0].(*TaskError); ok {
				p.fail[name] = errs[1:]
				p.mu.Unlock()
				return nil, te
			}
		}
		p.mu.Unlock()
		return handler(ctx, in)
	}
}

// lambdaCause is the Cause Step Functions reports for an error returned by a Go handler.
func lambdaCause(err error, name string) string {
	return string(mustJSON(struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}{err.Error(), name}))
}

func (p *pipeline) service(dst *[]json.RawMessage) TaskFunc {
	return func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		*dst = append(*dst, in)
		return json.RawMessage(`{"MessageId":"m-1"}`), nil
	}
}

const (
	queueURL = "http://localhost/queue/failed-files"
	topicArn = "arn:aws:sns:local:000000000000:alerts"
)

func stepArn(step string) string { return "arn:aws:lambda:local:000000000000:function:" + step }

func newSettlement(t *testing.T) (*Engine, *pipeline, *fakeClock) {
	t.Helper()
	def, err := os.ReadFile("../../statemachine/settlement.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	p := &pipeline{fail: map[string][]error{}, calls: map[string][]stepIn{}}
	clock := newFakeClock()
	e, err := New(Config{
		Definition: def,
		Substitutions: map[string]string{
			"CheckFunctionArn":     stepArn("check"),
			"ValidateFunctionArn":  stepArn("validate"),
			"TransformFunctionArn": stepArn("transform"),
			"WriteFunctionArn":     stepArn("write"),
			"FailedFilesQueueUrl":  queueURL,
			"AlertTopicArn":        topicArn,
		},
		StateMachineARN: "arn:aws:states:local:000000000000:stateMachine:settlement",
		Resources: map[string]TaskFunc{
			stepArn("check"):                   p.step("check", nil),
			stepArn("validate"):                p.step("validate", map[string]any{"rows": 3, "rejected": 0}),
			stepArn("transform"):               p.step("transform", map[string]any{"staged": "staging/x.arrow"}),
			stepArn("write"):                   p.step("write", map[string]any{"partitions": []string{"date=2024-05-01"}}),
			"arn:aws:states:::sqs:sendMessage": p.service(&p.sqs),
			"arn:aws:states:::sns:publish":     p.service(&p.sns),
		},
		Dir:   t.TempDir(),
		Clock: clock,
		Rand:  func() float64 { return 0.5 },
	})
	if err != nil {
		t.Fatalf("New with the real definition: %v", err)
	}
	return e, p, clock
}

const fileInput = `{"file":{"bucket":"raw","key":"reports/acme 2024-05-01.csv","etag":"9e107d9d372bb6826bd81d3542a419d6"},"replace":false}`

// entered lists the states entered, in order.
func entered(h []Event) []string {
	var names []string
	for _, ev := range h {
		if ev.StateEnteredEventDetails != nil {
			names = append(names, ev.StateEnteredEventDetails.Name)
		}
	}
	return names
}

func TestSettlementHappyPath(t *testing.T) {
	e, p, clock := newSettlement(t)
	x, err := e.Start(t.Context(), "etag-9e107d9d", []byte(fileInput))
	if err != nil {
		t.Fatal(err)
	}
	if x.Status != states.Succeeded {
		t.Fatalf("status %s (%s: %s), want SUCCEEDED", x.Status, x.Error, x.Cause)
	}
	h, _ := e.History(x.Name)
	if got, want := entered(h), []string{"Check", "Already processed?", "Validate", "Transform", "Write", "Done"}; !slices.Equal(got, want) {
		t.Errorf("states = %v, want %v", got, want)
	}
	want := `{"file":{"bucket":"raw","key":"reports/acme 2024-05-01.csv","etag":"9e107d9d372bb6826bd81d3542a419d6"},"replace":false,` +
		`"check":{"alreadyProcessed":false,"format":"csv"},"validate":{"rejected":0,"rows":3},"transform":{"staged":"staging/x.arrow"},` +
		`"write":{"partitions":["date=2024-05-01"]}}`
	if string(x.Output) != want {
		t.Errorf("output = %s\nwant     %s", x.Output, want)
	}
	w := p.calls["write"][0]
	if w.Execution != "etag-9e107d9d" || w.File.Key != "reports/acme 2024-05-01.csv" || !sameJSON(t, string(w.Validate), `{"rejected":0,"rows":3}`) ||
		!sameJSON(t, string(w.Transform), `{"staged":"staging/x.arrow"}`) {
		t.Errorf("Write received %+v", w)
	}
	if len(p.sqs)+len(p.sns) != 0 || len(clock.Sleeps()) != 0 {
		t.Errorf("happy path sent %d DLQ and %d SNS messages and slept %v", len(p.sqs), len(p.sns), clock.Sleeps())
	}
}

func TestSettlementDuplicate(t *testing.T) {
	e, p, _ := newSettlement(t)
	p.duplicate = true
	x, err := e.Start(t.Context(), "dup", []byte(fileInput))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := e.History("dup")
	if got, want := entered(h), []string{"Check", "Already processed?", "Duplicate"}; x.Status != states.Succeeded || !slices.Equal(got, want) {
		t.Errorf("status %s, states %v; want SUCCEEDED via %v", x.Status, got, want)
	}
	if len(p.calls["validate"]) != 0 {
		t.Error("Validate ran for a duplicate")
	}
}

// TestSettlementDataErrors sends each caught data error through the Pass states, the DLQ and SNS
// tasks into the Fail state.
func TestSettlementDataErrors(t *testing.T) {
	tests := []struct {
		step, wantStep string
		err            error
		wantName       string
		wantAdvice     string // first state of the advice
	}{
		{"check", "Check", &InvalidFileError{Reason: "empty"}, "InvalidFileError", "Advise: replace file"},
		{"check", "Check", &ConflictError{Other: "b.csv"}, "ConflictError", "Advise: resolve conflict"},
		{"validate", "Validate", &ValidationError{Rejected: 4}, "ValidationError", "Advise: fix rows"},
		{"validate", "Validate", &InvalidFileError{Reason: "no header"}, "InvalidFileError", "Advise: replace file"},
		{"transform", "Transform", &InvalidFileError{Reason: "bad date"}, "InvalidFileError", "Advise: replace file"},
		{"write", "Write", &ConflictError{Other: "c.csv"}, "ConflictError", "Advise: resolve conflict"},
	}
	for _, tt := range tests {
		t.Run(tt.wantStep+"/"+tt.wantName, func(t *testing.T) {
			e, p, clock := newSettlement(t)
			p.fail[tt.step] = []error{tt.err}
			x, err := e.Start(t.Context(), "rejected", []byte(fileInput))
			if err != nil {
				t.Fatal(err)
			}
			wantCause := lambdaCause(tt.err, tt.wantName)
			if x.Status != states.Failed || x.Error != tt.wantName || x.Cause != wantCause || x.FailedState != "Rejected" {
				t.Fatalf("execution = %s %s %s at %s; want FAILED %s %s at Rejected", x.Status, x.Error, x.Cause, x.FailedState, tt.wantName, wantCause)
			}
			h, _ := e.History("rejected")
			got := entered(h)
			tail := []string{tt.wantStep + " failed", "What to do?", tt.wantAdvice, "Describe failure", "Send to failed-files DLQ", "Notify", "Rejected"}
			if len(got) < len(tail) || !slices.Equal(got[len(got)-len(tail):], tail) {
				t.Errorf("states = %v, want them to end with %v", got, tail)
			}
			types := eventTypes(h)
			if want := "TaskStateEntered TaskScheduled TaskStarted TaskSucceeded TaskStateExited FailStateEntered ExecutionFailed"; !strings.HasSuffix(strings.Join(types, " "), want) {
				t.Errorf("history ends %v, want ... %s", types[len(types)-7:], want)
			}
			if len(clock.Sleeps()) != 0 {
				t.Errorf("a data error was retried: sleeps %v", clock.Sleeps())
			}

			// The DLQ message and the alert carry the same failure description, fields in order.
			if len(p.sqs) != 1 || len(p.sns) != 1 {
				t.Fatalf("%d DLQ and %d SNS messages, want 1 and 1", len(p.sqs), len(p.sns))
			}
			var sqs struct {
				QueueUrl    string
				MessageBody json.RawMessage
			}
			var sns struct{ TopicArn, Subject, Message string }
			json.Unmarshal(p.sqs[0], &sqs)
			json.Unmarshal(p.sns[0], &sns)
			advice := ""
			for _, ev := range h {
				if ev.Type == "PassStateEntered" && ev.StateEnteredEventDetails.Name == "Describe failure" {
					var in struct{ Advice string }
					json.Unmarshal([]byte(ev.StateEnteredEventDetails.Input), &in)
					advice = in.Advice
				}
			}
			wantBody := fmt.Sprintf(`{"execution":"rejected","executionArn":"arn:aws:states:local:000000000000:execution:settlement:rejected",`+
				`"file":{"bucket":"raw","key":"reports/acme 2024-05-01.csv","etag":"9e107d9d372bb6826bd81d3542a419d6"},"step":%q,"error":%q,"cause":%s,"action":%s}`,
				tt.wantStep, tt.wantName, encodeJSON(wantCause), encodeJSON(advice))
			if sqs.QueueUrl != queueURL || string(sqs.MessageBody) != wantBody || advice == "" {
				t.Errorf("DLQ message = %s\nwant body %s", p.sqs[0], wantBody)
			}
			wantSubject := fmt.Sprintf("Settlement file rejected at %s: %s", tt.wantStep, tt.wantName)
			if sns.TopicArn != topicArn || sns.Subject != wantSubject || sns.Message != wantBody {
				t.Errorf("alert = %+v\nwant subject %q and message %s", sns, wantSubject, wantBody)
			}

			// A redrive re-enters the Fail state: nothing is re-run or re-sent, and it fails again.
			calls := len(p.calls[tt.step])
			x, err = e.Redrive(t.Context(), "rejected")
			if err != nil {
				t.Fatal(err)
			}
			if x.Status != states.Failed || x.FailedState != "Rejected" || x.Error != tt.wantName || x.RedriveCount != 1 ||
				len(p.calls[tt.step]) != calls || len(p.sqs) != 1 || len(p.sns) != 1 {
				t.Errorf("after redrive: %s %s at %s, redrives %d, %d calls, %d/%d messages", x.Status, x.Error, x.FailedState, x.RedriveCount, len(p.calls[tt.step]), len(p.sqs), len(p.sns))
			}
		})
	}
}

// TestSettlementInfrastructureError: a TransientError outlasts the retries, the execution fails at
// Transform itself, and a redrive after the fault is gone finishes the file.
func TestSettlementInfrastructureError(t *testing.T) {
	e, p, clock := newSettlement(t)
	for range 7 {
		p.fail["transform"] = append(p.fail["transform"], &TransientError{Op: "s3:PutObject"})
	}
	ctx := t.Context()
	x, err := e.Start(ctx, "infra", []byte(fileInput))
	if err != nil {
		t.Fatal(err)
	}
	wantCause := `{"errorMessage":"s3:PutObject: slow down","errorType":"TransientError"}`
	if x.Status != states.Failed || x.Error != "TransientError" || x.Cause != wantCause || x.FailedState != "Transform" || x.RedriveStatus != states.Redrivable {
		t.Fatalf("execution = %+v, want FAILED TransientError at Transform", x)
	}
	// IntervalSeconds 2, BackoffRate 2, MaxDelaySeconds 60, FULL jitter with Rand 0.5: half of 2,4,8,16,32,60.
	if got := clock.Sleeps(); len(p.calls["transform"]) != 7 || !slices.Equal(got, secs(1, 2, 4, 8, 16, 30)) {
		t.Errorf("%d Transform calls, sleeps %v; want 7 calls and [1s 2s 4s 8s 16s 30s]", len(p.calls["transform"]), got)
	}
	if len(p.sqs)+len(p.sns) != 0 {
		t.Errorf("an infrastructure error went to the DLQ/SNS path")
	}
	h, _ := e.History("infra")
	if last := h[len(h)-1]; last.Type != EventExecutionFailed || last.ExecutionFailedEventDetails.Error != "TransientError" {
		t.Errorf("last event = %+v", last)
	}

	firstInput := p.calls["transform"][0]
	x, err = e.Redrive(ctx, "infra")
	if err != nil {
		t.Fatal(err)
	}
	if x.Status != states.Succeeded || x.RedriveCount != 1 {
		t.Fatalf("after redrive: %s %s %s, redrives %d; want SUCCEEDED after 1", x.Status, x.Error, x.Cause, x.RedriveCount)
	}
	if len(p.calls["check"]) != 1 || len(p.calls["validate"]) != 1 || len(p.calls["transform"]) != 8 || len(p.calls["write"]) != 1 {
		t.Errorf("calls check %d validate %d transform %d write %d; want 1 1 8 1", len(p.calls["check"]), len(p.calls["validate"]), len(p.calls["transform"]), len(p.calls["write"]))
	}
	if a, b := mustJSON(firstInput), mustJSON(p.calls["transform"][7]); !bytes.Equal(a, b) {
		t.Errorf("redriven Transform input %s differs from the original %s", b, a)
	}
	h, _ = e.History("infra")
	types := eventTypes(h)
	i := slices.Index(types, EventExecutionRedriven)
	if i < 0 || h[i].ExecutionRedrivenEventDetails.RedriveCount != 1 || h[i+1].StateEnteredEventDetails.Name != "Transform" {
		t.Errorf("history around the redrive: %v", types)
	}
}

// TestSettlementRetriesLambdaServiceErrors: a Lambda service error uses the transient retrier, and
// throttling its own, longer one, each with its own counter: ten throttles in a row (more than the
// transient retrier's six attempts) still end in success.
func TestSettlementRetriesLambdaServiceErrors(t *testing.T) {
	e, p, clock := newSettlement(t)
	p.fail["write"] = []error{&TaskError{Name: "Lambda.ServiceException"}}
	for range 10 {
		p.fail["write"] = append(p.fail["write"], &TaskError{Name: "Lambda.TooManyRequestsException"})
	}
	x, err := e.Start(t.Context(), "svc", []byte(fileInput))
	if err != nil {
		t.Fatal(err)
	}
	// Rand 0.5: half of IntervalSeconds 2 for the service error; half of 5, 10, 20, … capped at 300 for
	// the throttles.
	want := secs(1, 2.5, 5, 10, 20, 40, 80, 150, 150, 150, 150)
	if x.Status != states.Succeeded || !slices.Equal(clock.Sleeps(), want) {
		t.Errorf("status %s, sleeps %v; want SUCCEEDED after waits %v", x.Status, clock.Sleeps(), want)
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
