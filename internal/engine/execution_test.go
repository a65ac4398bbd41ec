package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/states"
)

const oneTaskDef = `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + lambdaArn + `","ResultPath":"$.r","End":true}}}`

func TestExecutionNames(t *testing.T) {
	e, _ := newTestEngine(t, oneTaskDef, map[string]TaskFunc{lambdaArn: fixed(`1`, nil)})
	tests := []struct {
		name string
		ok   bool
	}{
		{"etag-9e107d9d372bb6826bd81d3542a419d6", true},
		{"a_B-9", true},
		{strings.Repeat("a", 80), true},
		{strings.Repeat("a", 81), false},
		{"", false},
		{"has space", false},
		{"colon:x", false},
		{"dot.x", false},
		{"ünicode", false},
		{"../escape", false},
	}
	for _, tt := range tests {
		_, err := e.Start(t.Context(), tt.name, nil)
		var ine *InvalidNameError
		if tt.ok && err != nil {
			t.Errorf("Start(%q) = %v, want success", tt.name, err)
		}
		if !tt.ok && !errors.As(err, &ine) {
			t.Errorf("Start(%q) = %v, want *InvalidNameError", tt.name, err)
		}
	}
	if _, err := e.Start(t.Context(), "bad-input", []byte(`{"a":`)); !errors.As(err, new(*InvalidExecutionInputError)) {
		t.Errorf("Start with invalid JSON = %v, want *InvalidExecutionInputError", err)
	}
}

func TestDescribeListHistory(t *testing.T) {
	e, clock := newTestEngine(t, oneTaskDef, map[string]TaskFunc{lambdaArn: fixed(`{"v":1}`, nil)})
	ctx := t.Context()
	for _, n := range []string{"first", "second", "third"} {
		if _, err := e.Start(ctx, n, []byte(`{"in":"`+n+`"}`)); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)
	}
	list, err := e.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range list {
		names = append(names, x.Name)
	}
	if want := []string{"third", "second", "first"}; !slices.Equal(names, want) {
		t.Errorf("List = %v, want newest first %v", names, want)
	}
	x, err := e.Describe("second")
	if err != nil {
		t.Fatal(err)
	}
	if x.ExecutionARN != "arn:aws:states:local:000000000000:execution:test:second" || x.StateMachineARN != testMachineArn ||
		x.Status != states.Succeeded || string(x.Input) != `{"in":"second"}` || string(x.Output) != `{"in":"second","r":{"v":1}}` ||
		x.RedriveStatus != states.NotRedrivable || x.StopDate.IsZero() {
		t.Errorf("Describe = %+v", x)
	}
	h, _ := e.History("second")
	for i, ev := range h {
		if ev.ID != int64(i+1) || ev.PreviousEventID != int64(i) || ev.Timestamp.IsZero() {
			t.Errorf("event %d: id %d previous %d timestamp %v", i, ev.ID, ev.PreviousEventID, ev.Timestamp)
		}
	}
	if d := h[0].ExecutionStartedEventDetails; d == nil || d.Input != `{"in":"second"}` || d.RoleARN == "" {
		t.Errorf("ExecutionStarted details = %+v", d)
	}
	if d := h[2].LambdaFunctionScheduledEventDetails; d == nil || d.Resource != lambdaArn || d.Input != `{"in":"second"}` {
		t.Errorf("LambdaFunctionScheduled details = %+v", d)
	}
	if d := h[len(h)-1].ExecutionSucceededEventDetails; d == nil || d.Output != string(x.Output) {
		t.Errorf("ExecutionSucceeded details = %+v", d)
	}
	for _, f := range []func(string) error{
		func(n string) error { _, err := e.Describe(n); return err },
		func(n string) error { _, err := e.History(n); return err },
		func(n string) error { _, err := e.Redrive(ctx, n); return err },
	} {
		for _, n := range []string{"unknown", "../x"} {
			if err := f(n); !errors.As(err, new(*ExecutionDoesNotExistError)) {
				t.Errorf("unknown execution %q: %v, want *ExecutionDoesNotExistError", n, err)
			}
		}
	}
}

