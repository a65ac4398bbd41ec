package workflow_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/paysettle/settle/internal/obs"
	"github.com/paysettle/settle/internal/states"
	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/testkit/emftest"
	"github.com/paysettle/settle/internal/workflow"
)

// fakeExecutions is Step Functions for the starter: every call advances the clock by cost, Start
// fails with fail[name] when set, and the contexts' deadlines are recorded.
type fakeExecutions struct {
	mu        sync.Mutex
	now       time.Time
	cost      time.Duration
	fail      map[string]error
	started   []string
	deadlines []time.Time
	existing  map[string]workflow.ExecutionInfo
	redriven  []string
	inputs    map[string]string
}

func (f *fakeExecutions) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeExecutions) call(ctx context.Context) {
	f.now = f.now.Add(f.cost)
	d, _ := ctx.Deadline()
	f.deadlines = append(f.deadlines, d)
}

func (f *fakeExecutions) Start(ctx context.Context, name string, input []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call(ctx)
	if err := f.fail[name]; err != nil {
		return err
	}
	if _, ok := f.existing[name]; ok {
		return fmt.Errorf("%w: %s", workflow.ErrExecutionExists, name)
	}
	f.started = append(f.started, name)
	if f.inputs == nil {
		f.inputs = map[string]string{}
	}
	f.inputs[name] = string(input)
	return nil
}

func (f *fakeExecutions) Describe(ctx context.Context, name string) (workflow.ExecutionInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call(ctx)
	if x, ok := f.existing[name]; ok {
		return x, nil
	}
	return workflow.ExecutionInfo{}, errors.New("describe " + name + ": no such execution")
}

func (f *fakeExecutions) Redrive(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.call(ctx)
	f.redriven = append(f.redriven, name)
	return nil
}

