package ops_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/states"
	"github.com/paysettle/settle/internal/workflow"
)

// memExecutions is a state machine in memory: a started or redriven execution succeeds at once.
type memExecutions struct {
	list     []ops.Execution // newest first
	started  []string
	redriven []string
}

func (m *memExecutions) add(name, status, errName string, start time.Time, redrivable bool) {
	x := ops.Execution{Name: name, Status: status, Error: errName, Start: start}
	x.Input = fmt.Sprintf(`{"file":{"bucket":"raw","key":"incoming/%s.csv","etag":"%s","size":1}}`, workflow.ContentName(name), workflow.ContentName(name))
	if redrivable {
		x.RedriveStatus = states.Redrivable
	}
	m.list = append([]ops.Execution{x}, m.list...)
}

func (m *memExecutions) List(_ context.Context, status string, since time.Time, limit int) ([]ops.Execution, error) {
	var out []ops.Execution
	for _, x := range m.list {
		if (status == "" || x.Status == status) && !x.Start.Before(since) {
			out = append(out, x)
		}
	}
	return out, nil
}

func (m *memExecutions) Describe(_ context.Context, name string) (ops.Execution, error) {
	for _, x := range m.list {
		if x.Name == name {
			return x, nil
		}
	}
	return ops.Execution{}, &ops.NoExecutionError{Name: name, Where: "memory", List: "list"}
}

func (m *memExecutions) History(context.Context, string) ([]ops.Event, error) { return nil, nil }

func (m *memExecutions) Start(_ context.Context, name string, input []byte) error {
	m.started = append(m.started, name)
	m.list = append([]ops.Execution{{Name: name, Status: states.Succeeded, Input: string(input), Start: time.Now()}}, m.list...)
	return nil
}

func (m *memExecutions) Redrive(_ context.Context, name string) error {
	m.redriven = append(m.redriven, name)
	return nil
}

// memQueues is the failed-files DLQ in memory.
type memQueues struct {
	msgs    []ops.Message
	deleted []string
}

func (q *memQueues) Depths(context.Context) ([]ops.QueueDepth, error) { return nil, nil }
func (q *memQueues) DeadLetterQueues() []string                       { return []string{ops.QueueFailed} }
func (q *memQueues) Receive(context.Context, string, int, time.Duration) ([]ops.Message, error) {
	return slices.Clone(q.msgs), nil
}
func (q *memQueues) Release(context.Context, string, []ops.Message) {}
func (q *memQueues) Delete(_ context.Context, _ string, m ops.Message) error {
	q.deleted = append(q.deleted, m.ID)
	return nil
}
func (q *memQueues) Send(context.Context, string, []byte) error { return nil }
func (q *memQueues) MoveAll(context.Context, string, string, bool) (ops.MoveTask, error) {
	return ops.MoveTask{}, nil
}

func outcomes(actions []ops.Action) map[string]string {
	out := map[string]string{}
	for _, a := range actions {
		out[a.Execution] = a.Outcome + " " + a.Target
	}
	return out
}

// TestOperatorDecidesOnAnyBackend: the operator's decisions, made against its interfaces alone (the
// AWS SDK and the local engine implement them; the walkthroughs prove each end to end).
func TestOperatorDecidesOnAnyBackend(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	x := &memExecutions{}
	x.add("aaa", states.Failed, "States.Timeout", t0, true)
	x.add("aaa-r1", states.Succeeded, "", t0.Add(time.Minute), false) // the content was processed since
	x.add("bbb", states.Failed, "States.TaskFailed", t0.Add(2*time.Minute), true)
	x.add("ccc", states.Failed, "ValidationError", t0.Add(3*time.Minute), true)
	q := &memQueues{msgs: []ops.Message{
		{ID: "m-bbb", Body: `{"execution":"bbb","file":{"bucket":"raw","key":"incoming/bbb.csv","etag":"bbb"},"error":"States.TaskFailed"}`, Sent: t0},
		{ID: "m-gone", Body: `{"execution":"gone","file":{"bucket":"raw","key":"incoming/gone.csv","etag":"gone"},"error":"States.TaskFailed"}`, Sent: t0},
		{ID: "m-ccc", Body: `{"execution":"ccc","file":{"bucket":"raw","key":"incoming/ccc.csv","etag":"ccc"},"error":"ValidationError"}`, Sent: t0},
	}}
	o := &ops.Operator{Machine: x, Queues: q, Command: func(v string) string { return "settle " + v }}
	ctx := t.Context()

	t.Run("redrive all failed", func(t *testing.T) {
		actions, err := o.RedriveFailed(ctx, time.Time{}, true)
		if err != nil {
			t.Fatal(err)
		}
		got := outcomes(actions)
		want := map[string]string{"bbb": "redriven bbb", "ccc": "skipped ccc"} // aaa's latest execution succeeded
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("redrive --all-failed --dry-run = %v, want %v", got, want)
		}
		if len(x.redriven)+len(x.started) != 0 {
			t.Errorf("a dry run redrove %v and started %v", x.redriven, x.started)
		}
	})

	t.Run("reprocess names", func(t *testing.T) {
		file := workflow.FileRef{Bucket: "raw", Key: "incoming/aaa.csv", ETag: "aaa"}
		a, err := o.ReprocessFile(ctx, file, ops.ReprocessOptions{}, true)
		if err != nil || a.Target != "aaa-p1" { // the ETag's own name is taken by a closed execution
			t.Errorf("reprocess of a taken name runs as %q (%v), want aaa-p1", a.Target, err)
		}
		file = workflow.FileRef{Bucket: "raw", Key: "incoming/new.csv", ETag: "new"}
		if a, _ := o.ReprocessFile(ctx, file, ops.ReprocessOptions{}, true); a.Target != "new" {
			t.Errorf("reprocess of a new file runs as %q, want its ETag's name", a.Target)
		}
		if a, _ := o.ReprocessFile(ctx, file, ops.ReprocessOptions{Replace: true}, true); a.Target != "new-p1" {
			t.Errorf("a replacing reprocess runs as %q, want new-p1 (the ETag's name is the starter's)", a.Target)
		}
	})

	t.Run("dlq redrive failed", func(t *testing.T) {
		actions, err := o.DLQRedriveFailed(ctx, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		got := outcomes(actions)
		want := map[string]string{"bbb": "redriven bbb", "gone": "skipped ", "ccc": "started ccc-p1"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("dlq redrive failed = %v, want %v", got, want)
		}
		if !slices.Equal(x.redriven, []string{"bbb"}) || !slices.Equal(x.started, []string{"ccc-p1"}) {
			t.Errorf("redriven %v, started %v", x.redriven, x.started)
		}
		// The skipped message stays for a person; the others are done.
		if slices.Sort(q.deleted); !slices.Equal(q.deleted, []string{"m-bbb", "m-ccc"}) {
			t.Errorf("deleted %v, want m-bbb and m-ccc", q.deleted)
		}
	})
}