func TestIdempotentStart(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	var calls sync.Map
	blocking := func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
		n, _ := calls.LoadOrStore("n", new(int))
		*n.(*int)++
		entered <- struct{}{}
		<-release
		return json.RawMessage(`"done"`), nil
	}
	e, _ := newTestEngine(t, oneTaskDef, map[string]TaskFunc{lambdaArn: blocking})
	ctx := t.Context()
	done := make(chan *Execution)
	go func() {
		x, err := e.Start(ctx, "exec", []byte(`{"a": 1}`))
		if err != nil {
			t.Error(err)
		}
		done <- x
	}()
	<-entered // the execution is RUNNING inside its task

	x, err := e.Start(ctx, "exec", []byte(`{"a": 1}`))
	if err != nil || x.Status != states.Running {
		t.Errorf("same name and input while RUNNING = %v, %v; want the running execution", x, err)
	}
	if _, err := e.Start(ctx, "exec", []byte(`{"a":1}`)); !errors.As(err, new(*ExecutionAlreadyExistsError)) {
		t.Errorf("same name, different input bytes while RUNNING = %v, want *ExecutionAlreadyExistsError", err)
	}
	close(release)
	if x := <-done; x.Status != states.Succeeded {
		t.Errorf("first Start = %s, want SUCCEEDED", x.Status)
	}
	_, err = e.Start(ctx, "exec", []byte(`{"a": 1}`))
	var aee *ExecutionAlreadyExistsError
	if !errors.As(err, &aee) || aee.ExecutionARN != e.executionARN("exec") || !strings.Contains(err.Error(), "Execution Already Exists") {
		t.Errorf("same name and input after it closed = %v, want *ExecutionAlreadyExistsError", err)
	}
	if n, _ := calls.Load("n"); *n.(*int) != 1 {
		t.Errorf("the task ran %d times, want 1", *n.(*int))
	}
}

func TestConcurrentStarts(t *testing.T) {
	var mu sync.Mutex
	runs := map[string]int{}
	running := make(chan struct{}, 20)
	release := make(chan struct{})
	task := func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
		var v struct{ Name string }
		json.Unmarshal(in, &v)
		mu.Lock()
		runs[v.Name]++
		mu.Unlock()
		running <- struct{}{}
		<-release
		return json.RawMessage(`{}`), nil
	}
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + lambdaArn + `","Parameters":{"Name.$":"$$.Execution.Name"},"End":true}}}`
	e, _ := newTestEngine(t, def, map[string]TaskFunc{lambdaArn: task})
	names := []string{"n0", "n1", "n2", "n3", "n4"}
	var wg sync.WaitGroup
	results := make(chan error, 20)
	statuses := make(chan states.Status, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x, err := e.Start(t.Context(), names[i%len(names)], []byte(`{}`))
			results <- err
			if err == nil {
				statuses <- x.Status
			}
		}()
	}
	// Five executions reach their task; the 15 other Starts find them RUNNING and return at once.
	for range names {
		<-running
	}
	for range 15 {
		if err := <-results; err != nil {
			t.Errorf("Start of a RUNNING name with the same input = %v", err)
		}
		if s := <-statuses; s != states.Running {
			t.Errorf("duplicate Start returned %s, want RUNNING", s)
		}
	}
	close(release)
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Errorf("Start = %v", err)
		}
	}
	for _, n := range names {
		if runs[n] != 1 {
			t.Errorf("execution %s ran %d times, want 1", n, runs[n])
		}
		if x, _ := e.Describe(n); x.Status != states.Succeeded {
			t.Errorf("%s = %s, want SUCCEEDED", n, x.Status)
		}
	}
}

