package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/paysettle/settle/internal/engine"
	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/states"
	"github.com/paysettle/settle/internal/testkit/awsfake"
	"github.com/paysettle/settle/internal/testkit/motoserver"
	"github.com/paysettle/settle/internal/testkit/motostack"
	"github.com/paysettle/settle/internal/workflow"
)

func TestMain(m *testing.M) {
	code := m.Run()
	motoserver.StopShared()
	os.Exit(code)
}

// TestAWSWalkthroughMoto is the on-call walkthrough (TestAWSWalkthrough) where moto can play it: the
// stack is template.yaml deployed to moto's CloudFormation, files arrive through moto's S3,
// EventBridge and SQS and the real starter, and settle aws finds, explains and restarts what needs it.
// moto's executions never run (they stay RUNNING until stopped): the failed file is one an operator
// aborted. The transcript, with moto's random names, times and ids replaced by placeholders, is the
// golden file testdata/aws-walkthrough-moto.txt (-update rewrites it).
func TestAWSWalkthroughMoto(t *testing.T) {
	s := motostack.New(t)
	sample := filepath.Join("..", "..", "testdata", "sample")
	// An event the starter gave up on: ten failed deliveries, then SQS moved it to the ingest DLQ.
	var lost bytes.Buffer
	if _, err := gen.Write(&lost, gen.Config{Rows: 30, Seed: 9, Batch: 62, SettlementDate: "2024-05-06"}); err != nil {
		t.Fatal(err)
	}
	s.Upload(t, "incoming/settlement_detail_report_batch_62.csv", lost.Bytes())
	if n := s.FailIngest(t); n != 1 {
		t.Fatalf("%d messages moved to the ingest DLQ", n)
	}
	names := map[string]string{}
	for _, f := range []string{"settlement_detail_report_batch_57.csv", "settlement_detail_report_batch_58.csv", "settlement_detail_report_batch_61.csv"} {
		data := func() []byte {
			if f == "settlement_detail_report_batch_61.csv" {
				var b bytes.Buffer
				gen.Write(&b, gen.Config{Rows: 400, Seed: 7, Batch: 61, SettlementDate: "2024-05-06"})
				return b.Bytes()
			}
			return read(t, filepath.Join(sample, f))
		}()
		names[f] = workflow.ExecutionName(s.Upload(t, "incoming/"+f, data))
		if d := s.RunStarter(t); len(d) != 1 || d[0].Retry {
			t.Fatalf("%s: starter %+v", f, d)
		}
	}
	stuck := names["settlement_detail_report_batch_61.csv"]
	s.Abort(t, stuck)
	s.StatusChange(t, stuck, states.Aborted, "", "")
	// The failed-files queue also holds the definition's message for a rejected file, as the fake's
	// engine (the real definition) writes it; its execution is not in moto.
	w := awsfake.NewWorld(t, workflow.Config{})
	w.Arrive(t, "incoming/settlement_detail_report_batch_91.csv", read(t, filepath.Join("..", "..", "testdata", "bad", "settlement_detail_report_batch_91_bad_rows.csv")))
	for _, body := range w.Fake.Messages(w.Stack["FailedFilesQueueUrl"]) {
		if _, err := s.SQS.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(s.Out("FailedFilesQueueUrl")), MessageBody: aws.String(body)}); err != nil {
			t.Fatal(err)
		}
	}
	s.SetEnv(t) // the fake world pointed the SDK at itself

	var transcript strings.Builder
	step := func(comment string, wantCode int, args ...string) string {
		t.Helper()
		a, out, errb := testApp(engine.RealClock{}, false, "")
		code := execute(t.Context(), append(args, "--stack", s.Name), a)
		if comment != "" {
			fmt.Fprintf(&transcript, "# %s\n", comment)
		}
		fmt.Fprintf(&transcript, "$ settle %s\n%s%s", strings.Join(args, " "), out.String(), errb.String())
		if code != wantCode {
			fmt.Fprintf(&transcript, "(exit %d)\n", code)
			t.Errorf("settle %s: exit %d, want %d:\n%s%s", strings.Join(args, " "), code, wantCode, out.String(), errb.String())
		}
		transcript.WriteString("\n")
		if strings.Contains(errb.String(), "panic") || strings.Contains(errb.String(), "goroutine") {
			t.Fatalf("settle %v: %s", args, errb.String())
		}
		return out.String() + errb.String()
	}

	out := step("Something is wrong: what, and where?", 0, "aws", "status")
	for _, want := range []string{"RUNNING now 2", "ABORTED 1", "1 message in the ingest-dlq queue", "2 messages in the failed queue"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q", want)
		}
	}
	out = step("", 0, "aws", "dlq", "list")
	for _, want := range []string{"object-created", "rejected", "status-change", "settlement_detail_report_batch_62.csv", stuck} {
		if !strings.Contains(out, want) {
			t.Errorf("dlq list lacks %q", want)
		}
	}
	out = step("Why did batch 61 stop?", 0, "aws", "show", stuck)
	if !strings.Contains(out, "ABORTED") || !strings.Contains(out, "settle aws redrive "+stuck) {
		t.Errorf("show:\n%s", out)
	}
	step("", 0, "aws", "executions", "--status", "RUNNING")
	step("Restart it (moto reports no redrive status: a new -r1 execution):", 0, "aws", "redrive", stuck, "--dry-run")
	out = step("", 0, "aws", "redrive", stuck)
	if !strings.Contains(out, stuck+"-r1") {
		t.Errorf("redrive:\n%s", out)
	}
	// Step Functions (moto too) answers a StartExecution of -r1 with its identical input while -r1 runs
	// with that execution, not an error; the restart describes the name first, so it reads "duplicate".
	out = step("The failed-files queue: batch 61 again (-r1 runs already); the rejected file's execution is not in this account:", 0, "aws", "dlq", "redrive", "failed", "--yes")
	if !strings.Contains(out, "duplicate  "+stuck+"-r1") || !strings.Contains(out, "no longer exists") || !strings.Contains(out, "incoming/settlement_detail_report_batch_91.csv") {
		t.Errorf("dlq redrive failed:\n%s", out)
	}
	out = step("moto has no StartMessageMoveTask: the ingest DLQ cannot be moved here (the fake proves the move):", 1, "aws", "dlq", "redrive", "ingest", "--yes")
	if !strings.Contains(out, "cannot move the ingest DLQ's messages") {
		t.Errorf("dlq redrive ingest:\n%s", out)
	}
	out = step("Run batch 62 from the raw bucket instead:", 0, "aws", "reprocess", "s3://"+s.Out("RawBucket")+"/incoming/settlement_detail_report_batch_62.csv")
	if !strings.Contains(out, "started") {
		t.Errorf("reprocess:\n%s", out)
	}
	// A reprocess by execution name, under a policy for this file only: moto stores the input as given.
	out = step("Batch 57 once more, by its execution's name, allowing 5 rejected rows:", 0, "aws", "reprocess", names["settlement_detail_report_batch_57.csv"], "--max-rejected", "5", "--dry-run")
	if !strings.Contains(out, "would be started  "+names["settlement_detail_report_batch_57.csv"]+"-p1  allows 5 rejected rows") {
		t.Errorf("reprocess NAME --dry-run:\n%s", out)
	}
	step("", 0, "aws", "reprocess", names["settlement_detail_report_batch_57.csv"], "--max-rejected", "5")
	out = step("", 0, "aws", "show", names["settlement_detail_report_batch_57.csv"]+"-p1", "--json")
	if !strings.Contains(out, `"policy":{"maxRejected":5}`) || !strings.Contains(out, `"status":"RUNNING"`) {
		t.Errorf("show --json of the reprocess:\n%s", out)
	}
	out = step("The aborted execution, as JSON:", 0, "aws", "executions", "--status", "ABORTED", "--json")
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, `"name":"`+stuck+`"`) {
		t.Errorf("executions --status ABORTED --json:\n%s", out)
	}
	out = step("", 1, "aws", "show", "no-such-execution")
	if !strings.Contains(out, `there is no execution named "no-such-execution"`) {
		t.Errorf("show of an unknown execution:\n%s", out)
	}
	step("All clear?", 0, "aws", "executions", "--since", "1h")
	step("", 0, "aws", "status")

	got := normalize(transcript.String(), s)
	golden := filepath.Join("testdata", "aws-walkthrough-moto.txt")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if string(want) != got {
		t.Errorf("the transcript differs from %s (rerun with -update if intended):\n%s", golden, got)
	}
}

