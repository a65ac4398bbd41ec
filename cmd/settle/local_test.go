package main

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/engine"
	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/workflow"
)

// Environment of the child process of killedRun.
const (
	killDirEnv  = "SETTLE_KILL_DIR"
	killFileEnv = "SETTLE_KILL_FILE"
)

// TestKilledChild is the child process of killedRun: it runs a file and stops once Transform has
// started, waiting on standard input to be killed.
func TestKilledChild(t *testing.T) {
	dir := os.Getenv(killDirEnv)
	if dir == "" {
		t.Skip("runs only as the child process of the local command tests")
	}
	stop := func(_ string, ev engine.Event) {
		if d := ev.StateEnteredEventDetails; d != nil && d.Name == "Transform" {
			fmt.Println("in Transform")
			io.Copy(io.Discard, os.Stdin)
		}
	}
	env, err := local.Open(dir, local.Options{OnEvent: stop})
	if err != nil {
		t.Fatal(err)
	}
	env.Run(t.Context(), os.Getenv(killFileEnv))
}

// killedRun runs a report in a child process killed (SIGKILL) in Transform; it returns the data folder,
// the report, its execution's name and the child's pid.
func killedRun(t *testing.T) (dir, file, name string, pid int) {
	t.Helper()
	dir = t.TempDir()
	var buf bytes.Buffer
	if _, err := gen.Write(&buf, gen.Config{Rows: 60, Seed: 3, Batch: 9}); err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(t.TempDir(), "report.csv")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(buf.Bytes())
	name = workflow.ExecutionName(hex.EncodeToString(sum[:]))

	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledChild$")
	cmd.Env = append(os.Environ(), killDirEnv+"="+dir, killFileEnv+"="+file, "GORACE=atexit_sleep_ms=0")
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
	for sc.Scan() && sc.Text() != "in Transform" {
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	return dir, file, name, cmd.Process.Pid
}

// TestKilledRunIsAbortedAndRedriven: after `settle run` was killed, `settle executions` and `settle
// show` tell that its process ended, and `settle redrive` finishes the execution from Transform.
func TestKilledRunIsAbortedAndRedriven(t *testing.T) {
	dir, _, name, pid := killedRun(t)
	cause := fmt.Sprintf("(pid %d) ended without finishing it", pid)
	out, code := localCLI("executions", "--data", dir)
	if code != 0 || !strings.Contains(out, name+"  ABORTED") || !strings.Contains(out, cause) {
		t.Errorf("settle executions (exit %d):\n%s\nwant %s ABORTED with %q", code, out, name, cause)
	}
	out, code = localCLI("show", "--data", dir, name)
	if code != 0 || !strings.Contains(out, "ABORTED") || !strings.Contains(out, "Failed at Transform") ||
		!strings.Contains(out, "Redrive   REDRIVABLE") || strings.Count(out, "ExecutionAborted") != 1 || strings.Count(out, cause) != 2 {
		t.Errorf("settle show (exit %d):\n%s", code, out)
	}
	out, code = localCLI("redrive", "--data", dir, name)
	if code != 0 || !strings.Contains(out, "  redriven  "+name) || !strings.Contains(out, "SUCCEEDED  "+name+"     60") {
		t.Errorf("settle redrive (exit %d):\n%s", code, out)
	}
	out, _ = localCLI("show", "--data", dir, name)
	if !strings.Contains(out, "ExecutionRedriven") || !strings.Contains(out, "ExecutionSucceeded") {
		t.Errorf("after the redrive, settle show:\n%s", out)
	}
}

// TestKilledRunRerun: running the file of a killed run again finishes it (it is not a duplicate).
func TestKilledRunRerun(t *testing.T) {
	dir, file, name, _ := killedRun(t)
	out, code := localCLI("run", "--data", dir, file)
	if code != 0 || !strings.Contains(out, "SUCCEEDED  "+name+"     60") {
		t.Errorf("settle run again (exit %d):\n%s", code, out)
	}
	out, code = localCLI("run", "--data", dir, file)
	if code != 0 || !strings.Contains(out, "DUPLICATE") {
		t.Errorf("settle run a third time (exit %d):\n%s", code, out)
	}
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
