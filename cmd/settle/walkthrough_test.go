package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/gen"
)

// transcript runs settle commands in a folder holding the repository's testdata (as testdata/) and
// records them, as a person at a shell would see them: the command line, stdout, stderr, and the exit
// status when it is not 0. The app's clock is a test clock, so the transcript is the same every time.
type transcript struct {
	t     *testing.T
	clock *testClock
	b     strings.Builder
}

func newTranscript(t *testing.T) *transcript {
	t.Helper()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(repo, "testdata"), filepath.Join(dir, "testdata")); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	return &transcript{t: t, clock: newTestClock()}
}

// comment adds a line of explanation.
func (s *transcript) comment(format string, a ...any) {
	fmt.Fprintf(&s.b, "# "+format+"\n", a...)
}

// run runs a command that must exit with want; it returns stdout and stderr together.
func (s *transcript) run(want int, args ...string) string {
	s.t.Helper()
	a, out, errb := testApp(s.clock, false, "")
	code := execute(s.t.Context(), args, a)
	fmt.Fprintf(&s.b, "$ settle %s\n%s%s", strings.Join(quoteArgs(args), " "), out, errb)
	if code != 0 {
		fmt.Fprintf(&s.b, "(exit status %d)\n", code)
	}
	s.b.WriteString("\n")
	if code != want {
		s.t.Errorf("settle %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, errb)
	}
	if strings.Contains(errb.String(), "panic") || strings.Contains(errb.String(), "goroutine") {
		s.t.Fatalf("settle %v: %s", args, errb)
	}
	return out.String() + errb.String()
}

// quiet runs a command as run does, without recording it (output too wide for the docs).
func (s *transcript) quiet(want int, args ...string) string {
	s.t.Helper()
	a, out, errb := testApp(s.clock, false, "")
	if code := execute(s.t.Context(), args, a); code != want {
		s.t.Errorf("settle %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, errb)
	}
	return out.String() + errb.String()
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \"'") {
			a = "'" + a + "'"
		}
		out[i] = a
	}
	return out
}

func (s *transcript) contains(out string, want ...string) {
	s.t.Helper()
	flat := strings.Join(strings.Fields(out), " ") // a file's error line is wrapped under its row
	for _, w := range want {
		if !strings.Contains(out, w) && !strings.Contains(flat, w) {
			s.t.Errorf("the output lacks %q:\n%s", w, out)
		}
	}
}

// writeReport writes a generated report.
func writeReport(t *testing.T, path string, cfg gen.Config) {
	t.Helper()
	var b bytes.Buffer
	if _, err := gen.Write(&b, cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

const badRows = "3fde3b99a6baa7a1245af073c8edd8b4" // testdata/bad/settlement_detail_report_batch_91_bad_rows.csv

// TestRejectedFileTranscript: a file rejected for 13 bad rows is found (run, status), understood (show:
// the step, the cause laid out, the reprocess command that lets it through), not redriven (redrive says
// why and what can), reprocessed allowing those rows, and then committed (show: the manifest, with the
// policy it ran under); a delivery of it later is a duplicate. The transcript is
// testdata/rejected-file.txt, which docs/operations.md quotes.
func TestRejectedFileTranscript(t *testing.T) {
	s := newTranscript(t)
	s.comment("Overnight, batch 91 arrived with bad rows.")
	out := s.run(1, "run", "testdata/bad/settlement_detail_report_batch_91_bad_rows.csv")
	s.contains(out, "FAILED", badRows, "settle show NAME explains a failed file")
	s.comment("Found: what needs attention?")
	out = s.run(0, "status")
	s.contains(out, "1 message in the failed queue (settle dlq list failed)", "1 failed execution (settle executions --status FAILED)")
	s.run(0, "executions", "--status", "FAILED")
	s.comment("Understood: which step, why, and what to do.")
	out = s.run(0, "show", badRows)
	s.contains(out, "Failed at Validate", "13 of 15 rows rejected", "settle-data/processed/rejected/", "settle reprocess "+badRows+" --max-rejected 13")
	s.comment("A redrive cannot change a rejection, and says what can.")
	out = s.run(1, "redrive", badRows)
	s.contains(out, "cannot change the outcome", "settle reprocess "+badRows+" --max-rejected 13")
	s.comment("Delivered again, with MAX_REJECTED_ROWS=20 in the shell or not, the same bytes stay rejected: the starter never reruns a rejection.")
	out = s.run(1, "run", "testdata/bad/settlement_detail_report_batch_91_bad_rows.csv")
	s.contains(out, "(rejected before, not run again: settle reprocess "+badRows+" runs it again)")
	s.comment("Finance accepts the batch without its 13 bad rows: reprocess it allowing them.")
	out = s.run(0, "reprocess", badRows, "--max-rejected", "13")
	s.contains(out, "started  "+badRows+"-p1  allows 13 rejected rows", "SUCCEEDED", "Totals per currency")
	out = s.run(0, "show", badRows+"-p1")
	s.contains(out, "allows 13 rejected rows", "policy    at most 13 rejected rows", "2 written, 13 rejected")
	s.comment("The same file delivered again is a duplicate of what the reprocess committed.")
	out = s.run(0, "run", "testdata/bad/settlement_detail_report_batch_91_bad_rows.csv")
	s.contains(out, "DUPLICATE  "+badRows+"-p1")
	s.comment("Its message in the failed-files queue goes once what it names is processed.")
	s.run(0, "dlq", "list")
	out = s.run(0, "dlq", "redrive", "failed", "--yes")
	s.contains(out, "duplicate  "+badRows+"-p1  processed since by "+badRows+"-p1")
	out = s.run(0, "status")
	s.contains(out, "processed by "+badRows+"-p1", "Nothing needs attention")
	golden(t, filepath.Join(repoRoot, "cmd/settle/testdata/rejected-file.txt"), s.b.String())
}

// TestRegeneratedBatchTranscript: a regenerated report of a committed batch is a ConflictError naming
// both files; show says so and prints the reprocess --replace that replaces the committed file; the
// replace asks first (without a terminal it needs --yes), then commits the new file (show: revision 1,
// replacing the old one). The transcript is testdata/regenerated-batch.txt.
func TestRegeneratedBatchTranscript(t *testing.T) {
	s := newTranscript(t)
	writeReport(t, "reports/settlement_detail_report_batch_61.csv", gen.Config{Rows: 40, Seed: 7, Batch: 61, SettlementDate: "2024-05-06"})
	writeReport(t, "reports/settlement_detail_report_batch_61_v2.csv", gen.Config{Rows: 41, Seed: 8, Batch: 61, SettlementDate: "2024-05-06"})
	s.comment("Batch 61 is committed; Adyen then regenerates it.")
	s.run(0, "run", "reports/settlement_detail_report_batch_61.csv")
	out := s.run(1, "run", "reports/settlement_detail_report_batch_61_v2.csv")
	s.contains(out, "ConflictError", "was already committed from settle-data/raw/incoming/settlement_detail_report_batch_61.csv")
	name := field(out, "reports/settlement_detail_report_batch_61_v2.csv", 2)
	out = s.run(0, "show", name)
	s.contains(out, "Failed at Check", "settle reprocess "+name+" --replace")
	s.comment("Replace the committed file with the regenerated one (in a script: --yes; on a terminal it asks).")
	out = s.run(2, "reprocess", name, "--replace")
	s.contains(out, "would be started", "pass --yes")
	out = s.run(0, "reprocess", name, "--replace", "--yes")
	s.contains(out, "replaces the batch's committed file", "SUCCEEDED", name+"-p1", "41")
	out = s.run(0, "show", name+"-p1")
	s.contains(out, "replacing settle-data/raw/incoming/settlement_detail_report_batch_61.csv (revision 1)", "41 written")
	s.run(0, "batches")
	golden(t, filepath.Join(repoRoot, "cmd/settle/testdata/regenerated-batch.txt"), s.b.String())
}

// field is the n-th field (from 0) of the line of out that starts with prefix.
func field(out, prefix string, n int) string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); strings.HasPrefix(l, prefix) && len(f) > n {
			return f[n]
		}
	}
	return ""
}

