package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/testkit/awsfake"
	"github.com/paysettle/settle/internal/workflow"
)

// statusChange is the event EventBridge sends to the failed-files queue when an execution fails
// outside the definition's Catch path (template.yaml's FailedExecutionRule).
func statusChange(t *testing.T, w *awsfake.World, name string) string {
	x, err := w.Env.Engine.Describe(name)
	if err != nil {
		t.Fatal(err)
	}
	ev := map[string]any{
		"version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": "Step Functions Execution Status Change",
		"source": "aws.states", "account": awsfake.Account, "time": x.StopDate.UTC().Format(time.RFC3339), "region": awsfake.Region,
		"resources": []string{x.ExecutionARN},
		"detail": map[string]any{"executionArn": x.ExecutionARN, "stateMachineArn": x.StateMachineARN, "name": x.Name, "status": string(x.Status),
			"startDate": x.StartDate.UnixMilli(), "stopDate": x.StopDate.UnixMilli(), "input": string(x.Input), "error": x.Error, "cause": x.Cause},
	}
	b, _ := json.Marshal(ev)
	return string(b)
}

// TestAWSWalkthrough is the on-call walkthrough of the README, run against the fake AWS: a failed
// file is found (status, dlq list), understood (show), fixed and redriven; a rejected file is
// reprocessed through its DLQ message once the policy allows it; the ingest DLQ is moved back; a
// window is replayed; a regenerated file replaces its batch. The transcript is the golden file
// testdata/aws-walkthrough.txt (go test ./cmd/settle -run Walkthrough -update rewrites it).
func TestAWSWalkthrough(t *testing.T) {
	w := awsfake.NewWorld(t, workflow.Config{Policy: settlement.DefaultPolicy()})
	sample := filepath.Join("..", "..", "testdata")
	for _, f := range []string{"sample/settlement_detail_report_batch_57.csv", "sample/settlement_detail_report_batch_58.csv"} {
		if r := w.Arrive(t, "incoming/"+filepath.Base(f), read(t, filepath.Join(sample, f))); r.Status != local.Succeeded {
			t.Fatalf("%s: %s %s", f, r.Status, r.Error)
		}
	}
	w.Clock.Advance(40 * time.Minute)
	bad := w.Arrive(t, "incoming/settlement_detail_report_batch_91.csv", read(t, filepath.Join(sample, "bad/settlement_detail_report_batch_91_bad_rows.csv")))
	if bad.Status != local.Failed {
		t.Fatalf("batch 91: %s", bad.Status)
	}
	w.Clock.Advance(25 * time.Minute)
	// S3 refuses every write of the output for a while: the write step retries, then the execution fails there.
	w.Faults.Set("settlement_lines/", -1)
	var report bytes.Buffer
	if _, err := gen.Write(&report, gen.Config{Rows: 400, Seed: 7, Batch: 61, SettlementDate: "2024-05-06"}); err != nil {
		t.Fatal(err)
	}
	stuck := w.Arrive(t, "incoming/settlement_detail_report_batch_61.csv", report.Bytes())
	if stuck.Status != local.Failed {
		t.Fatalf("batch 61: %s", stuck.Status)
	}
	w.Fake.Send(w.Stack["FailedFilesQueueUrl"], statusChange(t, w, stuck.Execution))
	// An event the starter gave up on (its messages went to the ingest DLQ after 10 receives).
	lost := w.Upload(t, "incoming/settlement_detail_report_batch_62.csv", func() []byte {
		var b bytes.Buffer
		gen.Write(&b, gen.Config{Rows: 30, Seed: 9, Batch: 62, SettlementDate: "2024-05-06"})
		return b.Bytes()
	}())
	w.Fake.Send(w.Stack["IngestDeadLetterQueueUrl"], local.ObjectCreatedMessage(lost, w.Clock.Now(), 99).Body)
	w.Clock.Advance(10 * time.Minute)

	var transcript strings.Builder
	step := func(comment string, args ...string) (string, int) {
		t.Helper()
		out, errOut, code := cli(w, args...)
		if comment != "" {
			fmt.Fprintf(&transcript, "# %s\n", comment)
		}
		fmt.Fprintf(&transcript, "$ settle %s\n%s", strings.Join(args, " "), out)
		if errOut != "" {
			transcript.WriteString(errOut)
		}
		transcript.WriteString("\n")
		if strings.Contains(errOut, "goroutine") || strings.Contains(errOut, "panic") {
			t.Fatalf("settle %v: %s", args, errOut)
		}
		return out, code
	}
	mustOK := func(out string, code int) string {
		t.Helper()
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, transcript.String())
		}
		return out
	}

	// Found.
	out := mustOK(step("Something is wrong: what, and where?", "aws", "status"))
	for _, want := range []string{"FAILED 2", "SUCCEEDED 2", "Needs attention: 1 message in the ingest-dlq queue", "2 messages in the failed queue"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q", want)
		}
	}
	out = mustOK(step("", "aws", "dlq", "list"))
	if !strings.Contains(out, "object-created") || !strings.Contains(out, "rejected") || !strings.Contains(out, "status-change") {
		t.Errorf("dlq list:\n%s", out)
	}
	// Understood.
	out = mustOK(step("Why did batch 61 fail?", "aws", "show", stuck.Execution))
	if !strings.Contains(out, "Failed at Write") || !strings.Contains(out, "TransientError") || !strings.Contains(out, "REDRIVABLE") {
		t.Errorf("show:\n%s", out)
	}
	// Fixed (S3 recovers) and redriven.
	w.Faults.Set("settlement_lines/", 0)
	mustOK(step("S3 has recovered. What would a redrive do?", "aws", "redrive", stuck.Execution, "--dry-run"))
	out = mustOK(step("", "aws", "redrive", stuck.Execution))
	if !strings.Contains(out, "redriven") {
		t.Errorf("redrive:\n%s", out)
	}
	if x, _ := w.Env.Engine.Describe(stuck.Execution); x.Status != "SUCCEEDED" {
		t.Errorf("after redrive: %s", x.Status)
	}
	// The rejected file: finance accepts up to 20 rejected rows for this merchant; the config change is
	// deployed, and the failed-files queue is redriven (the stale status-change message is cleared too).
	w.MirrorProcessed(t) // the validation report Validate wrote, which the operator reads for the remedy
	mustOK(step("Batch 91 was rejected for 13 bad rows:", "aws", "dlq", "show", firstID(t, w, "rejected")))
	out, code := step("A redrive cannot change a rejection, and says what can:", "aws", "redrive", bad.Execution)
	if code != 1 || !strings.Contains(out, "cannot change the outcome") || !strings.Contains(out, "settle aws reprocess "+bad.Execution+" --max-rejected 13") {
		t.Errorf("redrive of the rejected file: exit %d\n%s", code, out)
	}
	out = mustOK(step("Finance accepts batch 91 without its 13 bad rows, for this file only:", "aws", "reprocess", bad.Execution, "--max-rejected", "13"))
	if !strings.Contains(out, "started  "+bad.Execution+"-p1  allows 13 rejected rows") {
		t.Errorf("reprocess --max-rejected:\n%s", out)
	}
	w.ImportDLQ(t)
	w.MirrorProcessed(t)
	out = mustOK(step("", "aws", "show", bad.Execution+"-p1"))
	if !strings.Contains(out, "policy    at most 13 rejected rows") || !strings.Contains(out, "2 written, 13 rejected") || !strings.Contains(out, "s3://processed/settlement_lines/") {
		t.Errorf("show of the reprocess:\n%s", out)
	}
	out = mustOK(step("Clear the failed-files queue: batch 61 is processed, batch 91 too:", "aws", "dlq", "redrive", "failed", "--yes"))
	if !strings.Contains(out, "processed since by "+bad.Execution+"-p1") || !strings.Contains(out, "already SUCCEEDED") {
		t.Errorf("dlq redrive failed:\n%s", out)
	}
	if n := len(w.Fake.Messages(w.Stack["FailedFilesQueueUrl"])); n != 0 {
		t.Errorf("%d messages left in the failed-files queue", n)
	}
	// The ingest DLQ goes back to the ingest queue, where the starter picks it up.
	mustOK(step("The event of batch 62 never started an execution:", "aws", "dlq", "redrive", "ingest", "--yes"))
	if got := w.Fake.Messages(w.Stack["IngestQueueUrl"]); len(got) != 1 {
		t.Errorf("ingest queue after the move: %d messages", len(got))
	}
	if r := w.RunStarter(t); len(r) != 1 || r[0].Outcome != workflow.Started {
		t.Errorf("the starter did %+v with the moved message", r)
	}
	// A window of events replayed from the archive, and a regenerated report replacing its batch.
	mustOK(step("Replay the morning's raw-bucket events (files that ran count as duplicates; the rejected one stays rejected):", "aws", "replay", "--from", "2024-05-07T08:00:00Z", "--to", "2024-05-07T10:00:00Z", "--yes"))
	if r := w.Fake.Replays(); len(r) != 1 || r[0].FilterArns[0] != w.Stack["IngestRuleArn"] || r[0].EventSourceArn != w.Stack["EventArchiveArn"] {
		t.Errorf("replays = %+v", r)
	}
	var regen bytes.Buffer
	gen.Write(&regen, gen.Config{Rows: 410, Seed: 8, Batch: 61, SettlementDate: "2024-05-06"})
	w.Upload(t, "incoming/settlement_detail_report_batch_61_v2.csv", regen.Bytes())
	out = mustOK(step("Adyen regenerated batch 61; replace the committed one:", "aws", "reprocess", "s3://raw/incoming/settlement_detail_report_batch_61_v2.csv", "--replace", "--yes"))
	if !strings.Contains(out, "-p1") {
		t.Errorf("reprocess:\n%s", out)
	}
	mustOK(step("", "aws", "executions", "--status", "FAILED", "--json"))
	mustOK(step("All clear?", "aws", "executions", "--since", "24h"))
	out = mustOK(step("", "aws", "status"))
	if !strings.Contains(out, "Nothing needs attention") || !strings.Contains(out, "processed by 3fde3b99a6baa7a1245af073c8edd8b4-p1") {
		t.Errorf("final status:\n%s", out)
	}

	golden(t, filepath.Join("testdata", "aws-walkthrough.txt"), transcript.String())
}

func firstID(t *testing.T, w *awsfake.World, kind string) string {
	t.Helper()
	out, _, code := cli(w, "aws", "dlq", "list", "failed")
	if code != 0 {
		t.Fatal(out)
	}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 2 && strings.Contains(l, " "+kind+" ") {
			return f[1]
		}
	}
	t.Fatalf("no %s message in:\n%s", kind, out)
	return ""
}
