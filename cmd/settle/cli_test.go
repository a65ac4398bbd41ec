package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/engine"
	"github.com/paysettle/settle/internal/testkit/awsfake"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// testClock is a settable clock: Now is the same until it is advanced, and Sleep advances it (the
// engine's retries take no time).
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: time.Date(2024, 5, 7, 9, 0, 0, 0, time.UTC)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Millisecond) // events keep their order
	return c.now
}

func (c *testClock) Sleep(ctx context.Context, d time.Duration) error {
	c.Advance(d)
	return ctx.Err()
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// secondsClock reads a clock truncated to the second, as the aws commands' "now" in the goldens.
type secondsClock struct{ c engine.Clock }

func (s secondsClock) Now() time.Time                                   { return s.c.Now().Truncate(time.Second) }
func (s secondsClock) Sleep(ctx context.Context, d time.Duration) error { return s.c.Sleep(ctx, d) }

// testApp is an app for a test: its output in buffers, standard input holding input on a terminal or
// not, stderr not a terminal, the clock given, the environment of the process.
func testApp(clock engine.Clock, onTerminal bool, input string) (*app, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	a := &app{stdout: &out, stderr: &errb, stdin: strings.NewReader(input),
		stdinTerminal: func() bool { return onTerminal }, stderrTerminal: func() bool { return false },
		clock: clock, progressEvery: 5 * time.Second, getenv: os.Getenv}
	return a, &out, &errb
}

// cli runs the settle command line as main does, with the clock at the world's time (to the second) and
// standard input not a terminal (as in a script).
func cli(w *awsfake.World, args ...string) (stdout, stderr string, code int) {
	return cliInput(w, false, "", args...)
}

// cliInput runs the command line with terminal input (onTerminal) that holds input.
func cliInput(w *awsfake.World, onTerminal bool, input string, args ...string) (stdout, stderr string, code int) {
	a, out, errb := testApp(secondsClock{w.Clock}, onTerminal, input)
	code = execute(context.Background(), args, a)
	return out.String(), errb.String(), code
}

// localCLI runs the command line on the wall clock; stdout and stderr together.
func localCLI(args ...string) (out string, code int) {
	a, o, e := testApp(engine.RealClock{}, false, "")
	code = execute(context.Background(), args, a)
	return o.String() + e.String(), code
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// golden compares a transcript with its golden file, or writes the file with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if string(want) != got {
		t.Errorf("the transcript differs from %s (rerun with -update if intended):\n%s", path, got)
	}
}