// repoRoot is the repository, from the package's folder (tests start there, before any Chdir).
var repoRoot = func() string {
	p, err := filepath.Abs("../..")
	if err != nil {
		panic(err)
	}
	return p
}()

// TestLocalOperatorTranscript is the operator commands on a data folder, as they are on a stack (the
// same commands under settle aws, TestAWSWalkthrough): status, executions with --status, --since and
// --json, show with --json, redrive of an execution aborted by a killed process, dlq list, show and
// redrive, batches and ledger. The transcript is testdata/local-walkthrough.txt.
func TestLocalOperatorTranscript(t *testing.T) {
	s := newTranscript(t)
	writeReport(t, "reports/settlement_detail_report_batch_61.csv", gen.Config{Rows: 40, Seed: 7, Batch: 61, SettlementDate: "2024-05-06"})
	s.run(0, "run", "testdata/sample")
	s.clock.Advance(time.Hour)
	s.run(1, "run", "testdata/bad", "reports")
	s.clock.Advance(time.Hour)
	s.comment("Where do things stand?")
	s.run(0, "status")
	s.run(0, "executions", "--since", "90m")
	out := s.quiet(0, "executions", "--status", "failed", "--json")
	s.contains(out, `"name":"908263f885fb01d1d1ad04fbddf280e9"`, `"error":"ValidationError"`)
	s.run(0, "executions", "--status", "failed")
	s.comment("The failed-files queue holds one message per rejected file, with what to do.")
	out = s.run(0, "dlq", "list")
	id := field(out, "failed ", 1)
	s.run(0, "dlq", "show", id)
	s.comment("An unbalanced batch the provider confirms: reprocess it with the balance check off.")
	out = s.quiet(0, "show", "908263f885fb01d1d1ad04fbddf280e9", "--json")
	s.contains(out, `"failed_step":"Validate"`, `--balance-check off`)
	out = s.run(0, "reprocess", "908263f885fb01d1d1ad04fbddf280e9", "--balance-check", "off")
	s.contains(out, "balance check off", "1 balance: balance check is off")
	s.comment("The rest of the failed-files queue: the messages of the two files still rejected are restarted as they are, and rejected again.")
	out = s.run(0, "dlq", "redrive", "failed", "--dry-run")
	s.contains(out, "processed since by 908263f885fb01d1d1ad04fbddf280e9-p1", "would be started")
	s.run(0, "batches")
	s.run(0, "ledger", "--rebuild")
	golden(t, filepath.Join(repoRoot, "cmd/settle/testdata/local-walkthrough.txt"), s.b.String())
}