// starterFixture is a raw bucket holding n reports, their Object Created messages, and a starter
// whose Step Functions is exec and whose metrics go to the returned buffer.
func starterFixture(t *testing.T, n int, exec *fakeExecutions) (*workflow.Starter, []events.SQSMessage, *bytes.Buffer) {
	t.Helper()
	raw, err := store.NewDir("raw", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var msgs []events.SQSMessage
	for i := range n {
		obj, err := raw.Put(t.Context(), fmt.Sprintf("incoming/report-%02d.csv", i), []byte(fmt.Sprintf("report %d\n", i)))
		if err != nil {
			t.Fatal(err)
		}
		var ev workflow.S3Event
		ev.Source, ev.DetailType = "aws.s3", "Object Created"
		ev.Detail.Bucket.Name = "raw"
		ev.Detail.Object.Key, ev.Detail.Object.Size, ev.Detail.Object.ETag = obj.Key, obj.Size, obj.ETag
		body, _ := json.Marshal(ev)
		msgs = append(msgs, events.SQSMessage{MessageId: fmt.Sprintf("m%02d", i), Body: string(body)})
	}
	var metrics bytes.Buffer
	return &workflow.Starter{Raw: raw, Exec: exec, Now: exec.Now, Log: obs.Discard(), Metrics: obs.NewMetrics(&metrics, "Test")}, msgs, &metrics
}

// metricSums adds up each metric's values in EMF lines.
func metricSums(t *testing.T, b *bytes.Buffer) map[string]float64 {
	t.Helper()
	docs, err := emftest.Collect(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]float64{}
	for _, d := range docs {
		for name, vs := range d.Values {
			for _, v := range vs {
				sums[name] += v
			}
		}
	}
	return sums
}

func failureIDs(resp events.SQSEventResponse) []string {
	var ids []string
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return ids
}

// TestStarterStopsBeforeDeadline: with each message costing 4 s of a 30 s invocation, the starter begins
// messages while at least StartMargin is left and hands the rest back unattempted, and every call it
// makes is cut ResponseReserve before the deadline.
func TestStarterStopsBeforeDeadline(t *testing.T) {
	// The fake clock starts at the real time: the context's own timer must not fire during the test,
	// while the starter measures what is left on the fake clock.
	start := time.Now()
	exec := &fakeExecutions{now: start, cost: 4 * time.Second}
	st, msgs, metrics := starterFixture(t, 10, exec)
	var outcomes []workflow.Outcome
	st.OnResult = func(r workflow.StartResult) { outcomes = append(outcomes, r.Outcome) }
	deadline := start.Add(30 * time.Second)
	ctx, cancel := context.WithDeadline(t.Context(), deadline)
	defer cancel()

	resp, err := st.Handle(ctx, events.SQSEvent{Records: msgs})
	if err != nil {
		t.Fatal(err)
	}
	// Remaining before message k (0-based): 30 − 4k s. k = 6 has 6 s ≥ 5 s; k = 7 has 2 s.
	if len(exec.started) != 7 {
		t.Errorf("started %d executions, want 7", len(exec.started))
	}
	if got, want := failureIDs(resp), []string{"m07", "m08", "m09"}; !slices.Equal(got, want) {
		t.Errorf("batch item failures %v, want %v", got, want)
	}
	want := []workflow.Outcome{workflow.Started, workflow.Started, workflow.Started, workflow.Started, workflow.Started,
		workflow.Started, workflow.Started, workflow.Deferred, workflow.Deferred, workflow.Deferred}
	if !slices.Equal(outcomes, want) {
		t.Errorf("outcomes %v, want %v", outcomes, want)
	}
	for _, d := range exec.deadlines {
		if !d.Equal(deadline.Add(-workflow.ResponseReserve)) {
			t.Errorf("a call ran with deadline %v, want %v", d, deadline.Add(-workflow.ResponseReserve))
		}
	}
	sums := metricSums(t, metrics)
	if sums[obs.FilesStarted] != 7 || sums[obs.DeferredMessages] != 3 {
		t.Errorf("metrics %v, want FilesStarted 7 and DeferredMessages 3", sums)
	}
}

// TestStarterWithoutDeadline: a context without a deadline (the local runner) never defers.
func TestStarterWithoutDeadline(t *testing.T) {
	exec := &fakeExecutions{now: time.Date(2024, 5, 7, 9, 0, 0, 0, time.UTC), cost: time.Hour}
	st, msgs, _ := starterFixture(t, 10, exec)
	resp, err := st.Handle(t.Context(), events.SQSEvent{Records: msgs})
	if err != nil || len(resp.BatchItemFailures) != 0 || len(exec.started) != 10 {
		t.Errorf("Handle = %v, %v; started %d, want all 10", resp, err, len(exec.started))
	}
}

// throttlingError is how a throttled StartExecution reaches the starter through the SDK (an API error
// with code ThrottlingException, wrapped by the adapter).
type throttlingError struct{}

func (throttlingError) Error() string     { return "api error ThrottlingException: Rate exceeded" }
func (throttlingError) ErrorCode() string { return "ThrottlingException" }

// TestStarterThrottledStartIsRetried: a throttled StartExecution sends only its own message back to the
// queue; the batch goes on, and messages that are not raw-bucket events are acknowledged and counted.
func TestStarterThrottledStartIsRetried(t *testing.T) {
	exec := &fakeExecutions{now: time.Date(2024, 5, 7, 9, 0, 0, 0, time.UTC), fail: map[string]error{}}
	st, msgs, metrics := starterFixture(t, 4, exec)
	var in workflow.S3Event
	if err := json.Unmarshal([]byte(msgs[1].Body), &in); err != nil {
		t.Fatal(err)
	}
	exec.fail[workflow.ExecutionName(in.Detail.Object.ETag)] = fmt.Errorf("start execution: %w", throttlingError{})
	msgs = append(msgs, events.SQSMessage{MessageId: "junk", Body: `{"hello":"world"}`})
	resp, err := st.Handle(t.Context(), events.SQSEvent{Records: msgs})
	if err != nil {
		t.Fatal(err)
	}
	if got := failureIDs(resp); !slices.Equal(got, []string{"m01"}) {
		t.Errorf("batch item failures %v, want [m01]", got)
	}
	if len(exec.started) != 3 {
		t.Errorf("started %v, want the 3 other files", exec.started)
	}
	sums := metricSums(t, metrics)
	if sums[obs.FilesStarted] != 3 || sums[obs.RetriedMessages] != 1 || sums[obs.IgnoredMessages] != 1 {
		t.Errorf("metrics %v, want FilesStarted 3, RetriedMessages 1, IgnoredMessages 1", sums)
	}
}

// TestStarterLeavesRejectedContentAlone: a re-delivery (a re-upload, an EventBridge replay) of content
// whose execution failed on a data error starts and redrives nothing: the bytes would be rejected again.
// One that failed on an infrastructure error is redriven, as before.
func TestStarterLeavesRejectedContentAlone(t *testing.T) {
	exec := &fakeExecutions{now: time.Now(), existing: map[string]workflow.ExecutionInfo{}}
	st, msgs, metrics := starterFixture(t, 2, exec)
	names := make([]string, len(msgs))
	for i, m := range msgs {
		var ev workflow.S3Event
		if err := json.Unmarshal([]byte(m.Body), &ev); err != nil {
			t.Fatal(err)
		}
		names[i] = workflow.ExecutionName(ev.Detail.Object.ETag)
	}
	exec.existing[names[0]] = workflow.ExecutionInfo{Name: names[0], Status: states.Failed, Redrivable: true, Error: "ValidationError"}
	exec.existing[names[1]] = workflow.ExecutionInfo{Name: names[1], Status: states.Failed, Redrivable: true, Error: "TransientError"}
	var outcomes []workflow.Outcome
	st.OnResult = func(r workflow.StartResult) { outcomes = append(outcomes, r.Outcome) }
	resp, err := st.Handle(t.Context(), events.SQSEvent{Records: msgs})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle = %+v, %v", resp, err)
	}
	if want := []workflow.Outcome{workflow.Rejected, workflow.Redriven}; !slices.Equal(outcomes, want) {
		t.Errorf("outcomes %v, want %v", outcomes, want)
	}
	if !slices.Equal(exec.redriven, names[1:]) || len(exec.started) != 0 {
		t.Errorf("redriven %v, started %v; want only %s redriven", exec.redriven, exec.started, names[1])
	}
	if sums := metricSums(t, metrics); sums[obs.DuplicateDeliveries] != 1 || sums[obs.FilesStarted] != 1 {
		t.Errorf("metrics %v, want one duplicate delivery (the rejected content) and one file started (redriven)", sums)
	}
}

