package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/paysettle/settle/internal/states"
)

// twoTaskDef runs A then B, both on lambdaArn; the tasks tell them apart by their input.
const twoTaskDef = `{"StartAt":"A","States":{
	"A":{"Type":"Task","Resource":"` + lambdaArn + `","Parameters":{"step":"A","in.$":"$"},"ResultPath":"$.a","Next":"B"},
	"B":{"Type":"Task","Resource":"` + lambdaArn + `","Parameters":{"step":"B","in.$":"$"},"ResultPath":"$.b","End":true}}}`

// stepCalls counts the calls of each step and can hold step B until released.
type stepCalls struct {
	mu      sync.Mutex
	calls   map[string]int
	inB     chan struct{}
	release chan struct{}
}

func (s *stepCalls) task(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
	var p struct{ Step string }
	_ = json.Unmarshal(in, &p)
	s.mu.Lock()
	if s.calls == nil {
		s.calls = map[string]int{}
	}
	s.calls[p.Step]++
	hold := p.Step == "B" && s.inB != nil && s.calls["B"] == 1
	s.mu.Unlock()
	if hold {
		s.inB <- struct{}{}
		<-s.release
	}
	return json.RawMessage(`"` + p.Step + ` done"`), nil
}

func (s *stepCalls) count(step string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[step]
}

