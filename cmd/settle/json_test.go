package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/engine"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/testkit/awsfake"
)

// jsonLines parses stdout as JSON objects, one a line (a command that reports one thing prints one
// line), failing the test on anything else on stdout.
func jsonLines(t *testing.T, what, stdout string) []map[string]any {
	t.Helper()
	var out []map[string]any
	if stdout == "" {
		return nil
	}
	for _, l := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%s: stdout is not JSON lines: %v\n%s", what, err, stdout)
		}
		out = append(out, m)
	}
	return out
}

// settleJSON runs a command line (with --json) on the wall clock, wants its exit status and returns
// its stdout as JSON lines.
func settleJSON(t *testing.T, want int, args ...string) []map[string]any {
	t.Helper()
	a, out, errb := testApp(engine.RealClock{}, false, "")
	args = append(args, "--json")
	what := "settle " + strings.Join(args, " ")
	if code := execute(t.Context(), args, a); code != want {
		t.Fatalf("%s: exit %d, want %d\n%s%s", what, code, want, out, errb)
	}
	return jsonLines(t, what, out.String())
}

// awsJSON is settleJSON against the fake AWS world, with input on a terminal or not.
func awsJSON(t *testing.T, w *awsfake.World, onTerminal bool, input string, want int, args ...string) ([]map[string]any, string) {
	t.Helper()
	args = append(append([]string{"aws"}, args...), "--json")
	what := "settle " + strings.Join(args, " ")
	stdout, stderr, code := cliInput(w, onTerminal, input, args...)
	if code != want {
		t.Fatalf("%s: exit %d, want %d\n%s%s", what, code, want, stdout, stderr)
	}
	return jsonLines(t, what, stdout), stderr
}

// one wants exactly one JSON object.
func one(t *testing.T, what string, list []map[string]any) map[string]any {
	t.Helper()
	if len(list) != 1 {
		t.Fatalf("%s: %d JSON objects, want 1: %v", what, len(list), list)
	}
	return list[0]
}

