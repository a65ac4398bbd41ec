package local_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/paysettle/settle/internal/engine"
	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/parquetfile"
	"github.com/paysettle/settle/internal/states"
	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/workflow"
)

// The crash test runs `settle run` on one report in a child process (this test binary, run again as
// TestCrashChild), stops the child at a named point and kills it with SIGKILL, then runs the same file
// again in this process. The child reports each point it passes on standard output; at the chosen one it
// reports "halted" and waits for standard input, which never comes, so the kill lands exactly there.
// The points: after every stored history event (the step boundaries), and inside each step every place
// where what is stored changes (before a write, after the first bytes of an upload, before its commit)
// and the middle of every read. The points just before a read leave the same things stored as the point
// before them, so they are listed but not killed at.

// Environment of the child process.
const (
	crashDirEnv  = "SETTLE_CRASH_DIR"  // data folder
	crashFileEnv = "SETTLE_CRASH_FILE" // the report
	crashAtEnv   = "SETTLE_CRASH_AT"   // the point to halt at; empty: report every point and finish
)

// points names the points a run passes and halts at one of them.
type points struct {
	mu    sync.Mutex
	halt  string
	state string // the state last entered; "upload" before the execution starts, "started" before its first state
	seen  map[string]int
}

func (p *points) at(label string) {
	p.mu.Lock()
	label = p.state + ": " + label
	p.seen[label]++
	if n := p.seen[label]; n > 1 {
		label += fmt.Sprintf(" #%d", n)
	}
	p.mu.Unlock()
	if label != p.halt {
		fmt.Printf("point %s\n", label)
		return
	}
	fmt.Printf("halted %s\n", label)
	io.Copy(io.Discard, os.Stdin) // until killed
}

func (p *points) event(_ string, ev engine.Event) {
	name := ""
	if ev.Type == engine.EventExecutionStarted {
		p.mu.Lock()
		p.state = "started"
		p.mu.Unlock()
	}
	if d := ev.StateEnteredEventDetails; d != nil {
		name = d.Name
		p.mu.Lock()
		p.state = name
		p.mu.Unlock()
	} else if d := ev.StateExitedEventDetails; d != nil {
		name = d.Name
	}
	p.at(fmt.Sprintf("after event %d %s %s", ev.ID, ev.Type, name))
}

// pointBucket passes a point before every operation and inside streams.
type pointBucket struct {
	store.Bucket
	p *points
}

