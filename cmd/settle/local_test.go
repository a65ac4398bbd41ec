package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/gen"
)

// localCLI runs the settle command line as main does.
func localCLI(args ...string) (stdout string, code int) {
	var out, errb bytes.Buffer
	code = report(run(context.Background(), args, &out, &errb), &errb)
	return out.String() + errb.String(), code
}

// TestRunFolderSkipsWhatTheRuleDoesNotTake: a folder's other files are listed as SKIPPED and do not fail
// the run.
func TestRunFolderSkipsWhatTheRuleDoesNotTake(t *testing.T) {
	src := t.TempDir()
	var buf bytes.Buffer
	if _, err := gen.Write(&buf, gen.Config{Rows: 20, Seed: 4, Batch: 4}); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"a/report.csv": buf.Bytes(), "notes.txt": []byte("hello\n")} {
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	out, code := localCLI("run", "--data", dir, src)
	if code != 0 || !strings.Contains(out, filepath.Join(src, "notes.txt")+"     SKIPPED") || !strings.Contains(out, "SUCCEEDED") {
		t.Errorf("settle run FOLDER (exit %d):\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "raw", "incoming", "a", "report.csv")); err != nil {
		t.Errorf("the report is not under incoming/a/: %v", err)
	}
	if dlq, _ := filepath.Glob(filepath.Join(dir, "dlq", "*")); len(dlq) != 0 {
		t.Errorf("DLQ messages %v for a skipped file", dlq)
	}
}
