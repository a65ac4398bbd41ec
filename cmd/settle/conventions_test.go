package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestEveryCommandHasHelpWithExamples: every command of the tree (the aws ones too) answers --help on
// stdout with exit status 0, a usage line and examples; cobra's own completion and help commands
// excepted.
func TestEveryCommandHasHelpWithExamples(t *testing.T) {
	a, _, _ := testApp(newTestClock(), false, "")
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		if c.Name() == "completion" || c.Name() == "help" {
			return
		}
		paths = append(paths, path)
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string{}, path...), sub.Name()))
		}
	}
	walk(newRoot(a), nil)
	if len(paths) < 25 {
		t.Fatalf("only %d commands: %v", len(paths), paths)
	}
	for _, p := range paths {
		for _, help := range []string{"--help", "-h"} {
			a, out, errb := testApp(newTestClock(), false, "")
			code := execute(t.Context(), append(append([]string{}, p...), help), a)
			name := strings.Join(append([]string{"settle"}, p...), " ")
			if code != 0 || errb.Len() > 0 || !strings.Contains(out.String(), "Usage:\n  "+name) || !strings.Contains(out.String(), "Examples:\n  ") {
				t.Errorf("%s %s: exit %d, stderr %q, stdout:\n%s", name, help, code, errb, out)
			}
		}
	}
}

// TestCommandLineConventions: flags before or after arguments, --version, completion, and exit status 2
// with one line naming the problem for every usage error.
func TestCommandLineConventions(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if out, code := localCLI("run", "--data", data, "../../testdata/sample"); code != 0 {
		t.Fatalf("run: %d\n%s", code, out)
	}
	cases := []struct {
		args []string
		code int
		want string
	}{
		// Flags after arguments (settle run FILE --json was "stat --json: no such file").
		{[]string{"run", "../../testdata/sample", "--json", "--data", data}, 0, `"status":"DUPLICATE"`},
		{[]string{"redrive", "dbb8e651909be6dcdda3de38fa9b00a0", "--data", data}, 1, "execution dbb8e651909be6dcdda3de38fa9b00a0 is SUCCEEDED; only FAILED, TIMED_OUT or ABORTED executions are redriven"},
		{[]string{"show", "dbb8e651909be6dcdda3de38fa9b00a0", "--data", data, "--json"}, 0, `"status":"SUCCEEDED"`},
		{[]string{"--version"}, 0, "settle "},
		{[]string{"completion", "bash"}, 0, "bash completion"},
		{[]string{"zones", "--help"}, 0, "Usage:\n  settle zones"},
		{[]string{"dump", "--help"}, 0, "Usage:\n  settle dump FILE.parquet"},
		// Usage errors: exit status 2.
		{[]string{"restart"}, 2, `settle: unknown command "restart" for settle`},
		{[]string{"aws", "restart"}, 2, `settle: unknown command "restart" for settle aws`},
		{[]string{"run", "--frobnicate", "x.csv"}, 2, "settle: unknown flag: --frobnicate (see settle run --help)"},
		{[]string{"run"}, 2, "settle: settle run: name at least one file or folder"},
		{[]string{"show", "--data", data}, 2, "settle: settle show: name one execution (settle executions lists them)"},
		{[]string{"redrive", "--data", data}, 2, "name one execution, or pass --all-failed"},
		{[]string{"executions", "--data", data, "--status", "BROKEN"}, 2, "--status BROKEN is not an execution status"},
		{[]string{"executions", "--data", data, "--since", "yesterday"}, 2, `--since "yesterday" is not a time`},
		{[]string{"reprocess", "x", "--data", data, "--balance-check", "maybe"}, 2, `--balance-check "maybe": want on or off`},
		{[]string{"reprocess", "x", "--data", data, "--max-rejected", "-1"}, 2, "--max-rejected -1: want a whole number >= 0"},
		{[]string{"dlq", "list", "orders", "--data", data}, 2, `the queue is ingest or failed, not "orders"`},
		{[]string{"ledger", "--data", data}, 2, "pass --rebuild"},
		{[]string{"batches", "ack", "--data", data, "--batch", "3"}, 2, "name the merchant account with --merchant"},
		// Failures: exit status 1, in local words.
		{[]string{"show", "nosuchexec", "--data", data}, 1, "settle: there is no execution named \"nosuchexec\" in " + data + "; settle executions --data " + data + " lists them"},
		{[]string{"reprocess", "nosuch", "--data", data}, 1, "settle: no file or execution named nosuch (see settle executions --data " + data + ")"},
		{[]string{"dlq", "list", "ingest", "--data", data}, 1, "the local pipeline has no ingest dead-letter queue"},
		{[]string{"dlq", "show", "42", "--data", data}, 1, "settle: no message 42 in the dead-letter queues (it may have been redriven or deleted); settle dlq list --data " + data + " shows what is there"},
		{[]string{"dump", "../../testdata/sample/settlement_detail_report_batch_57.csv"}, 1, "settlement_detail_report_batch_57.csv is not a Parquet file"},
		{[]string{"executions", "--data", filepath.Join(dir, "nonexistent")}, 1, "settle: no data folder " + filepath.Join(dir, "nonexistent") + ": settle run makes it"},
		{[]string{"status", "--data", dir}, 1, "is not a data folder: it has no raw/"},
	}
	for _, c := range cases {
		a, out, errb := testApp(newTestClock(), false, "")
		code := execute(t.Context(), c.args, a)
		got := out.String() + errb.String()
		if code != c.code || !strings.Contains(got, c.want) {
			t.Errorf("settle %s: exit %d, want %d and %q; got:\n%s", strings.Join(c.args, " "), code, c.code, c.want, got)
		}
		if c.code != 0 && (strings.Count(strings.TrimSpace(errb.String()), "\n") > 0 || !strings.HasPrefix(errb.String(), "settle: ")) {
			t.Errorf("settle %s: stderr is not one line: %q", strings.Join(c.args, " "), errb)
		}
	}
}

