package ops_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/states"
	"github.com/paysettle/settle/internal/testkit/awsfake"
	"github.com/paysettle/settle/internal/workflow"
)

func connect(t *testing.T, w *awsfake.World) *ops.Ops {
	t.Helper()
	o, err := ops.Connect(t.Context(), ops.Options{Now: w.Clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func report(t *testing.T, batch int64, seed uint64) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := gen.Write(&b, gen.Config{Rows: 60, Seed: seed, Batch: batch, SettlementDate: "2024-05-06"}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// calls counts the fake's mutating Step Functions calls.
func mutations(w *awsfake.World) []string {
	var out []string
	for _, c := range w.Fake.Calls() {
		if c == "AWSStepFunctions.StartExecution" || c == "AWSStepFunctions.RedriveExecution" || c == "AmazonSQS.DeleteMessage" ||
			c == "AmazonSQS.StartMessageMoveTask" || c == "AWSEvents.StartReplay" {
			out = append(out, c)
		}
	}
	return out
}

func TestConnectReadsTheStack(t *testing.T) {
	w := awsfake.NewWorld(t, workflow.Config{})
	o := connect(t, w)
	if o.Stack.Region != awsfake.Region || o.Stack.Out(ops.OutStateMachineARN) != local.StateMachineARN || o.Stack.Out(ops.OutMetricsNamespace) != "Settle" {
		t.Errorf("stack = %+v", o.Stack)
	}
}

// An execution that failed for an infrastructure reason more than 14 days ago is no longer redrivable:
// redrive starts <name>-r1 with the original input, as the starter would; the next time, -r2.
func TestRedriveAfterFourteenDaysRestarts(t *testing.T) {
	w := awsfake.NewWorld(t, workflow.Config{})
	w.Faults.Set("_manifests/", -1)
	r := w.Arrive(t, "incoming/b1.csv", report(t, 1, 1))
	if r.Status != local.Failed {
		t.Fatal(r.Status)
	}
	w.Clock.Advance(15 * 24 * time.Hour)
	o := connect(t, w)

	before := len(mutations(w))
	a, err := o.Redrive(t.Context(), r.Execution, true, false)
	if err != nil || a.Outcome != string(workflow.Restarted) || a.Target != r.Execution+"-r1" {
		t.Fatalf("dry run: %+v %v", a, err)
	}
	if got := mutations(w)[before:]; len(got) != 0 {
		t.Fatalf("a dry run called %v", got)
	}
	a, err = o.Redrive(t.Context(), r.Execution, false, false)
	if err != nil || a.Outcome != string(workflow.Restarted) || a.Target != r.Execution+"-r1" {
		t.Fatalf("redrive: %+v %v", a, err)
	}
	x, err := o.Describe(t.Context(), r.Execution+"-r1")
	if err != nil || x.Status != states.Failed || x.File.Key != "incoming/b1.csv" {
		t.Fatalf("-r1: %+v %v", x, err) // the fault is still there: it fails the same way
	}
	orig, _ := o.Describe(t.Context(), r.Execution)
	if x.Input != orig.Input {
		t.Errorf("-r1 input %s, want the original %s", x.Input, orig.Input)
	}
	// -r1 is redrivable (it just failed): redriving the original now redrives -r1, the content's latest.
	w.Faults.Set("_manifests/", 0)
	a, err = o.Redrive(t.Context(), r.Execution, false, false)
	if err != nil || a.Outcome != string(workflow.Redriven) || a.Target != r.Execution+"-r1" {
		t.Fatalf("second redrive: %+v %v", a, err)
	}
	if x, _ := o.Describe(t.Context(), r.Execution+"-r1"); x.Status != states.Succeeded {
		t.Errorf("-r1 after redrive: %s", x.Status)
	}
	// Now the content is processed: one more redrive finds -r1 succeeded and does nothing.
	a, _ = o.Redrive(t.Context(), r.Execution, false, false)
	if a.Outcome != string(workflow.Duplicate) {
		t.Errorf("third redrive: %+v", a)
	}
}

// A rejected file's execution ended in the Fail state: redrive refuses it (it would fail again) unless forced.
func TestRedriveRefusesRejectedFiles(t *testing.T) {
	w := awsfake.NewWorld(t, workflow.Config{})
	r := w.Arrive(t, "incoming/bad.csv", []byte("not,a,report\n1,2,3\n"))
	if r.Status != local.Failed {
		t.Fatal(r.Status)
	}
	o := connect(t, w)
	a, err := o.Redrive(t.Context(), r.Execution, false, false)
	if err != nil || a.Outcome != ops.Skipped || !strings.Contains(a.Note, "InvalidFileError") {
		t.Fatalf("%+v %v", a, err)
	}
	if got := mutations(w); len(got) != 0 {
		t.Errorf("calls %v", got)
	}
	a, err = o.Redrive(t.Context(), r.Execution, false, true)
	if err != nil || a.Outcome != string(workflow.Redriven) {
		t.Fatalf("forced: %+v %v", a, err)
	}
	if x, _ := o.Describe(t.Context(), r.Execution); x.Status != states.Failed || x.RedriveCount != 1 {
		t.Errorf("after a forced redrive: %s, %d redrives", x.Status, x.RedriveCount)
	}
	// A succeeded execution is not redriven.
	ok := w.Arrive(t, "incoming/b2.csv", report(t, 2, 2))
	if _, err := o.Redrive(t.Context(), ok.Execution, false, false); err == nil || !strings.Contains(err.Error(), "is SUCCEEDED") {
		t.Errorf("redrive of a succeeded execution: %v", err)
	}
}

func TestRedriveAllFailed(t *testing.T) {
	w := awsfake.NewWorld(t, workflow.Config{})
	w.Faults.Set("settlement_lines/", -1)
	a1 := w.Arrive(t, "incoming/b1.csv", report(t, 1, 1))
	a2 := w.Arrive(t, "incoming/b2.csv", report(t, 2, 2))
	w.Faults.Set("settlement_lines/", 0)
	rej := w.Arrive(t, "incoming/bad.csv", []byte("x\n"))
	w.Clock.Advance(3 * 24 * time.Hour)
	old := w.Arrive(t, "incoming/b3.csv", report(t, 3, 3)) // succeeds
	_ = old
	o := connect(t, w)

	// The window: only failures of the last day: none.
	acts, err := o.RedriveFailed(t.Context(), w.Clock.Now().Add(-24*time.Hour), false)
	if err != nil || len(acts) != 0 {
		t.Fatalf("last day: %+v %v", acts, err)
	}
	acts, err = o.RedriveFailed(t.Context(), w.Clock.Now().Add(-7*24*time.Hour), false)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range acts {
		got[a.Execution] = a.Outcome
	}
	if got[a1.Execution] != "redriven" || got[a2.Execution] != "redriven" || got[rej.Execution] != ops.Skipped || len(got) != 3 {
		t.Errorf("actions = %v", got)
	}
	for _, n := range []string{a1.Execution, a2.Execution} {
		if x, _ := o.Describe(t.Context(), n); x.Status != states.Succeeded {
			t.Errorf("%s: %s", n, x.Status)
		}
	}
}

func TestReprocessNames(t *testing.T) {
	w := awsfake.NewWorld(t, workflow.Config{})
	o := connect(t, w)
	// A file whose event was lost: reprocess runs it under its ETag name, as the starter would have.
	obj := w.Upload(t, "incoming/lost.csv", report(t, 4, 4))
	name := workflow.ExecutionName(obj.ETag)
	a, err := o.Reprocess(t.Context(), "s3://raw/incoming/lost.csv", ops.ReprocessOptions{}, false)
	if err != nil || a.Target != name || a.Outcome != "started" {
		t.Fatalf("%+v %v", a, err)
	}
	// Again: the ETag name is taken by a closed execution, so -p1 (the check step finds it committed).
	a, err = o.Reprocess(t.Context(), "s3://raw/incoming/lost.csv", ops.ReprocessOptions{}, false)
	if err != nil || a.Target != name+"-p1" {
		t.Fatalf("%+v %v", a, err)
	}
	// A regenerated batch: its own execution conflicts; --replace runs -p1 with replace, then -p2.
	regen := w.Arrive(t, "incoming/lost-v2.csv", report(t, 4, 5))
	if regen.Status != local.Failed || !strings.HasPrefix(regen.Error, "ConflictError") {
		t.Fatalf("regenerated: %s %s", regen.Status, regen.Error)
	}
	for _, want := range []string{"-p1", "-p2"} {
		a, err = o.Reprocess(t.Context(), "s3://raw/incoming/lost-v2.csv", ops.ReprocessOptions{Replace: true}, false)
		if err != nil || a.Target != regen.Execution+want {
			t.Fatalf("replace: %+v %v", a, err)
		}
		x, _ := o.Describe(t.Context(), a.Target)
		var in workflow.ExecutionInput
		_ = json.Unmarshal([]byte(x.Input), &in)
		if x.Status != states.Succeeded || !in.Replace || in.File.ETag != regen.ETag {
			t.Errorf("%s: %s, input %s", a.Target, x.Status, x.Input)
		}
	}
	// Dry run: names the next execution, starts nothing.
	before := len(mutations(w))
	a, err = o.Reprocess(t.Context(), "s3://raw/incoming/lost-v2.csv", ops.ReprocessOptions{Replace: true}, true)
	if err != nil || a.Target != regen.Execution+"-p3" || len(mutations(w)) != before {
		t.Errorf("dry run: %+v %v", a, err)
	}
}

func TestReplayRequest(t *testing.T) {
	w := awsfake.NewWorld(t, workflow.Config{})
	o := connect(t, w)
	from, to := time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC), time.Date(2024, 5, 7, 0, 0, 0, 0, time.UTC)
	if _, err := o.Replay(t.Context(), from, to, true); err != nil || len(w.Fake.Replays()) != 0 {
		t.Fatalf("dry run: %v, %d replays", err, len(w.Fake.Replays()))
	}
	r, err := o.Replay(t.Context(), from, to, false)
	if err != nil {
		t.Fatal(err)
	}
	got := w.Fake.Replays()
	if len(got) != 1 || got[0].Name != r.Name || !got[0].Start.Equal(from) || !got[0].End.Equal(to) ||
		got[0].Destination != w.Stack["EventBusArn"] || len(got[0].FilterArns) != 1 || got[0].FilterArns[0] != w.Stack["IngestRuleArn"] {
		t.Errorf("replay request %+v", got)
	}
	if _, err := o.Replay(t.Context(), to, from, false); err == nil {
		t.Error("a reversed window was accepted")
	}
	w.Fake.Archive.State = "DISABLED"
	if _, err := o.Replay(t.Context(), from, to, false); err == nil || !strings.Contains(err.Error(), "DISABLED") {
		t.Errorf("disabled archive: %v", err)
	}
}

// Listing a dead-letter queue consumes nothing: every message is visible again afterwards.
func TestDLQListDoesNotConsume(t *testing.T) {
	w := awsfake.NewWorld(t, workflow.Config{})
	w.Arrive(t, "incoming/bad1.csv", []byte("x\n"))
	w.Arrive(t, "incoming/bad2.csv", []byte("y\n"))
	o := connect(t, w)
	for range 2 {
		msgs, err := o.DLQList(t.Context(), "failed", 100)
		if err != nil || len(msgs) != 2 {
			t.Fatalf("%d messages, %v", len(msgs), err)
		}
		if msgs[0].Kind != ops.KindRejected || msgs[0].Error != "InvalidFileError" || msgs[0].Step != "Check" || msgs[0].File.Key != "incoming/bad1.csv" {
			t.Errorf("message = %+v", msgs[0])
		}
	}
	st, err := o.Status(t.Context(), w.Clock.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range st.Queues {
		if q.Name == ops.QueueFailed && (q.Visible != 2 || q.InFlight != 0) {
			t.Errorf("after listing: %+v", q)
		}
	}
}

// A failed-files message whose restart fails stays in the queue; the others are deleted.
func TestDLQRedriveFailedKeepsWhatItCannotRestart(t *testing.T) {
	w := awsfake.NewWorld(t, workflow.Config{})
	w.Arrive(t, "incoming/bad.csv", []byte("x\n"))
	w.Fake.Send(w.Stack["FailedFilesQueueUrl"], `{"execution":"gone-long-ago","file":{"bucket":"raw","key":"incoming/old.csv","etag":"gone-long-ago","size":1},"step":"Check","error":"InvalidFileError","cause":"{}","action":"x"}`)
	w.Fake.Send(w.Stack["FailedFilesQueueUrl"], `not json at all`)
	o := connect(t, w)
	acts, err := o.DLQRedriveFailed(t.Context(), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 2 || acts[0].Outcome != "started" || !strings.HasSuffix(acts[0].Target, "-p1") || acts[1].Outcome != ops.Skipped {
		t.Fatalf("actions = %+v", acts)
	}
	// The restarted file failed again (nothing was fixed), so it has a new message, as an alert would.
	w.ImportDLQ(t)
	left := w.Fake.Messages(w.Stack["FailedFilesQueueUrl"])
	var kept []string
	for _, m := range left {
		kept = append(kept, m[:min(len(m), 30)])
	}
	if len(left) != 3 || !strings.Contains(strings.Join(left, "\n"), "gone-long-ago") || !strings.Contains(strings.Join(left, "\n"), "not json") {
		t.Errorf("left in the queue: %q", kept)
	}
}

// A replay leaves a rejected file rejected: the plan lists it as skipped with the command that runs it
// again, and when the replayed event reaches the starter the execution is neither redriven nor
// followed by a new one. A file that failed on an infrastructure error is listed to be redriven, and is.
func TestReplayLeavesRejectedFilesRejected(t *testing.T) {
	w := awsfake.NewWorld(t, workflow.Config{})
	from := w.Clock.Now().Truncate(time.Second)
	okFile := w.Arrive(t, "incoming/ok.csv", report(t, 1, 1))
	bad := w.Arrive(t, "incoming/bad.csv", []byte("not,a,report\n1,2,3\n"))
	w.Faults.Set("settlement_lines/", -1)
	stuck := w.Arrive(t, "incoming/stuck.csv", report(t, 2, 2))
	w.Faults.Set("settlement_lines/", 0)
	if okFile.Status != local.Succeeded || bad.Status != local.Failed || stuck.Status != local.Failed {
		t.Fatalf("setup: %s %s %s", okFile.Status, bad.Status, stuck.Status)
	}
	w.Clock.Advance(time.Hour)
	o := connect(t, w)
	r, err := o.Replay(t.Context(), from, from.Add(30*time.Minute), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Duplicates) != 1 || r.Duplicates[0].Execution != okFile.Execution ||
		len(r.Restarts) != 1 || r.Restarts[0].Execution != stuck.Execution ||
		len(r.Rejected) != 1 || r.Rejected[0].Execution != bad.Execution || r.Rejected[0].Error != "InvalidFileError" {
		t.Fatalf("plan: duplicates %+v, restarts %+v, rejected %+v", r.Duplicates, r.Restarts, r.Rejected)
	}
	if got, want := r.Rejected[0].Reprocess(), "settle aws reprocess s3://raw/incoming/bad.csv"; got != want {
		t.Errorf("reprocess command %q, want %q", got, want)
	}
	// EventBridge delivers the window's events again; the starter handles them.
	for i, name := range []string{"incoming/ok.csv", "incoming/bad.csv", "incoming/stuck.csv"} {
		obj, err := w.Env.Raw.Head(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		w.Fake.Send(w.Stack["IngestQueueUrl"], local.ObjectCreatedMessage(obj, w.Clock.Now(), 200+i).Body)
	}
	outcomes := map[string]workflow.Outcome{}
	for _, res := range w.RunStarter(t) {
		outcomes[res.Execution] = res.Outcome
	}
	if outcomes[okFile.Execution] != workflow.Duplicate || outcomes[bad.Execution] != workflow.Rejected || outcomes[stuck.Execution] != workflow.Redriven {
		t.Errorf("the starter did %v", outcomes)
	}
	x, err := o.Describe(t.Context(), bad.Execution)
	if err != nil || x.RedriveCount != 0 || x.Status != states.Failed {
		t.Errorf("the rejected file's execution after the replay: %+v %v", x, err)
	}
	list, _ := w.Env.Engine.List()
	if len(list) != 3 {
		t.Errorf("%d executions after the replay, want the same 3", len(list))
	}
}

// A restart (-r1) that was rejected for a data error ends the content's chain: redriving the original
// again skips it instead of redriving the rejection or starting -r2.
func TestRedriveStopsAtARejectedRestart(t *testing.T) {
	w := awsfake.NewWorld(t, workflow.Config{})
	w.Faults.Set("_manifests/", -1)
	r := w.Arrive(t, "incoming/b1.csv", report(t, 1, 1))
	w.Faults.Set("_manifests/", 0)
	w.Clock.Advance(15 * 24 * time.Hour)
	w.Env.Steps.Conf.MaxFileBytes = 100 // meanwhile the limit went down: the file is now too large
	o := connect(t, w)
	a, err := o.Redrive(t.Context(), r.Execution, false, false)
	if err != nil || a.Target != r.Execution+"-r1" {
		t.Fatalf("first restart: %+v %v", a, err)
	}
	if x, _ := o.Describe(t.Context(), r.Execution+"-r1"); x.Error != "InvalidFileError" {
		t.Fatalf("-r1: %s %s, want rejected as InvalidFileError", x.Status, x.Error)
	}
	a, err = o.Redrive(t.Context(), r.Execution, false, false)
	if err != nil || a.Outcome != ops.Skipped || a.Target != r.Execution+"-r1" || !strings.Contains(a.Note, "reprocess") {
		t.Errorf("second restart: %+v %v; want skipped at the rejected -r1", a, err)
	}
	// StartExecution was asked (and answered "already exists"); nothing new ran.
	list, _ := w.Env.Engine.List()
	x, _ := o.Describe(t.Context(), r.Execution+"-r1")
	if len(list) != 2 || x.RedriveCount != 0 {
		t.Errorf("%d executions, -r1 redriven %d times; want 2 and 0", len(list), x.RedriveCount)
	}
}