// TestEventOfReadsBothHistories: one reading of a history event serves Step Functions' and the local
// engine's, whose JSON names the same fields with other capitals.
func TestEventOfReadsBothHistories(t *testing.T) {
	at := time.Date(2024, 5, 7, 9, 0, 0, 0, time.UTC)
	sdk := sfntypes.HistoryEvent{Id: 7, Timestamp: &at, Type: sfntypes.HistoryEventTypeLambdaFunctionFailed,
		LambdaFunctionFailedEventDetails: &sfntypes.LambdaFunctionFailedEventDetails{Error: aws.String("ValidationError"), Cause: aws.String(`{"errorMessage":"13 rows"}`)}}
	local := map[string]any{"id": 7, "timestamp": at, "type": "LambdaFunctionFailed",
		"lambdaFunctionFailedEventDetails": map[string]string{"error": "ValidationError", "cause": `{"errorMessage":"13 rows"}`}}
	for name, h := range map[string]any{"sdk": sdk, "engine": local} {
		ev, err := ops.EventOf(h)
		if err != nil || ev.ID != 7 || !ev.Time.Equal(at) || ev.Type != "LambdaFunctionFailed" || ev.Error != "ValidationError" || ev.Cause != `{"errorMessage":"13 rows"}` {
			t.Errorf("%s: %+v, %v", name, ev, err)
		}
	}
	red := sfntypes.HistoryEvent{Id: 9, Timestamp: &at, Type: sfntypes.HistoryEventTypeExecutionRedriven,
		ExecutionRedrivenEventDetails: &sfntypes.ExecutionRedrivenEventDetails{RedriveCount: aws.Int32(2)}}
	if ev, _ := ops.EventOf(red); ev.Detail != "redrive 2" {
		t.Errorf("redriven: %+v", ev)
	}
	task := sfntypes.HistoryEvent{Id: 3, Timestamp: &at, Type: sfntypes.HistoryEventTypeTaskScheduled,
		TaskScheduledEventDetails: &sfntypes.TaskScheduledEventDetails{ResourceType: aws.String("sqs"), Resource: aws.String("sendMessage")}}
	if ev, _ := ops.EventOf(task); ev.Detail != "sqs:sendMessage" {
		t.Errorf("task scheduled: %+v", ev)
	}
	// A state's input and output, which the console shows per state.
	entered := sfntypes.HistoryEvent{Id: 2, Timestamp: &at, Type: sfntypes.HistoryEventTypeTaskStateEntered,
		StateEnteredEventDetails: &sfntypes.StateEnteredEventDetails{Name: aws.String("Check"), Input: aws.String(`{"file":{}}`)}}
	if ev, _ := ops.EventOf(entered); ev.State != "Check" || ev.Input != `{"file":{}}` || ev.Output != "" {
		t.Errorf("state entered: %+v", ev)
	}
	exited := map[string]any{"id": 6, "timestamp": at, "type": "TaskStateExited",
		"stateExitedEventDetails": map[string]string{"name": "Check", "output": `{"check":{}}`}}
	if ev, _ := ops.EventOf(exited); ev.State != "Check" || ev.Output != `{"check":{}}` || ev.Input != "" {
		t.Errorf("state exited: %+v", ev)
	}
}
