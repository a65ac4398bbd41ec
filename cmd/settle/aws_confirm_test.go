package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/testkit/awsfake"
	"github.com/paysettle/settle/internal/workflow"
)

// changesMade counts the calls that change the stack: executions started or redriven, messages deleted
// or moved, replays started.
func changesMade(w *awsfake.World) int {
	n := 0
	for _, c := range w.Fake.Calls() {
		switch c {
		case "AWSStepFunctions.StartExecution", "AWSStepFunctions.RedriveExecution", "AmazonSQS.DeleteMessage",
			"AmazonSQS.StartMessageMoveTask", "AWSEvents.StartReplay":
			n++
		}
	}
	return n
}

func genReport(t *testing.T, batch int64, seed uint64, rows int) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := gen.Write(&b, gen.Config{Rows: rows, Seed: seed, Batch: batch, SettlementDate: "2024-05-06"}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// troubledWorld is a stack with something for each confirmed command to do: a file failed on an
// infrastructure error, a rejected file in the failed-files DLQ, an event in the ingest DLQ, a
// regenerated report of a committed batch, and a morning of archived events.
func troubledWorld(t *testing.T) *awsfake.World {
	t.Helper()
	w := awsfake.NewWorld(t, workflow.Config{})
	if r := w.Arrive(t, "incoming/batch_1.csv", genReport(t, 1, 1, 40)); r.Status != local.Succeeded {
		t.Fatalf("batch 1: %s %s", r.Status, r.Error)
	}
	if r := w.Arrive(t, "incoming/bad.csv", []byte("not,a,report\n1,2,3\n")); r.Status != local.Failed {
		t.Fatalf("bad: %s", r.Status)
	}
	w.Faults.Set("settlement_lines/", -1)
	if r := w.Arrive(t, "incoming/batch_2.csv", genReport(t, 2, 2, 40)); r.Status != local.Failed {
		t.Fatalf("batch 2: %s", r.Status)
	}
	w.Faults.Set("settlement_lines/", 0)
	lost := w.Upload(t, "incoming/batch_3.csv", genReport(t, 3, 3, 30))
	w.Fake.Send(w.Stack["IngestDeadLetterQueueUrl"], local.ObjectCreatedMessage(lost, w.Clock.Now(), 99).Body)
	w.Upload(t, "incoming/batch_1_v2.csv", genReport(t, 1, 11, 45))
	w.Clock.Advance(2 * time.Hour) // the morning's events are all archived
	return w
}

// TestAWSConfirmations: each command that changes many things or replaces data shows its plan and asks
// on a terminal (y goes ahead, anything else changes nothing), refuses without a terminal unless --yes
// (exit status 2, saying so), and never asks with --dry-run.
func TestAWSConfirmations(t *testing.T) {
	commands := []struct {
		name string
		args []string
		plan string // what the plan shows
	}{
		{"redrive all failed", []string{"aws", "redrive", "--all-failed"}, "would be redriven"},
		{"dlq redrive failed", []string{"aws", "dlq", "redrive", "failed"}, "would be started"},
		{"dlq redrive ingest", []string{"aws", "dlq", "redrive", "ingest"}, "move 1 message"},
		{"reprocess --replace", []string{"aws", "reprocess", "s3://raw/incoming/batch_1_v2.csv", "--replace"}, "replaces the batch's committed file"},
		{"replay", []string{"aws", "replay", "--from", "2024-05-07T08:00:00Z", "--to", "2024-05-07T10:00:00Z"}, "1 rejected on a data error"},
	}
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			cases := []struct {
				how        string
				onTerminal bool
				input      string
				extra      []string
				code       int
				stderr     string
				changed    bool
			}{
				{"no terminal", false, "", nil, 2, "pass --yes to go ahead", false},
				{"declined", true, "n\n", nil, 1, "cancelled; nothing was changed", false},
				{"no answer", true, "", nil, 1, "cancelled; nothing was changed", false},
				{"confirmed", true, "y\n", nil, 0, "[y/N]", true},
				{"--yes", false, "", []string{"--yes"}, 0, "", true},
				{"--dry-run", true, "y\n", []string{"--dry-run"}, 0, "", false},
			}
			for _, k := range cases {
				w := troubledWorld(t)
				before := changesMade(w)
				out, errOut, code := cliInput(w, k.onTerminal, k.input, append(append([]string{}, c.args...), k.extra...)...)
				if code != k.code || !strings.Contains(errOut, k.stderr) {
					t.Errorf("%s: exit %d, stderr %q; want exit %d and %q", k.how, code, errOut, k.code, k.stderr)
				}
				if changed := changesMade(w) > before; changed != k.changed {
					t.Errorf("%s: changed the stack: %v, want %v\n%s", k.how, changed, k.changed, out)
				}
				asked := strings.Contains(errOut, "[y/N]")
				if asked != (k.onTerminal && len(k.extra) == 0) {
					t.Errorf("%s: asked %v", k.how, asked)
				}
				if k.how != "--yes" && !strings.Contains(strings.ToLower(out), c.plan) {
					t.Errorf("%s: the plan does not say %q:\n%s", k.how, c.plan, out)
				}
			}
		})
	}
}

// TestAWSConfirmationNotNeeded: a plan that changes nothing asks nothing (here: every failed execution is
// a rejected file, which --all-failed skips).
func TestAWSConfirmationNotNeeded(t *testing.T) {
	w := awsfake.NewWorld(t, workflow.Config{})
	w.Arrive(t, "incoming/bad.csv", []byte("not,a,report\n1,2,3\n"))
	w.Arrive(t, "incoming/bad2.csv", []byte("not,a,report\n4,5,6\n"))
	out, errOut, code := cli(w, "aws", "redrive", "--all-failed")
	if code != 0 || errOut != "" || !strings.Contains(out, "skipped") || changesMade(w) != 0 {
		t.Errorf("exit %d, stderr %q, %d changes:\n%s", code, errOut, changesMade(w), out)
	}
}