func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// TestLocalJSON: status, dlq list, dlq show, redrive, reprocess and ledger --rebuild take --json on a
// data folder: JSON only on stdout, with the values the text prints, and the exit statuses of the text.
func TestLocalJSON(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if out, code := localCLI("run", "--data", data, "../../testdata/sample", "../../testdata/bad"); code != 1 {
		t.Fatalf("run: %d\n%s", code, out)
	}
	const rejected, unbalanced = "3fde3b99a6baa7a1245af073c8edd8b4", "908263f885fb01d1d1ad04fbddf280e9"

	st := one(t, "status", settleJSON(t, 0, "status", "--data", data))
	counts, _ := st["counts"].(map[string]any)
	queues, _ := st["queues"].([]any)
	failedList, _ := st["failed"].([]any)
	if str(st["where"]) != "Data folder "+data || st["since"] != nil || st["stack"] != nil || num(counts["FAILED"]) != 3 || num(counts["SUCCEEDED"]) != 2 ||
		num(counts["RUNNING"]) != 0 || len(queues) != 1 || len(failedList) != 3 || num(st["unresolved"]) != 3 {
		t.Errorf("status --json: %v", st)
	}
	if q, _ := queues[0].(map[string]any); str(q["name"]) != "failed" || num(q["waiting"]) != 3 || !strings.Contains(str(q["meaning"]), "settle dlq list failed --data "+data) {
		t.Errorf("status --json queue: %v", queues[0])
	}
	if st := one(t, "status --since", settleJSON(t, 0, "status", "--data", data, "--since", "1h")); st["since"] == nil {
		t.Errorf("status --since 1h --json has no since: %v", st)
	}

	msgs := settleJSON(t, 0, "dlq", "list", "--data", data)
	var id string
	for _, m := range msgs {
		if str(m["queue"]) != "failed" || str(m["kind"]) != "rejected" || str(m["id"]) == "" || str(m["sent"]) == "" {
			t.Errorf("dlq list --json: %v", m)
		}
		if str(m["execution"]) == rejected {
			id = str(m["id"])
		}
	}
	if len(msgs) != 3 || id == "" {
		t.Fatalf("dlq list --json: %d messages, that of %s %q", len(msgs), rejected, id)
	}
	m := one(t, "dlq show", settleJSON(t, 0, "dlq", "show", id, "--data", data))
	body, _ := m["body"].(map[string]any)
	if str(m["id"]) != id || str(m["step"]) != "Validate" || str(m["error"]) != "ValidationError" || body == nil ||
		str(m["redrive"]) != "settle dlq redrive failed --data "+data+" "+id ||
		!strings.Contains(str(m["fix"]), "settle reprocess "+rejected+" --data "+data+" --max-rejected 13") ||
		!strings.Contains(str(m["cause"]), filepath.Join(data, "raw", "incoming")) {
		t.Errorf("dlq show --json: %v", m)
	}

	// A rejected file is not redriven (exit status 1), with what lets it through.
	a := one(t, "redrive", settleJSON(t, 1, "redrive", rejected, "--data", data))
	if str(a["execution"]) != rejected || str(a["outcome"]) != "skipped" || a["dry_run"] != nil ||
		!strings.Contains(str(a["advice"]), "settle reprocess "+rejected+" --data "+data+" --max-rejected 13") {
		t.Errorf("redrive --json: %v", a)
	}
	all := settleJSON(t, 0, "redrive", "--all-failed", "--dry-run", "--data", data)
	for _, a := range all {
		if str(a["outcome"]) != "skipped" || a["dry_run"] != true {
			t.Errorf("redrive --all-failed --dry-run --json: %v", a)
		}
	}
	if len(all) != 3 {
		t.Errorf("redrive --all-failed --dry-run --json: %d objects, want 3", len(all))
	}

	// The reprocess runs to its end locally: its result is settle run --json's.
	a = one(t, "reprocess", settleJSON(t, 0, "reprocess", rejected, "--max-rejected", "13", "--data", data))
	r, _ := a["result"].(map[string]any)
	if str(a["outcome"]) != "started" || str(a["target"]) != rejected+"-p1" || str(a["note"]) != "allows 13 rejected rows" ||
		str(r["status"]) != local.Succeeded || num(r["rows_written"]) != 2 || num(r["rows_rejected"]) != 13 {
		t.Errorf("reprocess --json: %v", a)
	}
	a = one(t, "reprocess --dry-run", settleJSON(t, 0, "reprocess", unbalanced, "--dry-run", "--data", data))
	if str(a["outcome"]) != "started" || a["dry_run"] != true || a["result"] != nil {
		t.Errorf("reprocess --dry-run --json: %v", a)
	}
	// Rejected again: exit status 1, as the text.
	a = one(t, "reprocess again", settleJSON(t, 1, "reprocess", unbalanced, "--data", data))
	if r, _ := a["result"].(map[string]any); str(r["status"]) != local.Failed || str(r["error_type"]) != "ValidationError" {
		t.Errorf("reprocess --json of a file rejected again: %v", a)
	}

	l := one(t, "ledger --rebuild", settleJSON(t, 0, "ledger", "--rebuild", "--data", data))
	if num(l["accounts"]) != 1 || num(l["batches"]) != 3 || num(l["rewritten"]) != 0 || num(l["removed"]) != 0 {
		t.Errorf("ledger --rebuild --json: %v", l)
	}

	// A confirmed plan goes to stderr with its question: stdout holds only JSON.
	aa, out, errb := testApp(engine.RealClock{}, false, "")
	if code := execute(t.Context(), []string{"reprocess", rejected, "--replace", "--json", "--data", data}, aa); code != 2 ||
		out.Len() != 0 || !strings.Contains(errb.String(), "Plan (nothing is changed until you confirm)") || !strings.Contains(errb.String(), "pass --yes") {
		t.Errorf("reprocess --replace --json without a terminal: exit %d\nstdout %q\nstderr %q", code, out, errb)
	}
}