// TestCrossProcessStarts runs this test binary twice more as helper processes that start the same
// names in one Dir: every name runs exactly once across processes.
func TestCrossProcessStarts(t *testing.T) {
	if dir := os.Getenv("SFN_HELPER_DIR"); dir != "" {
		helperProcess(t, dir)
		return
	}
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	dir := t.TempDir()
	var cmds []*exec.Cmd
	for range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrossProcessStarts$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SFN_HELPER_DIR="+dir)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		t.Cleanup(func() {
			if t.Failed() {
				t.Log(out.String())
			}
		})
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("helper process: %v", err)
		}
	}
	e := helperEngine(t, dir)
	for i := range 10 {
		name := fmt.Sprintf("file-%d", i)
		runs, _ := filepath.Glob(filepath.Join(dir, "runs", name+".*"))
		if len(runs) != 1 {
			t.Errorf("%s ran %d times across processes, want 1", name, len(runs))
		}
		if x, err := e.Describe(name); err != nil || x.Status != states.Succeeded {
			t.Errorf("Describe(%s) = %v, %v; want SUCCEEDED", name, x, err)
		}
	}
}

func helperEngine(t *testing.T, dir string) *Engine {
	runDir := filepath.Join(dir, "runs")
	os.MkdirAll(runDir, 0o755)
	mark := func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
		var v struct{ Name string }
		json.Unmarshal(in, &v)
		f, err := os.CreateTemp(runDir, v.Name+".*")
		if err != nil {
			return nil, err
		}
		f.Close()
		return json.RawMessage(`{}`), nil
	}
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"` + lambdaArn + `","Parameters":{"Name.$":"$$.Execution.Name"},"End":true}}}`
	e, err := New(Config{Definition: []byte(def), StateMachineARN: testMachineArn, Dir: filepath.Join(dir, "executions"),
		Resources: map[string]TaskFunc{lambdaArn: mark}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func helperProcess(t *testing.T, dir string) {
	e := helperEngine(t, dir)
	for i := range 10 {
		name := fmt.Sprintf("file-%d", i)
		_, err := e.Start(t.Context(), name, []byte(`{}`))
		if err != nil && !errors.As(err, new(*ExecutionAlreadyExistsError)) {
			t.Errorf("Start(%s) = %v", name, err)
		}
	}
}

func TestRedriveFromTheFailedTask(t *testing.T) {
	def := `{"StartAt":"Prepare","States":{
		"Prepare":{"Type":"Pass","Result":"prepared","ResultPath":"$.p","Next":"Work"},
		"Work":{"Type":"Task","Resource":"` + lambdaArn + `","Parameters":{"p.$":"$.p","redrives.$":"$$.Execution.RedriveCount"},"ResultPath":"$.w",
			"Retry":[{"ErrorEquals":["Flaky"],"MaxAttempts":2}],"Next":"Done"},
		"Done":{"Type":"Succeed"}}}`
	broken := true
	var inputs []string
	work := func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
		inputs = append(inputs, string(in))
		if broken {
			return nil, &TaskError{Name: "Flaky", Cause: "still broken"}
		}
		return json.RawMessage(`"ok"`), nil
	}
	e, clock := newTestEngine(t, def, map[string]TaskFunc{lambdaArn: work})
	ctx := t.Context()
	x, err := e.Start(ctx, "job", []byte(`{"id":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if x.Status != states.Failed || x.Error != "Flaky" || x.Cause != "still broken" || x.FailedState != "Work" ||
		string(x.FailedStateInput) != `{"id":1,"p":"prepared"}` || x.RedriveStatus != states.Redrivable {
		t.Fatalf("after the first run: %+v", x)
	}
	if len(inputs) != 3 || !slices.Equal(clock.Sleeps(), secs(1, 2)) {
		t.Fatalf("%d calls, sleeps %v; want 3 calls and sleeps [1s 2s]", len(inputs), clock.Sleeps())
	}

	// Still broken: the redrive gets fresh retry counters (3 more calls) and fails again.
	x, err = e.Redrive(ctx, "job")
	if err != nil {
		t.Fatal(err)
	}
	if x.Status != states.Failed || x.RedriveCount != 1 || len(inputs) != 6 || !slices.Equal(clock.Sleeps(), secs(1, 2, 1, 2)) {
		t.Fatalf("first redrive: %s, redrive count %d, %d calls, sleeps %v", x.Status, x.RedriveCount, len(inputs), clock.Sleeps())
	}

	broken = false
	x, err = e.Redrive(ctx, "job")
	if err != nil {
		t.Fatal(err)
	}
	if x.Status != states.Succeeded || x.RedriveCount != 2 || x.RedriveDate.IsZero() || x.Error != "" ||
		string(x.Output) != `{"id":1,"p":"prepared","w":"ok"}` || x.RedriveStatus != states.NotRedrivable {
		t.Fatalf("second redrive: %+v", x)
	}
	if last := inputs[len(inputs)-1]; last != `{"p":"prepared","redrives":2}` {
		t.Errorf("task input on the second redrive = %s", last)
	}
	h, _ := e.History("job")
	types := eventTypes(h)
	if n := strings.Count(strings.Join(types, " "), "PassStateEntered"); n != 1 {
		t.Errorf("Prepare ran %d times, want 1 (a redrive continues from the failed state)", n)
	}
	var redriven []int
	for _, ev := range h {
		if ev.Type == EventExecutionRedriven {
			redriven = append(redriven, ev.ExecutionRedrivenEventDetails.RedriveCount)
		}
	}
	if !slices.Equal(redriven, []int{1, 2}) {
		t.Errorf("ExecutionRedriven counts = %v, want [1 2]", redriven)
	}
	if _, err := e.Redrive(ctx, "job"); !errors.As(err, new(*ExecutionNotRedrivableError)) {
		t.Errorf("redrive of a SUCCEEDED execution = %v, want *ExecutionNotRedrivableError", err)
	}
}