// TestReadOnlyCommandsMakeNothing: the commands that read a data folder, given one that does not exist,
// fail and leave no folder behind (settle executions --data /nonexistent made four).
func TestReadOnlyCommandsMakeNothing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for _, args := range [][]string{
		{"status"}, {"executions"}, {"show", "x"}, {"redrive", "x"}, {"reprocess", "x"}, {"dlq", "list"}, {"dlq", "show", "x"},
		{"dlq", "redrive", "failed", "--yes"}, {"batches"}, {"batches", "check"}, {"ledger", "--rebuild"},
		{"batches", "ack", "--merchant", "M", "--batch", "1", "--by", "me", "--reason", "r"},
	} {
		out, code := localCLI(append(args, "--data", missing)...)
		if code != 1 || !strings.Contains(out, "no data folder "+missing) {
			t.Errorf("settle %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
		if _, err := os.Stat(missing); !os.IsNotExist(err) {
			t.Fatalf("settle %s made %s", strings.Join(args, " "), missing)
		}
	}
}

// lineWatcher is stdout that records, at each line of the run's table, how many executions the data
// folder holds: a line printed as its file ends sees only the executions up to that file.
type lineWatcher struct {
	dir  string
	buf  bytes.Buffer
	seen map[string]int
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	w.buf.Write(p)
	for _, l := range strings.Split(string(p), "\n") {
		if f := strings.Fields(l); len(f) > 2 && strings.HasSuffix(f[0], ".csv") {
			n, _ := filepath.Glob(filepath.Join(w.dir, "executions", "*.json"))
			w.seen[filepath.Base(f[0])] = len(n)
		}
	}
	return len(p), nil
}

// TestRunPrintsEachFileAsItEnds: the table is streamed: each file's line is written before the next
// file starts (settle run printed nothing until every file was done).
func TestRunPrintsEachFileAsItEnds(t *testing.T) {
	data := t.TempDir()
	a, _, errb := testApp(newTestClock(), false, "")
	w := &lineWatcher{dir: data, seen: map[string]int{}}
	a.stdout = w
	if code := execute(t.Context(), []string{"run", "--data", data, "../../testdata/sample", "../../testdata/bad"}, a); code != 1 {
		t.Fatalf("exit %d\n%s%s", code, &w.buf, errb)
	}
	for i, f := range []string{"settlement_detail_report_batch_57.csv", "settlement_detail_report_batch_58.csv", "payments_export.csv",
		"settlement_detail_report_batch_91_bad_rows.csv", "settlement_detail_report_batch_92_unbalanced.csv"} {
		if w.seen[f] != i+1 {
			t.Errorf("%s's line was printed with %d executions in the data folder, want %d", f, w.seen[f], i+1)
		}
	}
}

// TestRunJSONCarriesWarningsAndTotals: --json has each file's warnings and totals per currency, as lists
// (never null).
func TestRunJSONCarriesWarningsAndTotals(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "cut.csv")
	// The first 999 rows of a batch, cut at a line boundary: no payout row, committed with warnings.
	lines := strings.SplitAfter(string(read(t, sample58)), "\n")
	if err := os.WriteFile(report, []byte(strings.Join(lines[:1000], "")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := localCLI("run", "--data", filepath.Join(dir, "data"), "--json", report, "../../testdata/sample/settlement_detail_report_batch_57.csv")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	var results []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		results = append(results, m)
	}
	ws, _ := results[0]["warnings"].([]any)
	cs, _ := results[0]["currencies"].([]any)
	if len(ws) == 0 || ws[0].(map[string]any)["rule"] != "no_payout" || len(cs) == 0 {
		t.Errorf("the cut report's warnings %v, currencies %v", results[0]["warnings"], results[0]["currencies"])
	}
	if ws, ok := results[1]["warnings"].([]any); !ok || len(ws) != 0 {
		t.Errorf("batch 57's warnings: %v, want []", results[1]["warnings"])
	}
	// The table shows them too: the count and the first.
	out, _ = localCLI("run", "--data", filepath.Join(dir, "data2"), report)
	if !strings.Contains(out, "SUCCEEDED") || !strings.Contains(out, " no_payout: ") {
		t.Errorf("the table lacks the warnings:\n%s", out)
	}
}

// TestLocalErrorsSpeakLocally: a file over MAX_FILE_BYTES is rejected with the environment variable's
// name (not the stack's parameter) and the data folder's path (not s3://raw/…), and show's advice
// names that variable.
func TestLocalErrorsSpeakLocally(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	// The limit is the environment's, for the run and for the operator alike (a reprocess runs under it).
	cli := func(args ...string) (string, int) {
		a, out, errb := testApp(newTestClock(), false, "")
		a.getenv = func(k string) string {
			if k == "MAX_FILE_BYTES" {
				return "1000"
			}
			return os.Getenv(k)
		}
		code := execute(t.Context(), args, a)
		return out.String() + errb.String(), code
	}
	out, code := cli("run", "--data", data, sample58)
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	want := "InvalidFileError: " + filepath.Join(data, "raw", "incoming", "settlement_detail_report_batch_58.csv") + ": the file is 336340 bytes, over the limit of 1000 (MAX_FILE_BYTES); ask the provider"
	if flat := strings.Join(strings.Fields(out), " "); !strings.Contains(flat, want) || strings.Contains(out, "MaxFileBytes") || strings.Contains(out, "s3://") {
		t.Errorf("run:\n%s\nwant %q", out, want)
	}
	o, code := cli("show", "feca796837a8d9200682d48ab86940f0", "--data", data)
	if code != 0 || !strings.Contains(o, "or raise MAX_FILE_BYTES and run settle reprocess feca796837a8d9200682d48ab86940f0 --data "+data) ||
		strings.Contains(o, "MaxFileBytes") || strings.Contains(o, "Failed at Rejected") || !strings.Contains(o, "Failed at Check") {
		t.Errorf("show:\n%s", o)
	}
}