func newEngineIn(t *testing.T, dir string, res TaskFunc) *Engine {
	t.Helper()
	e, err := New(Config{Definition: []byte(twoTaskDef), StateMachineARN: testMachineArn, Dir: dir,
		Resources: map[string]TaskFunc{lambdaArn: res}, Clock: newFakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// snapshot runs an execution to its end in a new store and returns the store and the record as it was
// read while B ran.
func snapshot(t *testing.T) (dir string, running []byte) {
	t.Helper()
	s := &stepCalls{inB: make(chan struct{}), release: make(chan struct{})}
	dir = t.TempDir()
	e := newEngineIn(t, dir, s.task)
	done := make(chan error)
	go func() {
		_, err := e.Start(t.Context(), "job", []byte(`{"file":"a.csv"}`))
		done <- err
	}()
	<-s.inB
	running, err := os.ReadFile(filepath.Join(dir, "job.json"))
	close(s.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dir, running
}

// orphan leaves in a new store the record of an execution caught while it ran B, as a process that died
// there leaves it: RUNNING, and nobody holding its lease.
func orphan(t *testing.T) string {
	t.Helper()
	_, running := snapshot(t)
	dst := t.TempDir()
	if err := os.WriteFile(filepath.Join(dst, "job.json"), running, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestStaleReadOfAFinishedExecution: a reader that read the record while the execution ran, and judges it
// after the execution finished, finds the lease free but must not end it: it reads the record again.
func TestStaleReadOfAFinishedExecution(t *testing.T) {
	dir, running := snapshot(t)
	e := newEngineIn(t, dir, (&stepCalls{}).task)
	var stale record
	if err := json.Unmarshal(running, &stale); err != nil || stale.Execution.Status != states.Running {
		t.Fatalf("snapshot: %v, %s", err, stale.Execution.Status)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "job.json"))
	rec, err := e.current(&stale)
	if err != nil || rec.Execution.Status != states.Succeeded {
		t.Fatalf("current(stale RUNNING copy) = %v, %v; want the SUCCEEDED record", rec.Execution.Status, err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "job.json")); string(after) != string(before) {
		t.Error("judging a stale copy rewrote the record")
	}
}

func countEvents(h []Event, typ string) int {
	n := 0
	for _, ev := range h {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

// TestOrphanIsAbortedOnce: readers in several engines (as in several processes) that see an orphan at
// the same moment all report it ABORTED at the state it was in, and the history records that once.
func TestOrphanIsAbortedOnce(t *testing.T) {
	dir := orphan(t)
	s := &stepCalls{}
	var wg sync.WaitGroup
	seen := make([]*Execution, 8)
	errs := make([]error, 8)
	for i := range seen {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := newEngineIn(t, dir, s.task)
			if i%2 == 0 {
				seen[i], errs[i] = e.Describe("job")
				return
			}
			list, err := e.List()
			if err == nil && len(list) == 1 {
				seen[i] = list[0]
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, x := range seen {
		if errs[i] != nil || x == nil {
			t.Fatalf("reader %d: %v, %v", i, x, errs[i])
		}
		want := fmt.Sprintf("the %s process running it (pid %d) ended without finishing it", filepath.Base(os.Args[0]), os.Getpid())
		if x.Status != states.Aborted || x.Cause != want || x.FailedState != "B" || x.RedriveStatus != states.Redrivable {
			t.Errorf("reader %d sees %s at %q, cause %q, %s; want ABORTED at B, cause %q, REDRIVABLE", i, x.Status, x.FailedState, x.Cause, x.RedriveStatus, want)
		}
		if !sameJSON(t, string(x.FailedStateInput), `{"file":"a.csv","a":"A done"}`) {
			t.Errorf("reader %d: input of the state it was in = %s", i, x.FailedStateInput)
		}
	}
	h, err := newEngineIn(t, dir, s.task).History("job")
	if err != nil {
		t.Fatal(err)
	}
	if n := countEvents(h, EventExecutionAborted); n != 1 || h[len(h)-1].Type != EventExecutionAborted {
		t.Errorf("history has %d ExecutionAborted events and ends with %s; want exactly one, last", n, h[len(h)-1].Type)
	}
	if s.count("A")+s.count("B") != 0 {
		t.Error("reading an execution ran a task")
	}
}

// TestOrphanRedrivesFromTheStateItWasIn: the next start of the same name meets a closed (ABORTED)
// execution, and its redrive reruns B, not A.
func TestOrphanRedrivesFromTheStateItWasIn(t *testing.T) {
	dir := orphan(t)
	s := &stepCalls{}
	e := newEngineIn(t, dir, s.task)
	ctx := t.Context()
	_, err := e.Start(ctx, "job", []byte(`{"file":"a.csv"}`))
	if !errors.As(err, new(*ExecutionAlreadyExistsError)) {
		t.Fatalf("Start over an orphan = %v, want *ExecutionAlreadyExistsError", err)
	}
	if x, _ := e.Describe("job"); x.Status != states.Aborted {
		t.Fatalf("after Start: %s, want ABORTED", x.Status)
	}
	x, err := e.Redrive(ctx, "job")
	if err != nil || x.Status != states.Succeeded || x.RedriveCount != 1 {
		t.Fatalf("Redrive = %+v, %v; want SUCCEEDED, redrive count 1", x, err)
	}
	if !sameJSON(t, string(x.Output), `{"file":"a.csv","a":"A done","b":"B done"}`) {
		t.Errorf("output %s", x.Output)
	}
	if s.count("A") != 0 || s.count("B") != 1 {
		t.Errorf("redrive ran A %d and B %d times; want 0 and 1", s.count("A"), s.count("B"))
	}
	h, _ := e.History("job")
	types := strings.Join(eventTypes(h), " ")
	if !strings.Contains(types, "LambdaFunctionStarted ExecutionAborted ExecutionRedriven TaskStateEntered") || countEvents(h, EventExecutionAborted) != 1 {
		t.Errorf("history %s", types)
	}
	if last := h[len(h)-1]; last.Type != EventExecutionSucceeded {
		t.Errorf("history ends with %s", last.Type)
	}
}

// TestRedriveOfAnOrphan: a redrive asked for before anyone read the orphan ends it and resumes.
func TestRedriveOfAnOrphan(t *testing.T) {
	dir := orphan(t)
	s := &stepCalls{}
	x, err := newEngineIn(t, dir, s.task).Redrive(t.Context(), "job")
	if err != nil || x.Status != states.Succeeded || s.count("A") != 0 || s.count("B") != 1 {
		t.Fatalf("Redrive = %v, %v, A %d B %d; want SUCCEEDED running B only", x, err, s.count("A"), s.count("B"))
	}
}

// TestLiveExecutionIsNotAnOrphan: while its runner holds the lease, other engines see RUNNING, a start
// with the same input is the running execution, and a redrive is refused.
func TestLiveExecutionIsNotAnOrphan(t *testing.T) {
	dir := t.TempDir()
	s := &stepCalls{inB: make(chan struct{}), release: make(chan struct{})}
	e := newEngineIn(t, dir, s.task)
	done := make(chan error)
	go func() {
		_, err := e.Start(t.Context(), "job", []byte(`{}`))
		done <- err
	}()
	<-s.inB
	other := newEngineIn(t, dir, s.task)
	x, err := other.Describe("job")
	if err != nil || x.Status != states.Running {
		t.Errorf("Describe while running = %v, %v; want RUNNING", x, err)
	}
	if x, err := other.Start(t.Context(), "job", []byte(`{}`)); err != nil || x.Status != states.Running {
		t.Errorf("Start while running = %v, %v; want the running execution", x, err)
	}
	var nre *ExecutionNotRedrivableError
	if _, err := other.Redrive(t.Context(), "job"); !errors.As(err, &nre) || !strings.Contains(nre.Reason, "RUNNING") {
		t.Errorf("Redrive while running = %v, want not redrivable (RUNNING)", err)
	}
	close(s.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if x, _ := other.Describe("job"); x.Status != states.Succeeded || s.count("B") != 1 {
		t.Errorf("after the run: %s, B ran %d times", x.Status, s.count("B"))
	}
}

// childDirEnv names the store a child process (this test binary, run again) starts an execution in.
const childDirEnv = "SFN_TEST_CHILD_DIR"

// TestChildProcess is the child of TestKilledProcess: it starts an execution whose B reports on
// standard output that it runs, then waits for standard input, which never comes.
func TestChildProcess(t *testing.T) {
	dir := os.Getenv(childDirEnv)
	if dir == "" {
		t.Skip("runs only as the child process of TestKilledProcess")
	}
	task := func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
		var p struct{ Step string }
		_ = json.Unmarshal(in, &p)
		if p.Step == "B" {
			fmt.Println("in B")
			io.Copy(io.Discard, os.Stdin)
		}
		return json.RawMessage(`"` + p.Step + ` done"`), nil
	}
	e, err := New(Config{Definition: []byte(twoTaskDef), StateMachineARN: testMachineArn, Dir: dir,
		Resources: map[string]TaskFunc{lambdaArn: task}})
	if err != nil {
		t.Fatal(err)
	}
	e.Start(t.Context(), "job", []byte(`{}`))
}

// TestKilledProcess: a process killed (SIGKILL) while it runs an execution holds its lease no more, so
// the execution, RUNNING while the process lived, is ABORTED once it is gone, naming its pid.
func TestKilledProcess(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildProcess$")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "in B" {
	}
	s := &stepCalls{}
	e := newEngineIn(t, dir, s.task)
	if x, err := e.Describe("job"); err != nil || x.Status != states.Running {
		t.Fatalf("while the child runs it: %v, %v; want RUNNING", x, err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	x, err := e.Describe("job")
	if err != nil || x.Status != states.Aborted || !strings.Contains(x.Cause, fmt.Sprintf("(pid %d) ended without finishing it", cmd.Process.Pid)) || x.FailedState != "B" {
		t.Fatalf("after the kill: %+v, %v; want ABORTED at B naming pid %d", x, err, cmd.Process.Pid)
	}
	if x, err := e.Redrive(t.Context(), "job"); err != nil || x.Status != states.Succeeded || s.count("B") != 1 || s.count("A") != 0 {
		t.Errorf("redrive = %v, %v; want SUCCEEDED running only B", x, err)
	}
}

// TestReaderWithoutLocks: a reader that cannot take the store's locks (no write access to the store)
// still reads executions, as stored.
func TestReaderWithoutLocks(t *testing.T) {
	dir := orphan(t)
	// A folder where the gate file belongs fails to open for writing, whoever the user is.
	if err := os.MkdirAll(filepath.Join(dir, lockDirName, "gate"), 0o755); err != nil {
		t.Fatal(err)
	}
	x, err := newEngineIn(t, dir, (&stepCalls{}).task).Describe("job")
	if err != nil || x.Status != states.Running {
		t.Errorf("Describe without the locks = %v, %v; want the stored RUNNING record", x, err)
	}
}
