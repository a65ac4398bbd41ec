package ops_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/s3tables"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/paysettle/settle/internal/icetable"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/parquetfile"
	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/states"
	"github.com/paysettle/settle/internal/testkit/awsfake"
	"github.com/paysettle/settle/internal/testkit/motoserver"
	"github.com/paysettle/settle/internal/testkit/motostack"
	"github.com/paysettle/settle/internal/workflow"
)

// The tests named *Moto run the operator commands against a stack of template.yaml deployed to moto
// (internal/motostack): moto's CloudFormation, S3, SQS, EventBridge and Step Functions answer, and the
// project's starter handles the ingest queue. moto's executions never run a step (they stay RUNNING
// until stopped): what needs a finished execution is proven against the fake (awsfake) above.

func TestMain(m *testing.M) {
	code := m.Run()
	motoserver.StopShared()
	os.Exit(code)
}

// connectMoto connects to the stack as settle aws does, with the real clock (moto's).
func connectMoto(t *testing.T, s *motostack.Stack) *ops.Ops {
	t.Helper()
	o, err := ops.Connect(t.Context(), ops.Options{Stack: s.Name})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// arrive uploads a report to the raw bucket and lets the starter handle its event; it returns the
// execution's name.
func arrive(t *testing.T, s *motostack.Stack, key string, data []byte) string {
	t.Helper()
	etag := s.Upload(t, key, data)
	if d := s.RunStarter(t); len(d) != 1 || d[0].Retry {
		t.Fatalf("the starter on %s: %+v", key, d)
	}
	return workflow.ExecutionName(etag)
}

func names(xs []ops.Execution) []string {
	var out []string
	for _, x := range xs {
		out = append(out, x.Name)
	}
	return out
}

// A stack on moto, files arriving through S3, EventBridge, SQS and the starter: status, executions
// and show read them; an aborted execution is found, explained and restarted.
func TestStatusExecutionsShowMoto(t *testing.T) {
	s := motostack.New(t)
	ctx := t.Context()
	since := s.Created.Add(-time.Minute)
	first := arrive(t, s, "incoming/b1.csv", report(t, 1, 1))
	second := arrive(t, s, "incoming/b2.CSV", report(t, 2, 2))
	s.Upload(t, "incoming/notes.txt", []byte("not a report")) // the ingest rule leaves it out
	if d := s.RunStarter(t); len(d) != 0 {
		t.Fatalf("a .txt reached the starter: %+v", d)
	}
	o := connectMoto(t, s)
	for k, v := range s.Outputs {
		if o.Stack.Out(k) != v {
			t.Errorf("output %s = %q, want %q", k, o.Stack.Out(k), v)
		}
	}
	if o.Stack.Status != "CREATE_COMPLETE" || o.Stack.Region != motostack.Region || o.Stack.Name != s.Name {
		t.Errorf("stack %s %s %s", o.Stack.Name, o.Stack.Status, o.Stack.Region)
	}

	st, err := o.Status(ctx, since)
	if err != nil {
		t.Fatal(err)
	}
	var queues []string
	for _, q := range st.Queues {
		queues = append(queues, q.Name)
		if q.Visible != 0 || q.InFlight != 0 || q.Delayed != 0 {
			t.Errorf("queue %s: %+v", q.Name, q)
		}
	}
	if !slices.Equal(queues, []string{ops.QueueIngest, ops.QueueIngestDLQ, ops.QueueFailed, ops.QueueWebhook, ops.QueueFetchDLQ}) {
		t.Errorf("queues %v", queues)
	}
	if st.Counts[states.Running] != 2 || len(st.Running) != 2 || len(st.Failed) != 0 || st.Unresolved() != 0 {
		t.Fatalf("status: counts %v, running %v, failed %v", st.Counts, names(st.Running), names(st.Failed))
	}
	if st.Running[0].Name != first || st.Running[0].File.Key != "incoming/b1.csv" || st.Running[1].File.Key != "incoming/b2.CSV" ||
		st.Running[0].File.Bucket != s.Out("RawBucket") || st.Running[0].File.Size != int64(len(report(t, 1, 1))) {
		t.Errorf("running (oldest first): %+v", st.Running)
	}

	xs, err := o.Executions(ctx, "", since, 0)
	if err != nil || !slices.Equal(names(xs), []string{second, first}) {
		t.Fatalf("executions %v, %v; want newest first %v", names(xs), err, []string{second, first})
	}
	for _, status := range []string{states.Failed, states.Succeeded} {
		if xs, err := o.Executions(ctx, status, since, 0); err != nil || len(xs) != 0 {
			t.Errorf("--status %s: %v %v", status, names(xs), err)
		}
	}
	if xs, err := o.Executions(ctx, "", since, 1); err != nil || len(xs) != 1 {
		t.Errorf("--limit 1: %v %v", names(xs), err)
	}
	if xs, err := o.Executions(ctx, "", time.Now().Add(time.Hour), 0); err != nil || len(xs) != 0 {
		t.Errorf("--since the future: %v %v", names(xs), err)
	}

	d, err := o.Show(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != states.Running || d.FailedStep != "" || d.File.Key != "incoming/b1.csv" || d.ARN != s.ExecutionARN(first) {
		t.Errorf("show: %+v", d)
	}
	// moto's history is canned: a Pass state "A State" ending in ExecutionSucceeded, whatever the
	// execution's status; the history of real steps is proven against the fake.
	var types []string
	for _, ev := range d.Events {
		types = append(types, ev.Type)
	}
	if !slices.Equal(types, []string{"ExecutionStarted", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"}) || d.Events[1].State != "A State" {
		t.Errorf("moto's history changed (update docs/testing.md): %v", d.Events)
	}
	var none *ops.NoExecutionError
	if _, err := o.Show(ctx, "no-such-execution"); !errors.As(err, &none) {
		t.Errorf("show of an unknown name: %v", err)
	}

	// An operator stops the first execution: status and executions report it as needing attention.
	s.Abort(t, first)
	st, err = o.Status(ctx, since)
	if err != nil {
		t.Fatal(err)
	}
	if st.Counts[states.Aborted] != 1 || st.Counts[states.Running] != 1 || len(st.Failed) != 1 || st.Failed[0].Name != first || st.Unresolved() != 1 {
		t.Errorf("after abort: counts %v, failed %v", st.Counts, names(st.Failed))
	}
	if xs, err := o.Executions(ctx, states.Aborted, since, 0); err != nil || !slices.Equal(names(xs), []string{first}) || xs[0].Stop.IsZero() {
		t.Errorf("--status ABORTED: %+v %v", xs, err)
	}
	// moto reports no redrive status (AWS: REDRIVABLE for 14 days), so redrive restarts the file as
	// <name>-r1 with its original input, as it does on AWS once the 14 days are over.
	d, err = o.Show(ctx, first)
	if err != nil || d.RedriveStatus != "" || d.Status != states.Aborted {
		t.Errorf("show of the aborted execution: status %s, redrive status %q, %v", d.Status, d.RedriveStatus, err)
	}
	a, err := o.Redrive(ctx, first, true, false)
	if err != nil || a.Outcome != string(workflow.Restarted) || a.Target != first+"-r1" {
		t.Fatalf("redrive --dry-run: %+v %v", a, err)
	}
	if xs, _ := o.Executions(ctx, "", since, 0); len(xs) != 2 {
		t.Fatalf("a dry run started an execution: %v", names(xs))
	}
	a, err = o.Redrive(ctx, first, false, false)
	if err != nil || a.Outcome != string(workflow.Restarted) || a.Target != first+"-r1" {
		t.Fatalf("redrive: %+v %v", a, err)
	}
	r1, err := o.Describe(ctx, first+"-r1")
	if err != nil || r1.Status != states.Running || r1.Input != d.Input || r1.File != d.File {
		t.Errorf("-r1: %+v %v; want RUNNING with the input %s", r1, err, d.Input)
	}
	// A running execution is not redriven.
	if _, err := o.Redrive(ctx, second, false, false); err == nil || !strings.Contains(err.Error(), "is RUNNING") {
		t.Errorf("redrive of a running execution: %v", err)
	}
}

// moto has no RedriveExecution (HTTP 500 "not implemented"): the redrive of a redrivable execution is
// proven against the fake only.
func TestNoRedriveExecutionInMoto(t *testing.T) {
	s := motostack.New(t)
	name := arrive(t, s, "incoming/b1.csv", report(t, 1, 1))
	s.Abort(t, name)
	_, err := s.SFN.RedriveExecution(t.Context(), &sfn.RedriveExecutionInput{ExecutionArn: aws.String(s.ExecutionARN(name))})
	if err == nil || !strings.Contains(err.Error(), "StatusCode: 500") {
		t.Errorf("RedriveExecution: %v; want moto's HTTP 500 (moto now redrives: prove redrive here)", err)
	}
}

// Reprocess against moto's S3 and Step Functions: a file whose event was lost runs under its ETag's
// name, a second reprocess finds it running (a path the fake cannot reach: its executions end before
// the command looks), --replace starts -p1, and bad addresses are refused with the reason.
func TestReprocessMoto(t *testing.T) {
	s := motostack.New(t)
	ctx := t.Context()
	raw := s.Out("RawBucket")
	key := "incoming/lost b+1.csv"
	etag := s.Upload(t, key, report(t, 4, 4)) // its event waits in the ingest queue: the starter never ran
	name := workflow.ExecutionName(etag)
	o := connectMoto(t, s)
	count := func() int {
		xs, err := o.Executions(ctx, "", time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(xs)
	}
	a, err := o.Reprocess(ctx, "s3://"+raw+"/"+key, ops.ReprocessOptions{}, true)
	if err != nil || a.Outcome != string(workflow.Started) || a.Target != name || count() != 0 {
		t.Fatalf("dry run: %+v %v, %d executions", a, err, count())
	}
	a, err = o.Reprocess(ctx, "s3://"+raw+"/"+key, ops.ReprocessOptions{}, false)
	if err != nil || a.Outcome != string(workflow.Started) || a.Target != name {
		t.Fatalf("reprocess: %+v %v", a, err)
	}
	x, err := o.Describe(ctx, name)
	if err != nil || x.Status != states.Running || x.File != (workflow.FileRef{Bucket: raw, Key: key, ETag: etag, Size: int64(len(report(t, 4, 4)))}) || x.Replace {
		t.Fatalf("the reprocessed execution: %+v %v", x, err)
	}
	// The lost event arrives after all: the starter's input is byte for byte the reprocess's, so Step
	// Functions (moto) answers with the running execution instead of starting a second one.
	if d := s.RunStarter(t); len(d) != 1 || d[0].Retry || count() != 1 {
		t.Errorf("the late event: %+v, %d executions", d, count())
	}
	a, err = o.Reprocess(ctx, "s3://"+raw+"/"+key, ops.ReprocessOptions{}, false)
	if err != nil || a.Outcome != string(workflow.Duplicate) || a.Target != name || !strings.Contains(a.Note, "being processed now") {
		t.Errorf("reprocess while it runs: %+v %v", a, err)
	}
	a, err = o.Reprocess(ctx, "s3://"+raw+"/"+key, ops.ReprocessOptions{Replace: true}, false)
	if err != nil || a.Outcome != string(workflow.Started) || a.Target != name+"-p1" {
		t.Fatalf("reprocess --replace: %+v %v", a, err)
	}
	if p1, err := o.Describe(ctx, name+"-p1"); err != nil || !p1.Replace || p1.File.ETag != etag {
		t.Errorf("-p1: %+v %v", p1, err)
	}
	if _, err := o.Reprocess(ctx, "s3://"+raw+"/incoming/none.csv", ops.ReprocessOptions{}, false); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("a missing object: %v", err)
	}
	if _, err := o.Reprocess(ctx, "s3://"+s.Out("ProcessedBucket")+"/x.csv", ops.ReprocessOptions{}, false); err == nil || !strings.Contains(err.Error(), "not in the stack's raw bucket") {
		t.Errorf("another bucket: %v", err)
	}
}

// The dead-letter queues on moto's SQS, holding what reaches them there: an S3 event moved to the ingest
// DLQ by the queue's redrive policy, a status change routed by the stack's rule, and the message the
// definition sends for a rejected file (taken from the fake, whose engine runs the real definition).
// The same messages in the fake's queues read the same; the differences are SQS's own (see below).
func TestDLQMoto(t *testing.T) {
	ctx := t.Context()
	w := awsfake.NewWorld(t, workflow.Config{})
	bad := w.Arrive(t, "incoming/bad.csv", []byte("not,a,report\n1,2,3\n"))
	if bad.Status != local.Failed {
		t.Fatal(bad.Status)
	}
	rejected := w.Fake.Messages(w.Stack["FailedFilesQueueUrl"])
	if len(rejected) != 1 {
		t.Fatalf("the fake's failed-files queue: %v", rejected)
	}
	fake := connect(t, w)

	s := motostack.New(t)
	lost := s.Upload(t, "incoming/lost.csv", report(t, 5, 5))
	if n := s.FailIngest(t); n != 1 {
		t.Fatalf("%d messages moved to the ingest DLQ, want 1", n)
	}
	aborted := arrive(t, s, "incoming/stuck.csv", report(t, 6, 6))
	s.Abort(t, aborted)
	s.StatusChange(t, aborted, states.Aborted, "", "")
	if _, err := s.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(s.Out("FailedFilesQueueUrl")), MessageBody: aws.String(rejected[0])}); err != nil {
		t.Fatal(err)
	}
	o := connectMoto(t, s)

	msgs, err := o.DLQList(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 {
		t.Fatalf("%d messages, want 3: %+v", len(msgs), msgs)
	}
	byKind := map[string]ops.DLQMessage{}
	for _, m := range msgs {
		byKind[m.Kind] = m
	}
	oc, sc, rj := byKind[ops.KindObjectCreated], byKind[ops.KindStatusChange], byKind[ops.KindRejected]
	if oc.Queue != ops.QueueIngestDLQ || oc.File.Key != "incoming/lost.csv" || oc.File.ETag != lost || oc.Execution != workflow.ExecutionName(lost) || oc.File.Bucket != s.Out("RawBucket") {
		t.Errorf("object-created: %+v", oc)
	}
	if sc.Queue != ops.QueueFailed || sc.Execution != aborted || sc.Status != states.Aborted || sc.File.Key != "incoming/stuck.csv" || sc.Error != "" {
		t.Errorf("status-change: %+v", sc)
	}
	if rj.Queue != ops.QueueFailed || rj.Execution != bad.Execution || rj.Error != "InvalidFileError" || rj.Step != "Check" || rj.File.Key != "incoming/bad.csv" {
		t.Errorf("rejected: %+v", rj)
	}
	for _, m := range msgs {
		if m.Sent.IsZero() || m.Sent.After(time.Now()) || m.ID == "" {
			t.Errorf("%s message: sent %s, id %q", m.Kind, m.Sent, m.ID)
		}
	}

	// The fake, given the same bodies, reads them the same way.
	w.Fake.Send(w.Stack["IngestDeadLetterQueueUrl"], oc.Body)
	w.Fake.Send(w.Stack["FailedFilesQueueUrl"], sc.Body)
	fmsgs, err := fake.DLQList(ctx, "", 100)
	if err != nil || len(fmsgs) != 3 {
		t.Fatalf("the fake: %d messages, %v", len(fmsgs), err)
	}
	for _, f := range fmsgs {
		m := byKind[f.Kind]
		if f.Queue != m.Queue || f.File != m.File || f.Execution != m.Execution || f.Status != m.Status || f.Step != m.Step ||
			f.Error != m.Error || f.Cause != m.Cause || f.Action != m.Action || f.Input != m.Input || f.Body != m.Body {
			t.Errorf("%s: the fake reads %+v\nmoto reads %+v", f.Kind, f, m)
		}
		// What differs is SQS's bookkeeping: moto counts the receives of the ten failed deliveries and
		// of each listing; the fake counts only its own listings.
		t.Logf("%s: receives fake %d, moto %d", f.Kind, f.Receives, m.Receives)
	}

	// Listing consumes nothing: each message is visible again.
	again, err := o.DLQList(ctx, "failed", 100)
	if err != nil || len(again) != 2 {
		t.Fatalf("second listing: %d, %v", len(again), err)
	}
	st, err := o.Status(ctx, s.Created.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range st.Queues {
		want := map[string]int64{ops.QueueIngestDLQ: 1, ops.QueueFailed: 2}[q.Name]
		if q.Visible != want || q.InFlight != 0 {
			t.Errorf("after listing, queue %s: %+v, want %d visible and none in flight", q.Name, q, want)
		}
	}
	if m, err := o.DLQShow(ctx, rj.ID); err != nil || m.Execution != bad.Execution {
		t.Errorf("dlq show: %+v %v", m, err)
	}

	// dlq redrive failed: the aborted execution is restarted (-r1: moto reports no redrive status) and
	// its message deleted; the rejected file's execution is not in this account's Step Functions, so its
	// message stays, with the reason.
	acts, err := o.DLQRedriveFailed(ctx, nil, true)
	if err != nil || len(acts) != 2 {
		t.Fatalf("dry run: %+v %v", acts, err)
	}
	if left, _ := o.DLQList(ctx, "failed", 100); len(left) != 2 {
		t.Fatalf("a dry run deleted messages: %d left", len(left))
	}
	acts, err = o.DLQRedriveFailed(ctx, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]ops.Action{}
	for _, a := range acts {
		got[a.Execution] = a
	}
	if a := got[aborted]; a.Outcome != string(workflow.Restarted) || a.Target != aborted+"-r1" {
		t.Errorf("the aborted execution: %+v", a)
	}
	// The execution is gone, but the message still names the file, and the action shows it.
	if a := got[bad.Execution]; a.Outcome != ops.Skipped || !strings.Contains(a.Note, "no longer exists") || a.File.Key != "incoming/bad.csv" {
		t.Errorf("the rejected file: %+v", a)
	}
	if left, _ := o.DLQList(ctx, "failed", 100); len(left) != 1 || left[0].Kind != ops.KindRejected {
		t.Errorf("left in the failed-files queue: %+v", left)
	}

	// dlq redrive ingest: moto has no StartMessageMoveTask (HTTP 500); the dry run, which only reads the
	// depth, works. The move itself is proven against the fake.
	mv, err := o.DLQRedriveIngest(ctx, true)
	if err != nil || mv.Messages != 1 || mv.From != s.Out("IngestDeadLetterQueueArn") || mv.To != s.Out("IngestQueueArn") {
		t.Errorf("dlq redrive ingest --dry-run: %+v %v", mv, err)
	}
	if _, err := o.DLQRedriveIngest(ctx, false); err == nil || !strings.Contains(err.Error(), "cannot move the ingest DLQ's messages") {
		t.Errorf("dlq redrive ingest on moto: %v; want the refusal (moto now moves messages: prove it here)", err)
	}
}

// Replay against moto's EventBridge: the archive's window is checked, the plan names what the replayed
// events meet, and the replay sends the archived events to the ingest queue, where the starter leaves
// the running file alone and restarts the aborted one.
func TestReplayMoto(t *testing.T) {
	s := motostack.New(t)
	ctx := t.Context()
	archive := func(key string, data []byte) string {
		etag := s.Upload(t, key, data)
		d := s.RunStarter(t)
		if len(d) != 1 || d[0].Retry {
			t.Fatalf("starter: %+v", d)
		}
		// moto's archive keeps no S3 event: put the same event on the bus, where it is archived (and
		// delivered to the ingest rule once more: the starter meets the running execution).
		s.ArchiveEvent(t, d[0].Body)
		if d := s.RunStarter(t); len(d) != 1 || d[0].Retry {
			t.Fatalf("starter, second delivery: %+v", d)
		}
		return workflow.ExecutionName(etag)
	}
	running := archive("incoming/b1.csv", report(t, 1, 1))
	stopped := archive("incoming/b2.csv", report(t, 2, 2))
	s.Abort(t, stopped)
	o := connectMoto(t, s)

	arn := s.Out("EventArchiveArn")
	ar, err := s.Events.DescribeArchive(ctx, &eventbridge.DescribeArchiveInput{ArchiveName: aws.String(arn[strings.LastIndex(arn, "/")+1:])})
	if err != nil || ar.EventCount != 2 {
		t.Fatalf("archive: %+v %v", ar, err)
	}
	from, to := aws.ToTime(ar.CreationTime), time.Now()
	if _, err := o.Replay(ctx, from.Add(-time.Hour), to, true); err == nil || !strings.Contains(err.Error(), "beyond the archive") {
		t.Errorf("a window before the archive: %v", err)
	}
	if _, err := o.Replay(ctx, from, to.Add(time.Hour), true); err == nil || !strings.Contains(err.Error(), "in the future") {
		t.Errorf("a window in the future: %v", err)
	}
	plan, err := o.Replay(ctx, from, to, true)
	if err != nil {
		t.Fatal(err)
	}
	if plan.State != "DRY-RUN" || plan.Retention != 90 || len(plan.Duplicates) != 1 || plan.Duplicates[0].Execution != running ||
		len(plan.Restarts) != 1 || plan.Restarts[0].Execution != stopped || len(plan.Rejected) != 0 {
		t.Fatalf("plan: %+v", plan)
	}
	r, err := o.Replay(ctx, from, to, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.ARN == "" || r.State == "" || r.Bus != s.Out("EventBusArn") || r.Rule != s.Out("IngestRuleArn") {
		t.Errorf("replay: %+v", r)
	}
	rep, err := s.Events.DescribeReplay(ctx, &eventbridge.DescribeReplayInput{ReplayName: aws.String(r.Name)})
	if err != nil || rep.State != "COMPLETED" || aws.ToString(rep.EventSourceArn) != arn || aws.ToString(rep.Destination.Arn) != s.Out("EventBusArn") ||
		!slices.Equal(rep.Destination.FilterArns, []string{s.Out("IngestRuleArn")}) || aws.ToTime(rep.EventStartTime).Unix() != from.Unix() {
		t.Errorf("moto's replay: %+v %v", rep, err)
	}
	if d := s.RunStarter(t); len(d) != 2 {
		t.Fatalf("the replay delivered %d events to the ingest queue, want 2", len(d))
	}
	xs, err := o.Executions(ctx, "", time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, x := range xs {
		got[x.Name] = x.Status
	}
	want := map[string]string{running: states.Running, stopped: states.Aborted, stopped + "-r1": states.Running}
	if len(got) != len(want) {
		t.Errorf("executions after the replay: %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("executions after the replay: %v, want %v", got, want)
			break
		}
	}
}

// The same mistakes get the same sentences from the fake and from moto.
func TestErrorsAgreeWithFakeMoto(t *testing.T) {
	ctx := t.Context()
	w := awsfake.NewWorld(t, workflow.Config{})
	fake := connect(t, w)
	s := motostack.New(t)
	moto := connectMoto(t, s)
	norm := func(o *ops.Ops, err error) string {
		if err == nil {
			return "<nil>"
		}
		msg := err.Error()
		arn := o.Stack.Out(ops.OutStateMachineARN)
		msg = strings.ReplaceAll(msg, arn[strings.LastIndex(arn, ":")+1:], "<machine>")
		return strings.ReplaceAll(msg, "s3://"+o.Stack.Out(ops.OutRawBucket)+"/", "s3://<raw>/")
	}
	cases := []struct {
		name string
		run  func(o *ops.Ops) error
	}{
		{"show of an unknown execution", func(o *ops.Ops) error { _, err := o.Show(ctx, "nosuch"); return err }},
		{"redrive of an unknown execution", func(o *ops.Ops) error { _, err := o.Redrive(ctx, "nosuch", false, false); return err }},
		{"executions --status BAD", func(o *ops.Ops) error { _, err := o.Executions(ctx, "BAD", time.Time{}, 0); return err }},
		{"reprocess of a missing object", func(o *ops.Ops) error {
			_, err := o.Reprocess(ctx, "s3://"+o.Stack.Out(ops.OutRawBucket)+"/incoming/none.csv", ops.ReprocessOptions{}, false)
			return err
		}},
		{"reprocess of not an address", func(o *ops.Ops) error {
			_, err := o.Reprocess(ctx, "raw/none.csv", ops.ReprocessOptions{}, false)
			return err
		}},
		{"dlq list of no such queue", func(o *ops.Ops) error { _, err := o.DLQList(ctx, "nosuch", 10); return err }},
		{"dlq show of an unknown id", func(o *ops.Ops) error { _, err := o.DLQShow(ctx, "nosuch"); return err }},
	}
	for _, c := range cases {
		f, m := norm(fake, c.run(fake)), norm(moto, c.run(moto))
		if f != m || f == "<nil>" {
			t.Errorf("%s:\n fake: %s\n moto: %s", c.name, f, m)
		}
	}
	// A stack that does not exist, in the moto account.
	if _, err := ops.Connect(ctx, ops.Options{Stack: "no-such-stack"}); err == nil || !strings.Contains(err.Error(), `stack "no-such-stack" does not exist in region us-east-1`) {
		t.Errorf("connect to a missing stack: %v", err)
	}
}

// The operator finds the stack's Iceberg table from its outputs: the processed bucket's table for a
// stack without TableBucketArn (moto's, which does not model S3 Tables), and the S3 Tables table the
// outputs name otherwise, whose commits it then reads.
func TestTableHomeFromTheStackMoto(t *testing.T) {
	s := motostack.New(t)
	o := connectMoto(t, s)
	home, err := o.TableHome(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if home.Catalog != nil || home.Bucket.Name() != s.Out(ops.OutProcessedBucket) || home.Prefix != workflow.TablePrefix {
		t.Fatalf("without TableBucketArn: %+v, want the processed bucket's table", home)
	}

	b, err := o.Tables.CreateTableBucket(t.Context(), &s3tables.CreateTableBucketInput{Name: aws.String("settle-moto-tables")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Tables.CreateNamespace(t.Context(), &s3tables.CreateNamespaceInput{TableBucketARN: b.Arn, Namespace: []string{"settle"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Tables.CreateTable(t.Context(), &s3tables.CreateTableInput{TableBucketARN: b.Arn, Namespace: aws.String("settle"),
		Name: aws.String("settlement_lines"), Format: "ICEBERG"}); err != nil {
		t.Fatal(err)
	}
	o.Stack.Outputs[ops.OutTableBucketARN] = aws.ToString(b.Arn)
	home, err = o.TableHome(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if home.Catalog == nil || home.Prefix != "" || !strings.HasPrefix(home.Location, "s3://") || home.Bucket.Name() == s.Out(ops.OutProcessedBucket) {
		t.Fatalf("with TableBucketArn: %+v, want the S3 Tables table's warehouse", home)
	}
	v := workflow.TableVersion{Provider: "adyen", MerchantAccount: "Acme", Batch: 7, SettlementDate: "2024-05-03",
		File: workflow.TableFile("2024-05-03", "Acme", 7, "e7"), Rows: 3, Bytes: 10, Source: "s3://raw/incoming/r.csv", SourceETag: "e7"}
	if _, err := icetable.In(home).Commit(t.Context(), func(context.Context) (*workflow.TableVersion, error) { return &v, nil }); err != nil {
		t.Fatal(err)
	}
	again, err := o.TableHome(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	snap, err := icetable.In(again).SnapshotOf(t.Context(), v)
	if err != nil || snap == nil || snap.Version != 2 || !snap.Current {
		t.Fatalf("the operator reads the batch's snapshot as %+v, %v; want the current one of version 2", snap, err)
	}
	if _, err := icetable.In(again).Maintain(t.Context(), icetable.DefaultRetention, icetable.DefaultOrphanAge, true); !errors.Is(err, icetable.ErrMaintainedByCatalog) {
		t.Errorf("maintenance of an S3 Tables table answered %v, want ErrMaintainedByCatalog", err)
	}
	rebuildFromS3Tables(t, o, again)
}

// rebuildFromS3Tables commits a staged Parquet whose footer carries its manifest to the S3 Tables table,
// then writes the processed bucket's manifest and partition object again from the table: the footer read
// by ranged reads of the warehouse, the object copied back from it. The table's other batch, committed
// without a data file, is skipped with its reason.
func rebuildFromS3Tables(t *testing.T, o *ops.Ops, home workflow.TableHome) {
	ctx := t.Context()
	proc, err := o.Processed()
	if err != nil {
		t.Fatal(err)
	}
	report, err := os.ReadFile("../../testdata/sample/settlement_detail_report_batch_57.csv")
	if err != nil {
		t.Fatal(err)
	}
	src := workflow.FileRef{Bucket: "raw", Key: "incoming/settlement_detail_report_batch_57.csv", ETag: "dbb8e651909be6dcdda3de38fa9b00a0", Size: int64(len(report))}
	part := workflow.Manifest{Version: workflow.ManifestVersion, Provider: "adyen", MerchantAccount: "AcmeShopNL", BatchNumber: 57,
		SettlementDate: "2024-05-03", Source: src, Counts: workflow.ManifestCounts{Lines: 12, Header: 1, DataRows: 11, RowsWritten: 11}}
	footer, err := json.Marshal(part)
	if err != nil {
		t.Fatal(err)
	}
	var staged bytes.Buffer
	if _, err := parquetfile.Stage(bytes.NewReader(report), &staged, settlement.Job{Key: src.Key, ETag: src.ETag,
		Metadata: map[string]string{workflow.FooterKey: string(footer)}}); err != nil {
		t.Fatal(err)
	}
	obj, err := proc.Put(ctx, "_staging/e57/x/settlement_lines.parquet", staged.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	v := workflow.TableVersion{Provider: "adyen", MerchantAccount: "AcmeShopNL", Batch: 57, SettlementDate: "2024-05-03",
		File: workflow.TableFile("2024-05-03", "AcmeShopNL", 57, obj.ETag), Rows: 11, Bytes: obj.Size, Source: src.URL(), SourceETag: src.ETag,
		Execution: src.ETag, Arrived: time.Date(2024, 5, 3, 8, 0, 0, 0, time.UTC)}
	tab := icetable.In(home)
	if err := tab.Publish(ctx, proc, obj.Key, obj.ETag, v.File); err != nil {
		t.Fatal(err)
	}
	if _, err := tab.Commit(ctx, func(context.Context) (*workflow.TableVersion, error) { return &v, nil }); err != nil {
		t.Fatal(err)
	}
	res, err := workflow.RebuildManifests(ctx, proc, tab, false)
	if err != nil {
		t.Fatal(err)
	}
	key := workflow.ManifestKey("AcmeShopNL", 57)
	if res.Batches != 2 || !slices.Equal(res.Written, []string{key}) || len(res.Republished) != 1 || len(res.Skipped) != 1 ||
		res.Skipped[0].Key != workflow.ManifestKey("Acme", 7) || res.Skipped[0].Detail != "the table's data file "+workflow.TableFile("2024-05-03", "Acme", 7, "e7")+" is missing" {
		t.Fatalf("rebuild from S3 Tables: %+v", res)
	}
	m, err := workflow.ReadManifest(ctx, proc, key)
	if err != nil {
		t.Fatal(err)
	}
	want := part
	want.Execution, want.Arrived = v.Execution, v.Arrived
	want.Partitions = []workflow.Partition{{SettlementDate: "2024-05-03", Rows: 11, Key: workflow.PartitionKey("2024-05-03", "AcmeShopNL", 57), Bytes: obj.Size, ETag: obj.ETag}}
	if !reflect.DeepEqual(*m, want) {
		t.Errorf("the manifest written from S3 Tables:\n%+v\nwant\n%+v", *m, want)
	}
	if got, err := proc.Head(ctx, want.Partitions[0].Key); err != nil || got.ETag != obj.ETag {
		t.Errorf("the partition object copied back from the warehouse: %+v, %v; want etag %s", got, err, obj.ETag)
	}
}