var (
	rfc3339RE  = regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z\b`)
	durationRE = regexp.MustCompile(`-?\b(\d+(\.\d+)?(h|m|s|ms|µs|ns))+\b`)
	uuidRE     = regexp.MustCompile(`\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)
	spacesRE   = regexp.MustCompile(` {2,}`)
	stackRE    = regexp.MustCompile(`settle-\d+`)
)

// normalize replaces what differs from run to run on moto: the stack's physical names (its outputs),
// times, durations, message ids; and column padding, which follows their widths.
func normalize(s string, st *motostack.Stack) string {
	keys := make([]string, 0, len(st.Outputs))
	for k := range st.Outputs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(st.Outputs[keys[i]]) > len(st.Outputs[keys[j]]) })
	for _, k := range keys {
		if v := st.Outputs[k]; len(v) > 8 {
			s = strings.ReplaceAll(s, v, "<"+k+">")
		}
	}
	arn := st.Out("StateMachineArn")
	s = strings.ReplaceAll(s, arn[strings.LastIndex(arn, ":")+1:], "<machine>")
	s = stackRE.ReplaceAllString(s, "<stack>")
	s = rfc3339RE.ReplaceAllString(s, "<time>")
	s = uuidRE.ReplaceAllString(s, "<id>")
	s = durationRE.ReplaceAllString(s, "<d>")
	return spacesRE.ReplaceAllString(s, "  ")
}