// TestStarterInputIsTheSameBytes: the starter's execution input for an object is exactly what it was
// before the operator's policy override existed (no "policy" key): Step Functions treats a start with
// the same name and byte-identical input as the same request, across versions of the starter too.
func TestStarterInputIsTheSameBytes(t *testing.T) {
	exec := &fakeExecutions{now: time.Now()}
	st, msgs, _ := starterFixture(t, 1, exec)
	if _, err := st.Handle(t.Context(), events.SQSEvent{Records: msgs}); err != nil {
		t.Fatal(err)
	}
	var ev workflow.S3Event
	if err := json.Unmarshal([]byte(msgs[0].Body), &ev); err != nil {
		t.Fatal(err)
	}
	o := ev.Detail.Object
	want := fmt.Sprintf(`{"file":{"bucket":"raw","key":%q,"etag":%q,"size":%d},"replace":false}`, o.Key, o.ETag, o.Size)
	if got := exec.inputs[workflow.ExecutionName(o.ETag)]; got != want {
		t.Errorf("input %s, want %s", got, want)
	}
}

// TestStarterCountsARepeatStartAsDuplicate: a start of a running execution with its input, which Step
// Functions answers as a success and cloud.Executions reports as ErrExecutionExists, is a duplicate
// delivery: not a file started.
func TestStarterCountsARepeatStartAsDuplicate(t *testing.T) {
	exec := &fakeExecutions{now: time.Now(), existing: map[string]workflow.ExecutionInfo{}}
	st, msgs, metrics := starterFixture(t, 1, exec)
	var ev workflow.S3Event
	if err := json.Unmarshal([]byte(msgs[0].Body), &ev); err != nil {
		t.Fatal(err)
	}
	name := workflow.ExecutionName(ev.Detail.Object.ETag)
	exec.existing[name] = workflow.ExecutionInfo{Name: name, Status: states.Running}
	var outcomes []workflow.Outcome
	st.OnResult = func(r workflow.StartResult) { outcomes = append(outcomes, r.Outcome) }
	if _, err := st.Handle(t.Context(), events.SQSEvent{Records: msgs}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(outcomes, []workflow.Outcome{workflow.Duplicate}) {
		t.Errorf("outcomes %v, want duplicate", outcomes)
	}
	if sums := metricSums(t, metrics); sums[obs.DuplicateDeliveries] != 1 || sums[obs.FilesStarted] != 0 {
		t.Errorf("metrics %v, want one duplicate delivery and no file started", sums)
	}
}