// randomName matches the parts of the Iceberg table's file names that each run draws anew (manifest
// UUIDs, snapshot ids): a point is named by the call, not by them.
var randomName = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|snap-[0-9]+`)

func (b *pointBucket) op(op, key string) string {
	label := fmt.Sprintf("%s.%s %s", b.Name(), op, randomName.ReplaceAllString(key, "*"))
	b.p.at(label)
	return label
}

func (b *pointBucket) Head(ctx context.Context, key string) (store.Object, error) {
	b.op("Head", key)
	return b.Bucket.Head(ctx, key)
}

func (b *pointBucket) Open(ctx context.Context, key, ifMatch string) (io.ReadCloser, error) {
	label := b.op("Open", key)
	rc, err := b.Bucket.Open(ctx, key, ifMatch)
	if err != nil {
		return nil, err
	}
	return &pointReader{ReadCloser: rc, p: b.p, label: label}, nil
}

func (b *pointBucket) OpenRange(ctx context.Context, key, ifMatch string, off, n int64) (io.ReadCloser, error) {
	label := b.op("OpenRange", key)
	rc, err := b.Bucket.OpenRange(ctx, key, ifMatch, off, n)
	if err != nil {
		return nil, err
	}
	return &pointReader{ReadCloser: rc, p: b.p, label: label}, nil
}

func (b *pointBucket) Create(ctx context.Context, key string) (store.Upload, error) {
	label := b.op("Create", key)
	up, err := b.Bucket.Create(ctx, key)
	if err != nil {
		return nil, err
	}
	return &pointUpload{Upload: up, p: b.p, label: label}, nil
}

func (b *pointBucket) Copy(ctx context.Context, src, dst string) (store.Object, error) {
	b.op("Copy", src+" to "+dst)
	return b.Bucket.Copy(ctx, src, dst)
}

func (b *pointBucket) Put(ctx context.Context, key string, data []byte) (store.Object, error) {
	b.op("Put", key)
	return b.Bucket.Put(ctx, key, data)
}

func (b *pointBucket) Delete(ctx context.Context, key string) error {
	b.op("Delete", key)
	return b.Bucket.Delete(ctx, key)
}

func (b *pointBucket) List(ctx context.Context, prefix string) ([]store.Object, error) {
	b.op("List", prefix)
	return b.Bucket.List(ctx, prefix)
}

type pointReader struct {
	io.ReadCloser
	p     *points
	label string
	read  bool
}

func (r *pointReader) Read(b []byte) (int, error) {
	n, err := r.ReadCloser.Read(b)
	if n > 0 && !r.read {
		r.read = true
		r.p.at(r.label + ": first bytes read")
	}
	return n, err
}

type pointUpload struct {
	store.Upload
	p       *points
	label   string
	written bool
}

func (u *pointUpload) Write(b []byte) (int, error) {
	n, err := u.Upload.Write(b)
	if n > 0 && !u.written {
		u.written = true
		u.p.at(u.label + ": first bytes written")
	}
	return n, err
}

func (u *pointUpload) Commit() (store.Object, error) {
	u.p.at(u.label + ": commit")
	return u.Upload.Commit()
}

// TestCrashChild is the child process of TestCrashedRunsRecover.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("runs only as the child process of TestCrashedRunsRecover")
	}
	p := &points{halt: os.Getenv(crashAtEnv), state: "upload", seen: map[string]int{}}
	wrap := func(b store.Bucket) store.Bucket { return &pointBucket{Bucket: b, p: p} }
	env, err := local.Open(dir, local.Options{Clock: newClock(), WrapRaw: wrap, WrapProcessed: wrap, OnEvent: p.event})
	if err != nil {
		t.Fatal(err)
	}
	r := env.Run(t.Context(), os.Getenv(crashFileEnv))
	fmt.Printf("result %s %s\n", r.Status, r.Error)
}

// readBefore matches the points just before a read.
var readBefore = regexp.MustCompile(`^[^:]+: [a-z]+\.(Head|Open|OpenRange|List) [^:]*( #[0-9]+)?$`)

// child runs TestCrashChild; halt "" lets it finish. It returns the child once it has halted (or
// finished) and the lines it printed.
func child(t *testing.T, dir, file, halt string) (*exec.Cmd, []string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	// GORACE: a race-enabled child would otherwise wait a second before it exits.
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashFileEnv+"="+file, crashAtEnv+"="+halt, "GORACE=atexit_sleep_ms=0")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close() })
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if halt != "" && sc.Text() == "halted "+halt {
			return cmd, lines
		}
	}
	err = cmd.Wait()
	if halt != "" {
		t.Fatalf("the child never reached %q (exit %v): %s", halt, err, stderr.String())
	}
	if err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	return cmd, lines
}

// TestCrashedRunsRecover: wherever `settle run` is killed, running the same file again ends SUCCEEDED
// with exactly one copy of the output; the killed execution reads as ABORTED, naming the process, until
// the rerun redrives it from the step it was in.
func TestCrashedRunsRecover(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("in the child process")
	}
	const rows = 120
	var buf bytes.Buffer
	if _, err := gen.Write(&buf, gen.Config{Rows: rows, Seed: 7, Batch: 77}); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(t.TempDir(), "settlement_detail_report_batch_77.csv")
	if err := os.WriteFile(report, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	name := workflow.ExecutionName(md5Hex(buf.Bytes()))

	// A run that is not stopped lists the points, in order.
	_, lines := child(t, t.TempDir(), report, "")
	var all []string
	result := ""
	for _, l := range lines {
		if p, ok := strings.CutPrefix(l, "point "); ok {
			all = append(all, p)
		}
		if r, ok := strings.CutPrefix(l, "result "); ok {
			result = r
		}
	}
	if !strings.HasPrefix(result, "SUCCEEDED") {
		t.Fatalf("the run without a kill: %q", result)
	}
	steps := map[string]bool{}
	for _, p := range all {
		steps[strings.SplitN(p, ":", 2)[0]] = true
	}
	for _, s := range []string{"upload", "Check", "Validate", "Transform", "Write", "Done"} {
		if !steps[s] {
			t.Fatalf("no point in %s among %q", s, all)
		}
	}
	t.Logf("points:\n%s", strings.Join(all, "\n"))

	var kill []string
	for _, point := range all {
		if !readBefore.MatchString(point) {
			kill = append(kill, point)
		}
	}
	if raceEnabled { // every point runs without the race detector (make test); under it, a fixed quarter
		var some []string
		for i := 0; i < len(kill); i += 4 {
			some = append(some, kill[i])
		}
		kill = some
	}
	for _, point := range kill {
		t.Run(point, func(t *testing.T) {
			t.Parallel() // each case has its own data folder and child
			dir := t.TempDir()
			cmd, _ := child(t, dir, report, point)
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			checkRecovers(t, dir, report, name, point, cmd.Process.Pid, rows)
		})
	}
}