func TestRedriveOfAFailState(t *testing.T) {
	def := `{"StartAt":"Work","States":{
		"Work":{"Type":"Task","Resource":"` + lambdaArn + `","Catch":[{"ErrorEquals":["DataError"],"ResultPath":"$.error","Next":"Rejected"}],"End":true},
		"Rejected":{"Type":"Fail","ErrorPath":"$.error.Error","CausePath":"$.error.Cause"}}}`
	calls := 0
	e, _ := newTestEngine(t, def, map[string]TaskFunc{lambdaArn: failing(&calls, "DataError")})
	ctx := t.Context()
	x, err := e.Start(ctx, "job", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if x.Status != states.Failed || x.FailedState != "Rejected" || x.Error != "DataError" {
		t.Fatalf("first run: %+v", x)
	}
	// The task would succeed now, but the execution failed in the Fail state: a redrive re-enters it.
	x, err = e.Redrive(ctx, "job")
	if err != nil {
		t.Fatal(err)
	}
	if x.Status != states.Failed || x.FailedState != "Rejected" || x.Error != "DataError" || x.Cause != "cause DataError" || x.RedriveCount != 1 || calls != 1 {
		t.Errorf("after redrive: %+v, %d task calls; want FAILED again in Rejected without running the task", x, calls)
	}
	h, _ := e.History("job")
	tail := strings.Join(eventTypes(h)[len(h)-3:], " ")
	if tail != "ExecutionRedriven FailStateEntered ExecutionFailed" {
		t.Errorf("history ends with %s", tail)
	}
}

func TestRedriveRefusals(t *testing.T) {
	calls := 0
	e, clock := newTestEngine(t, oneTaskDef, map[string]TaskFunc{lambdaArn: failing(&calls, "E")})
	ctx := t.Context()
	if _, err := e.Start(ctx, "job", nil); err != nil {
		t.Fatal(err)
	}
	clock.Advance(15 * 24 * time.Hour)
	x, _ := e.Describe("job")
	_, err := e.Redrive(ctx, "job")
	if !errors.As(err, new(*ExecutionNotRedrivableError)) || x.RedriveStatus != states.NotRedrivable || !strings.Contains(x.RedriveStatusReason, "14 days") {
		t.Errorf("redrive after 15 days = %v (status %s %q), want *ExecutionNotRedrivableError", err, x.RedriveStatus, x.RedriveStatusReason)
	}
}

func TestCancelledContextAbortsAndRedrives(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	calls := 0
	task := func(c context.Context, _ json.RawMessage) (json.RawMessage, error) {
		calls++
		if calls == 1 {
			cancel()
			<-c.Done()
			return nil, c.Err()
		}
		return json.RawMessage(`"ok"`), nil
	}
	e, _ := newTestEngine(t, oneTaskDef, map[string]TaskFunc{lambdaArn: task})
	x, err := e.Start(ctx, "job", nil)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := e.History("job")
	if x.Status != states.Aborted || x.FailedState != "T" || h[len(h)-1].Type != EventExecutionAborted || x.RedriveStatus != states.Redrivable {
		t.Fatalf("cancelled execution: %+v, last event %s", x, h[len(h)-1].Type)
	}
	x, err = e.Redrive(t.Context(), "job")
	if err != nil || x.Status != states.Succeeded {
		t.Errorf("redrive after abort = %v, %v; want SUCCEEDED", x, err)
	}
}

// TestPersistedWhileRunning reads the store while a task runs: the record is complete and RUNNING.
func TestPersistedWhileRunning(t *testing.T) {
	var other *Engine
	var seen *Execution
	var seenHistory []Event
	task := func(context.Context, json.RawMessage) (json.RawMessage, error) {
		seen, _ = other.Describe("job")
		seenHistory, _ = other.History("job")
		return json.RawMessage(`{}`), nil
	}
	e, _ := newTestEngine(t, oneTaskDef, map[string]TaskFunc{lambdaArn: task})
	var err error
	other, err = New(Config{Definition: []byte(oneTaskDef), StateMachineARN: testMachineArn, Dir: e.store.dir,
		Resources: map[string]TaskFunc{lambdaArn: task}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Start(t.Context(), "job", nil); err != nil {
		t.Fatal(err)
	}
	want := "ExecutionStarted TaskStateEntered LambdaFunctionScheduled LambdaFunctionStarted"
	if seen == nil || seen.Status != states.Running || strings.Join(eventTypes(seenHistory), " ") != want {
		t.Errorf("mid-run: %+v, history %v", seen, eventTypes(seenHistory))
	}
	entries, _ := os.ReadDir(e.store.dir)
	for _, en := range entries {
		if en.Name() != "job.json" && en.Name() != lockDirName {
			t.Errorf("stray file %s in the store", en.Name())
		}
	}
}

func TestConcurrentRedrivesRunOnce(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	task := func(context.Context, json.RawMessage) (json.RawMessage, error) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			return nil, &TaskError{Name: "Down"}
		}
		entered <- struct{}{}
		<-release
		return json.RawMessage(`{}`), nil
	}
	e, _ := newTestEngine(t, oneTaskDef, map[string]TaskFunc{lambdaArn: task})
	ctx := t.Context()
	if x, err := e.Start(ctx, "job", nil); err != nil || x.Status != states.Failed {
		t.Fatalf("Start = %v, %v; want FAILED", x, err)
	}
	done := make(chan error)
	go func() {
		_, err := e.Redrive(ctx, "job")
		done <- err
	}()
	<-entered
	_, err := e.Redrive(ctx, "job")
	var nre *ExecutionNotRedrivableError
	if !errors.As(err, &nre) || !strings.Contains(nre.Reason, "RUNNING") {
		t.Errorf("second Redrive while the first runs = %v, want *ExecutionNotRedrivableError (RUNNING)", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if x, _ := e.Describe("job"); x.Status != states.Succeeded || x.RedriveCount != 1 || calls != 2 {
		t.Errorf("after redrive: %s, redrive count %d, %d calls; want SUCCEEDED, 1, 2", x.Status, x.RedriveCount, calls)
	}
}

func TestRealClock(t *testing.T) {
	c := RealClock{}
	if err := c.Sleep(t.Context(), 0); err != nil {
		t.Errorf("Sleep(0) = %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep with a cancelled context = %v, want context.Canceled", err)
	}
	if c.Now().IsZero() {
		t.Error("Now is zero")
	}
}