// TestAWSJSON: the same on a stack, against the fake AWS: status, dlq list and show, redrive (one, a
// rejected one, and all with a plan confirmed on a terminal), reprocess and ledger --rebuild.
func TestAWSJSON(t *testing.T) {
	w := troubledWorld(t)
	st := one(t, "status", func() []map[string]any { l, _ := awsJSON(t, w, false, "", 0, "status"); return l }())
	stack, _ := st["stack"].(map[string]any)
	counts, _ := st["counts"].(map[string]any)
	queues := map[string]int{}
	if qs, ok := st["queues"].([]any); ok {
		for _, q := range qs {
			q, _ := q.(map[string]any)
			queues[str(q["name"])] = num(q["waiting"])
		}
	}
	if str(stack["name"]) != "settle" || str(stack["region"]) != awsfake.Region || !strings.HasPrefix(str(st["where"]), "Stack settle in eu-west-1") ||
		st["since"] == nil || num(counts["FAILED"]) != 2 || num(counts["SUCCEEDED"]) != 1 || queues["ingest-dlq"] != 1 || queues["failed"] != 1 ||
		num(st["unresolved"]) != 2 {
		t.Errorf("aws status --json: %v", st)
	}
	var stuck, bad string
	failedList, _ := st["failed"].([]any)
	for _, x := range failedList {
		x, _ := x.(map[string]any)
		file, _ := x["file"].(map[string]any)
		switch str(file["key"]) {
		case "incoming/batch_2.csv":
			stuck = str(x["name"])
		case "incoming/bad.csv":
			bad = str(x["name"])
		}
	}
	if stuck == "" || bad == "" {
		t.Fatalf("aws status --json: failed %v", failedList)
	}

	msgs, _ := awsJSON(t, w, false, "", 0, "dlq", "list")
	ids := map[string]string{}
	for _, m := range msgs {
		ids[str(m["kind"])] = str(m["id"])
	}
	if len(msgs) != 2 || ids["object-created"] == "" || ids["rejected"] == "" {
		t.Fatalf("aws dlq list --json: %v", msgs)
	}
	l, _ := awsJSON(t, w, false, "", 0, "dlq", "show", ids["rejected"])
	m := one(t, "aws dlq show", l)
	if str(m["queue"]) != "failed" || str(m["execution"]) != bad || str(m["redrive"]) != "settle aws dlq redrive failed "+ids["rejected"] ||
		!strings.HasPrefix(str(m["cause"]), "s3://raw/incoming/bad.csv") || m["body"] == nil {
		t.Errorf("aws dlq show --json: %v", m)
	}
	l, _ = awsJSON(t, w, false, "", 0, "dlq", "show", ids["object-created"])
	if m := one(t, "aws dlq show", l); str(m["queue"]) != "ingest-dlq" || str(m["redrive"]) != "settle aws dlq redrive ingest" {
		t.Errorf("aws dlq show --json of the ingest DLQ: %v", m)
	}

	before := changesMade(w)
	l, _ = awsJSON(t, w, false, "", 0, "redrive", stuck, "--dry-run")
	if a := one(t, "aws redrive --dry-run", l); str(a["outcome"]) != "redriven" || a["dry_run"] != true || str(a["target"]) != stuck || changesMade(w) != before {
		t.Errorf("aws redrive --dry-run --json: %v (%d changes)", a, changesMade(w)-before)
	}
	l, _ = awsJSON(t, w, false, "", 1, "redrive", bad)
	if a := one(t, "aws redrive", l); str(a["outcome"]) != "skipped" || str(a["advice"]) == "" {
		t.Errorf("aws redrive --json of a rejected file: %v", a)
	}
	// Confirmed on a terminal: the plan and the question on stderr, what was done as JSON on stdout.
	l, stderr := awsJSON(t, w, true, "y\n", 0, "redrive", "--all-failed")
	outcomes := map[string]string{}
	for _, a := range l {
		outcomes[str(a["execution"])] = str(a["outcome"])
		if a["dry_run"] != nil {
			t.Errorf("aws redrive --all-failed --json: %v", a)
		}
	}
	if outcomes[stuck] != "redriven" || outcomes[bad] != "skipped" || !strings.Contains(stderr, "would be redriven") || !strings.Contains(stderr, "[y/N]") {
		t.Errorf("aws redrive --all-failed --json: %v\nstderr:\n%s", outcomes, stderr)
	}

	l, _ = awsJSON(t, w, false, "", 0, "reprocess", "s3://raw/incoming/batch_1_v2.csv", "--replace", "--yes")
	if a := one(t, "aws reprocess", l); str(a["outcome"]) != "started" || !strings.HasSuffix(str(a["target"]), "-p1") || a["result"] != nil {
		t.Errorf("aws reprocess --json: %v", a)
	}

	w.MirrorProcessed(t)
	l, _ = awsJSON(t, w, false, "", 0, "ledger", "--rebuild")
	if r := one(t, "aws ledger --rebuild", l); num(r["accounts"]) != 1 || num(r["batches"]) < 1 {
		t.Errorf("aws ledger --rebuild --json: %v", r)
	}
}