// checkRecovers looks at a data folder whose run was killed at point, then runs the file again.
func checkRecovers(t *testing.T, dir, report, name, point string, pid, rows int) {
	t.Helper()
	ctx := t.Context()
	env, err := local.Open(dir, local.Options{Clock: newClock()})
	if err != nil {
		t.Fatal(err)
	}
	killedIn := ""
	before, err := env.Engine.Describe(name)
	switch {
	case strings.HasPrefix(point, "upload:"):
		if err == nil {
			t.Fatalf("killed before the upload finished, yet execution %s exists", name)
		}
	case err != nil:
		t.Fatal(err)
	case before.Status == states.Succeeded:
		if !strings.Contains(point, "ExecutionSucceeded") {
			t.Fatalf("killed at %q, the execution SUCCEEDED", point)
		}
	default:
		want := fmt.Sprintf("(pid %d) ended without finishing it", pid)
		if before.Status != states.Aborted || !strings.Contains(before.Cause, want) || before.RedriveStatus != states.Redrivable {
			t.Fatalf("killed: %s %q %s; want ABORTED, cause naming pid %d, REDRIVABLE", before.Status, before.Cause, before.RedriveStatus, pid)
		}
		killedIn = before.FailedState
		list, err := env.Engine.List() // what `settle executions` shows
		if err != nil || len(list) != 1 || list[0].Status != states.Aborted {
			t.Fatalf("List = %v, %v; want the execution ABORTED", list, err)
		}
	}

	r := env.Run(ctx, report)
	wantStatus := local.Succeeded
	if killedIn == "" && before != nil {
		wantStatus = local.Duplicate // it had finished
	}
	if r.Status != wantStatus {
		t.Fatalf("rerun: %s %s; want %s", r.Status, r.Error, wantStatus)
	}
	after, err := env.Engine.Describe(name)
	if err != nil || after.Status != states.Succeeded {
		t.Fatalf("after the rerun: %v, %v; want SUCCEEDED", after, err)
	}
	h, _ := env.Engine.History(name)
	aborted, resumed := 0, ""
	for i, ev := range h {
		if ev.Type == engine.EventExecutionAborted {
			aborted++
		}
		if ev.Type == engine.EventExecutionRedriven && i+1 < len(h) && h[i+1].StateEnteredEventDetails != nil {
			resumed = h[i+1].StateEnteredEventDetails.Name
		}
	}
	if killedIn != "" && (aborted != 1 || resumed != killedIn) {
		t.Errorf("history: %d ExecutionAborted, redrive resumed at %q; want 1, at %q", aborted, resumed, killedIn)
	}

	objects := func(b store.Bucket, prefix string) []store.Object {
		objs, err := b.List(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		return objs
	}
	parquet := objects(env.Processed, "settlement_lines/")
	if len(parquet) != 1 || len(objects(env.Processed, "_manifests/")) != 1 || len(objects(env.Processed, "_staging/")) != 0 {
		t.Fatalf("processed bucket: Parquet %v, %d manifests, %d staged; want one, one, none", parquet,
			len(objects(env.Processed, "_manifests/")), len(objects(env.Processed, "_staging/")))
	}
	if raw := objects(env.Raw, ""); len(raw) != 1 {
		t.Errorf("raw bucket %v, want the one report", raw)
	}
	data, err := os.ReadFile(filepath.Join(dir, "processed", filepath.FromSlash(parquet[0].Key)))
	if err != nil {
		t.Fatal(err)
	}
	if _, n, err := parquetfile.Columns(bytes.NewReader(data)); err != nil || n != int64(rows) {
		t.Errorf("the Parquet holds %d rows (%v), want %d", n, err, rows)
	}
}
