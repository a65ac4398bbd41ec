package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/engine"
)

const sample58 = "../../testdata/sample/settlement_detail_report_batch_58.csv" // 336340 bytes, 2000 rows

func entered(step string) engine.Event {
	return engine.Event{Type: engine.EventTaskStateEntered, StateEnteredEventDetails: &engine.StateEnteredEventDetails{Name: step}}
}

// TestProgressLines: without a terminal, progress is a line on stderr at most every progressEvery of the
// app's clock, naming the file and the step, with bytes, rows, rows per second and the time left.
func TestProgressLines(t *testing.T) {
	clock := &manualClock{now: time.Date(2024, 5, 7, 9, 0, 0, 0, time.UTC)}
	a, _, errb := testApp(clock, false, "")
	p := newProgress(a)
	p.begin("big.csv", 10<<20)
	p.onEvent("x", entered("Validate"))
	for range 40 { // 40 s, 256 KiB and 1000 rows a second
		clock.Advance(time.Second)
		p.add(256<<10, 1000)
	}
	p.end()
	lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
	if len(lines) != 8 { // at 5 s, 10 s, … 40 s
		t.Fatalf("%d lines, want 8:\n%s", len(lines), errb)
	}
	if want := "settle: big.csv: Validate 1.2 MiB of 10.0 MiB (12%), 5000 rows, 1000 rows/s, ETA 35s"; lines[0] != want {
		t.Errorf("first line\n %s\nwant\n %s", lines[0], want)
	}
	if !strings.HasPrefix(lines[7], "settle: big.csv: Validate 10.0 MiB of 10.0 MiB (100%), 40000 rows, 1000 rows/s, ETA -") {
		t.Errorf("last line %s", lines[7])
	}
}

// manualClock moves only when advanced.
type manualClock struct{ now time.Time }

func (c *manualClock) Now() time.Time { return c.now }
func (c *manualClock) Sleep(ctx context.Context, d time.Duration) error {
	c.Advance(d)
	return ctx.Err()
}
func (c *manualClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

// secondClock advances a second at every reading: a run seems to take minutes.
type secondClock struct{ testClock }

func (c *secondClock) Now() time.Time {
	c.Advance(time.Second)
	return c.testClock.Now()
}

// TestRunShowsProgressWithoutATerminal: settle run on a long file (by the clock) prints a progress line
// on stderr naming the step, and keeps stdout for the table.
func TestRunShowsProgressWithoutATerminal(t *testing.T) {
	a, out, errb := testApp(&secondClock{*newTestClock()}, false, "")
	if code := execute(t.Context(), []string{"run", "--data", t.TempDir(), sample58}, a); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errb)
	}
	line := regexp.MustCompile(`(?m)^settle: \.\./\.\./testdata/sample/settlement_detail_report_batch_58\.csv: (Validate|Transform) 256\.0 KiB of 328\.5 KiB \(77%\), \d+ rows, \d+ rows/s, ETA \d+s$`)
	if !line.MatchString(errb.String()) {
		t.Errorf("no progress line on stderr:\n%s", errb)
	}
	if strings.Contains(out.String(), "KiB") {
		t.Errorf("progress on stdout:\n%s", out)
	}
}

// TestRunDrawsBarsOnATerminal: on a terminal each step has a bar (drawn with mpb) with its name, the
// bytes read of the file's size, rows per second and the time left; a step's bar is drawn a last time,
// complete and alone, when the step ends, and is gone before the next one starts and before the file's
// line is printed. What is drawn depends on the app's clock only: a second run draws the same bars.
func TestRunDrawsBarsOnATerminal(t *testing.T) {
	draw := func() string {
		a, out, errb := testApp(newTestClock(), false, "")
		a.stderrTerminal = func() bool { return true }
		a.progressRefresh = make(chan any) // no timer: a bar is drawn when its step ends
		if code := execute(t.Context(), []string{"run", "--data", t.TempDir(), sample58}, a); code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, errb)
		}
		return errb.String()
	}
	got := draw()
	steps := []string{"Check", "Validate", "Transform", "Write"}
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != len(steps) {
		t.Fatalf("%d lines on stderr, want one bar per step:\n%s", len(lines), got)
	}
	for i, step := range steps {
		bar := regexp.MustCompile(`^` + step + ` [0-9.]+ [KMG]?i?B / [0-9.]+ [KMG]?i?B \[[=>-]+\] +\d+ rows/s ETA (-|\d+s)$`)
		if !bar.MatchString(lines[i]) {
			t.Errorf("line %d is not the bar of %s:\n%s", i+1, step, got)
		}
	}
	if !strings.HasPrefix(lines[1], "Validate 328.5 KiB / 328.5 KiB") {
		t.Errorf("Validate did not read the whole file:\n%s", got)
	}
	if again := draw(); again != got {
		t.Errorf("a second run drew\n%s\nthe first\n%s", again, got)
	}
}

// cancelOnWrite cancels a context at the first write: a person pressing Ctrl-C while a file runs.
type cancelOnWrite struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	b      strings.Builder
}

func (c *cancelOnWrite) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cancel()
	return c.b.Write(p)
}

// TestInterruptedRunSaysAborted: Ctrl-C while a file runs ends its execution ABORTED, as settle
// executions says, the files after it are not run, and the exit status is 1; a run again finishes it.
func TestInterruptedRunSaysAborted(t *testing.T) {
	dir := t.TempDir()
	reports := filepath.Join(dir, "reports")
	if err := os.MkdirAll(reports, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, f := range []string{sample58, "../../testdata/sample/settlement_detail_report_batch_57.csv"} {
		if err := os.WriteFile(filepath.Join(reports, fmt.Sprintf("%d.csv", i)), read(t, f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	a, out, _ := testApp(&secondClock{*newTestClock()}, false, "")
	stderr := &cancelOnWrite{cancel: cancel} // the first progress line is the Ctrl-C
	a.stderr = stderr
	data := filepath.Join(dir, "data")
	code := execute(ctx, []string{"run", "--data", data, reports}, a)
	if code != 1 || !strings.Contains(out.String(), "ABORTED") || strings.Contains(out.String(), "1.csv") ||
		!strings.Contains(stderr.b.String(), "interrupted; 1 file was not run") {
		t.Errorf("exit %d\n%s%s", code, out, stderr.b.String())
	}
	o, code := localCLI("executions", "--data", data)
	if code != 0 || !strings.Contains(o, "ABORTED") {
		t.Errorf("settle executions: %d\n%s", code, o)
	}
	if o, code := localCLI("run", "--data", data, reports); code != 0 || strings.Count(o, "SUCCEEDED") != 2 {
		t.Errorf("run again: %d\n%s", code, o)
	}
}
