package local_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/engine"
	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/icetable"
	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/parquetfile"
	"github.com/paysettle/settle/internal/states"
	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/workflow"
)

// This file checks the promise that two versions of one batch processed at the same moment end with
// exactly one committed, by running them under a scheduler that tries every interleaving.
//
// Why two levels cover every interleaving: the steps' store calls either touch keys private to one
// file version (its rejects, report and staging, all named by its ETag, and its own raw object) or the
// batch's shared keys (the manifest, the claim, the partition objects). Calls on private keys commute
// with everything the other execution does, so only the order of shared-key calls can change an
// outcome. Check, Validate and Transform make at most one shared-key call (Check reads the manifest),
// and a read placed anywhere inside the other execution's Write sees either the state before that Write
// or a state that Write leaves only by finishing or failing — which the step-level exploration covers.
// So: level 1 runs whole executions through the local engine with every interleaving of their four
// steps; level 2 takes both files through Check, Validate and Transform and then interleaves the two
// Write steps at every shared-key store call.

// skipUnderRace skips an exploration under the race detector: one actor runs at a time between gates,
// so the detector has nothing to find there and would make the exploration minutes long; make test runs
// the explorations once more without it.
func skipUnderRace(t *testing.T) {
	if raceEnabled {
		t.Skip("an exploration runs one actor at a time; make test runs it without the race detector")
	}
}

// sched drives goroutines ("actors") so that only one runs at a time between gates, in the order a
// schedule prefix says, and records the choices it made, so explore can enumerate every order.
type sched struct {
	prefix []int
	trace  []choice
	events chan schedEvent
}

type choice struct{ pick, of int }

// schedEvent is an actor stopping at a gate (release set) or ending (release nil).
type schedEvent struct {
	actor   int
	release chan struct{}
}

type actorKey struct{}

// gate stops the calling actor until the scheduler lets it go on. Calls outside an actor pass.
func (s *sched) gate(ctx context.Context) {
	a, ok := ctx.Value(actorKey{}).(int)
	if !ok || s == nil {
		return
	}
	rel := make(chan struct{})
	s.events <- schedEvent{actor: a, release: rel}
	<-rel
}

// run starts the actors and lets one of the gated ones go on at a time until all have ended.
func (s *sched) run(actors ...func(ctx context.Context)) {
	s.events = make(chan schedEvent)
	for i, f := range actors {
		go func() {
			f(context.WithValue(context.Background(), actorKey{}, i))
			s.events <- schedEvent{actor: i}
		}()
	}
	blocked := map[int]chan struct{}{}
	for pending := len(actors); ; pending = 1 {
		for ; pending > 0; pending-- {
			if ev := <-s.events; ev.release != nil {
				blocked[ev.actor] = ev.release
			}
		}
		if len(blocked) == 0 {
			return
		}
		var enabled []int
		for a := range blocked {
			enabled = append(enabled, a)
		}
		slices.Sort(enabled)
		pick := 0
		if d := len(s.trace); d < len(s.prefix) {
			pick = s.prefix[d]
		}
		s.trace = append(s.trace, choice{pick, len(enabled)})
		a := enabled[pick]
		close(blocked[a])
		delete(blocked, a)
	}
}

// explore calls once with a fresh scheduler for every schedule, depth first, until all are done or the
// test failed; it returns how many schedules ran.
func explore(t *testing.T, once func(s *sched)) int {
	t.Helper()
	var prefix []int
	for runs := 1; ; runs++ {
		s := &sched{prefix: prefix}
		once(s)
		if t.Failed() {
			t.Fatalf("schedule %d failed: %v (which actor went on at each gate)", runs, s.order())
		}
		i := len(s.trace) - 1
		for i >= 0 && s.trace[i].pick == s.trace[i].of-1 {
			i--
		}
		if i < 0 {
			return runs
		}
		prefix = append(s.picks(i), s.trace[i].pick+1)
	}
}

func (s *sched) picks(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = s.trace[i].pick
	}
	return p
}

// order is the schedule as actor letters, for failure messages.
func (s *sched) order() string {
	// Replay the picks against the enabled sets is not needed for reading: picks index the sorted
	// enabled actors, so with two actors a pick of 1 always means B.
	var b strings.Builder
	for _, c := range s.trace {
		if c.of == 1 {
			b.WriteByte('-')
		} else {
			b.WriteByte(byte('A' + c.pick))
		}
	}
	return b.String()
}

// sharedPrefixes are the processed bucket's keys that the versions of one batch share.
var sharedPrefixes = []string{workflow.ManifestPrefix, workflow.ClaimPrefix, workflow.LinesPrefix, workflow.LedgerPrefix}

func shared(key string) bool {
	for _, p := range sharedPrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// gatedBucket stops an actor at every call on a shared key (but for the prefixes in ungated).
type gatedBucket struct {
	store.Bucket
	s       **sched // the current run's scheduler
	ungated []string
}

func (g gatedBucket) gate(ctx context.Context, keys ...string) {
	for _, k := range keys {
		if shared(k) && !slices.ContainsFunc(g.ungated, func(p string) bool { return strings.HasPrefix(k, p) }) {
			(*g.s).gate(ctx)
			return
		}
	}
}

func (g gatedBucket) Head(ctx context.Context, key string) (store.Object, error) {
	g.gate(ctx, key)
	return g.Bucket.Head(ctx, key)
}

func (g gatedBucket) Open(ctx context.Context, key, ifMatch string) (io.ReadCloser, error) {
	g.gate(ctx, key)
	return g.Bucket.Open(ctx, key, ifMatch)
}

func (g gatedBucket) OpenRange(ctx context.Context, key, ifMatch string, off, n int64) (io.ReadCloser, error) {
	g.gate(ctx, key)
	return g.Bucket.OpenRange(ctx, key, ifMatch, off, n)
}

func (g gatedBucket) Get(ctx context.Context, key string) ([]byte, store.Object, error) {
	g.gate(ctx, key)
	return g.Bucket.Get(ctx, key)
}

func (g gatedBucket) Create(ctx context.Context, key string) (store.Upload, error) {
	g.gate(ctx, key)
	return g.Bucket.Create(ctx, key)
}

func (g gatedBucket) Copy(ctx context.Context, src, dst string) (store.Object, error) {
	g.gate(ctx, src, dst)
	return g.Bucket.Copy(ctx, src, dst)
}

func (g gatedBucket) Put(ctx context.Context, key string, data []byte) (store.Object, error) {
	g.gate(ctx, key)
	return g.Bucket.Put(ctx, key, data)
}

func (g gatedBucket) PutIf(ctx context.Context, key string, data []byte, pre store.Precondition) (store.Object, error) {
	g.gate(ctx, key)
	return g.Bucket.PutIf(ctx, key, data, pre)
}

func (g gatedBucket) Delete(ctx context.Context, key string) error {
	g.gate(ctx, key)
	return g.Bucket.Delete(ctx, key)
}

func (g gatedBucket) DeleteIf(ctx context.Context, key, etag string) error {
	g.gate(ctx, key)
	return g.Bucket.DeleteIf(ctx, key, etag)
}

func (g gatedBucket) List(ctx context.Context, prefix string) ([]store.Object, error) {
	g.gate(ctx, prefix)
	return g.Bucket.List(ctx, prefix)
}

// version is one file version of the batch under test, with what committing it alone produces.
type version struct {
	name      string
	cfg       gen.Config
	data      []byte
	etag      string // unquoted
	partition string // its partition key
	parquet   string // the ETag of its Parquet when committed alone
}

// twoVersions makes two different reports of one batch; with sameDate their partitions share a key
// (the loser's Parquet would overwrite the winner's), else each has its own (it would add rows).
func twoVersions(t *testing.T, sameDate bool) []*version {
	t.Helper()
	dateB := "2024-05-04"
	if sameDate {
		dateB = "2024-05-03"
	}
	return makeVersions(t, []gen.Config{
		{Rows: 20, Seed: 5, Batch: 5, SettlementDate: "2024-05-03"},
		{Rows: 21, Seed: 6, Batch: 5, SettlementDate: dateB},
	})
}

// makeVersions generates the reports and commits each alone, in a bucket of its own, to learn the
// bytes any winner must leave behind. The first is batch5.csv, the others batch5-regenerated-N.csv.
func makeVersions(t *testing.T, cfgs []gen.Config) []*version {
	t.Helper()
	var vs []*version
	for i, cfg := range cfgs {
		v := &version{name: "batch5.csv", cfg: cfg}
		switch {
		case i == 1 && len(cfgs) == 2:
			v.name = "batch5-regenerated.csv"
		case i > 0:
			v.name = fmt.Sprintf("batch5-regenerated-%d.csv", i)
		}
		var buf strings.Builder
		if _, err := gen.Write(&buf, v.cfg); err != nil {
			t.Fatal(err)
		}
		v.data = []byte(buf.String())
		e := newEnv(t, workflow.Config{})
		r := e.run(e.file(v.name, v.data))
		want(t, r, local.Succeeded)
		m := e.manifest("PaySettleShopEU", v.cfg.Batch)
		v.etag, v.partition = m.Source.ETag, m.Partitions[0].Key
		obj, err := e.Processed.Head(t.Context(), v.partition)
		if err != nil {
			t.Fatal(err)
		}
		v.parquet = obj.ETag
		vs = append(vs, v)
	}
	return vs
}

// checkOneCommit asserts the state two versions must leave: one manifest, naming one of them; its
// Parquet and only its Parquet in the partitions, byte for byte what it commits alone; no claim, no
// staging, nothing else but the versions' reports and rejects, and the batch ledger naming the winner.
// It returns the winner.
func checkOneCommit(t *testing.T, b store.Bucket, vs []*version) *version {
	t.Helper()
	ctx := t.Context()
	objs, err := b.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var manifests, lines, ledgers, other []string
	etags := map[string]string{}
	for _, o := range objs {
		etags[o.Key] = o.ETag
		switch {
		case strings.HasPrefix(o.Key, workflow.ManifestPrefix):
			manifests = append(manifests, o.Key)
		case strings.HasPrefix(o.Key, workflow.LinesPrefix):
			lines = append(lines, o.Key)
		case strings.HasPrefix(o.Key, workflow.ReportPrefix), strings.HasPrefix(o.Key, workflow.RejectedPrefix):
		case strings.HasPrefix(o.Key, workflow.LedgerPrefix):
			ledgers = append(ledgers, o.Key)
		case strings.HasPrefix(o.Key, workflow.TablePrefix+"/"):
			// The Iceberg table: checked below through its current snapshot (a loser's data file may stay
			// unreferenced until maintenance removes it).
		default:
			other = append(other, o.Key)
		}
	}
	if len(manifests) != 1 {
		t.Errorf("manifests = %v, want exactly one", manifests)
		return nil
	}
	data, _, err := b.Get(ctx, manifests[0])
	if err != nil {
		t.Fatal(err)
	}
	var m workflow.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	var win *version
	for _, v := range vs {
		if v.etag == m.Source.ETag {
			win = v
		}
	}
	if win == nil {
		t.Errorf("the manifest names %s, none of the versions", m.Source.ETag)
		return nil
	}
	if len(lines) != 1 || lines[0] != win.partition || etags[lines[0]] != win.parquet {
		t.Errorf("partitions = %v (etag %s); want only %s with the winner's Parquet (etag %s)", lines, etags[win.partition], win.partition, win.parquet)
	}
	if len(m.Partitions) != 1 || m.Partitions[0].Key != win.partition || m.Counts.RowsWritten != int64(win.cfg.Rows) {
		t.Errorf("manifest partitions %+v, rows %d; want %s with %d rows", m.Partitions, m.Counts.RowsWritten, win.partition, win.cfg.Rows)
	}
	checkLedgerNames(t, b, ledgers, m, win.etag)
	if !gated(b) {
		checkTableHolds(t, b, etags, &m, win.parquet)
	}
	if len(other) != 0 {
		t.Errorf("left in the bucket: %v", other)
	}
	return win
}

// checkTableHolds asserts that the Iceberg table's current snapshot holds the manifest m's version of its
// batch and nothing else: one data file, the winner's Parquet byte for byte (etag parquet).
func checkTableHolds(t *testing.T, b store.Bucket, etags map[string]string, m *workflow.Manifest, parquet string) {
	t.Helper()
	tbl, _, err := icetable.Open(b).Current(t.Context())
	if err != nil {
		t.Errorf("the Iceberg table: %v", err)
		return
	}
	files, err := icetable.Files(t.Context(), tbl)
	if err != nil {
		t.Fatal(err)
	}
	want, err := workflow.TableVersionOf(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0] != want.File || etags[workflow.TableKey(want.File)] != parquet {
		t.Errorf("the Iceberg table holds %v (etag %s); want only %s with the winner's Parquet (etag %s)", files, etags[workflow.TableKey(want.File)], want.File, parquet)
	}
}

// wantConflict asserts that err is the loser's ConflictError naming both files.
func wantConflict(t *testing.T, err error, loser, winner *version) {
	t.Helper()
	var ce *workflow.ConflictError
	if !errors.As(err, &ce) {
		t.Errorf("%s ended with %v, want a ConflictError", loser.name, err)
		return
	}
	if !strings.HasSuffix(ce.File, loser.name) || !strings.HasSuffix(ce.CommittedFile, "/"+winner.name) || ce.ETag != loser.etag || ce.CommittedETag != winner.etag {
		t.Errorf("ConflictError %+v, want %s against %s", ce, loser.name, winner.name)
	}
}

// TestTwoVersionsEveryStepInterleaving runs two versions of one batch as executions of the local engine,
// with every interleaving of their Check, Validate, Transform and Write steps: one commits, the other
// ends as a ConflictError naming both files, with one DLQ message and one alert.
func TestTwoVersionsEveryStepInterleaving(t *testing.T) {
	skipUnderRace(t)
	for _, sameDate := range []bool{true, false} {
		t.Run(fmt.Sprintf("sameDate=%v", sameDate), func(t *testing.T) {
			vs := twoVersions(t, sameDate)
			runs := explore(t, func(s *sched) {
				e := newEnvWith(t, workflow.Config{}, local.Options{WrapTask: func(arn string, task engine.TaskFunc) engine.TaskFunc {
					if !strings.Contains(arn, ":function:") {
						return task
					}
					return func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
						s.gate(ctx)
						return task(ctx, in)
					}
				}})
				var names []string
				var actors []func(context.Context)
				for _, v := range vs {
					path := e.file(v.name, v.data)
					obj, err := e.Upload(t.Context(), path, local.RawKey(path))
					if err != nil {
						t.Fatal(err)
					}
					name := workflow.ExecutionName(obj.ETag)
					names = append(names, name)
					input, _ := json.Marshal(workflow.ExecutionInput{File: workflow.FileRef{Bucket: local.RawBucket, Key: obj.Key, ETag: obj.ETag, Size: obj.Size}})
					actors = append(actors, func(ctx context.Context) {
						if _, err := e.Engine.Start(ctx, name, input); err != nil {
							t.Error(err)
						}
					})
				}
				s.run(actors...)
				win := checkOneCommit(t, e.Processed, vs)
				if win == nil {
					return
				}
				for i, v := range vs {
					x, err := e.Engine.Describe(names[i])
					if err != nil {
						t.Fatal(err)
					}
					if v == win {
						if x.Status != states.Succeeded {
							t.Errorf("the winner %s ended %s: %s %s", v.name, x.Status, x.Error, x.Cause)
						}
						continue
					}
					loser := v
					if x.Status != states.Failed || x.Error != "ConflictError" || !strings.Contains(x.Cause, loser.name) || !strings.Contains(x.Cause, "/"+win.name) {
						t.Errorf("the loser %s ended %s: %s %s", v.name, x.Status, x.Error, x.Cause)
					}
				}
				if n := len(e.dlq()); n != 1 {
					t.Errorf("%d DLQ messages, want 1 (the loser's)", n)
				}
				if n := len(e.notifications()); n != 1 {
					t.Errorf("%d alerts, want 1", n)
				}
			})
			t.Logf("%d interleavings", runs)
		})
	}
}

// writeFixture is a processed bucket in which both versions went through Check, Validate and
// Transform, saved as a folder each schedule starts from, with the Write step inputs the definition
// would pass.
type writeFixture struct {
	raw    store.Bucket
	golden string // the processed bucket's folder after the three steps
	inputs []workflow.StepInput
}

func newWriteFixture(t *testing.T, vs []*version, replace []bool) *writeFixture {
	t.Helper()
	ctx := t.Context()
	raw, err := store.NewDir(local.RawBucket, t.TempDir(), store.WithoutSync())
	if err != nil {
		t.Fatal(err)
	}
	f := &writeFixture{raw: raw, golden: t.TempDir()}
	proc, err := store.NewDir(local.ProcessedBucket, f.golden, store.WithoutSync())
	if err != nil {
		t.Fatal(err)
	}
	steps := newSteps(raw, proc)
	for i, v := range vs {
		obj := mustPutObject(t, raw, "incoming/"+v.name, v.data)
		in := workflow.StepInput{Execution: workflow.ExecutionName(obj.ETag), Replace: replace[i],
			File: workflow.FileRef{Bucket: local.RawBucket, Key: obj.Key, ETag: obj.ETag, Size: obj.Size}}
		if in.Check, err = steps.Check(ctx, in); err != nil {
			t.Fatal(err)
		}
		if in.Validate, err = steps.Validate(ctx, in); err != nil {
			t.Fatal(err)
		}
		if in.Transform, err = steps.Transform(ctx, in); err != nil {
			t.Fatal(err)
		}
		f.inputs = append(f.inputs, in)
	}
	return f
}

// processed copies the fixture's folder and opens it, gated by s at every shared key but those under
// ungated, for one schedule.
func (f *writeFixture) processed(t *testing.T, s **sched, ungated ...string) store.Bucket {
	t.Helper()
	dir := scratchDir(t)
	copyTree(t, f.golden, dir)
	proc, err := store.NewDir(local.ProcessedBucket, dir, store.WithoutSync())
	if err != nil {
		t.Fatal(err)
	}
	return gatedBucket{proc, s, ungated}
}

// scratchDir is a temporary folder in memory where the system has one (/dev/shm): the explorations
// create thousands of small files, which is I/O-bound on a disk shared with other work.
func scratchDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "settle-test-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// newSteps are the steps on raw and proc. They commit the Iceberg table too, but for the explorations
// (a gated proc): those prove the manifests' protocol under every interleaving of its calls, which the
// table's calls would multiply (it follows the manifests, and package icetable and the named schedules
// prove its commit).
func newSteps(raw, proc store.Bucket) *workflow.Steps {
	s := &workflow.Steps{Raw: raw, Processed: proc, Stage: parquetfile.Stage, Log: slog.New(slog.DiscardHandler),
		Conf: workflow.Config{RawBucket: local.RawBucket, ProcessedBucket: local.ProcessedBucket}}
	if !gated(proc) {
		s.Table = icetable.Open(proc)
	}
	return s
}

// gated reports whether b is an exploration's bucket.
func gated(b store.Bucket) bool {
	for {
		switch w := b.(type) {
		case gatedBucket:
			return true
		case *crashingBucket:
			b = w.Bucket
		default:
			return false
		}
	}
}

func mustPutObject(t *testing.T, b store.Bucket, key string, data []byte) store.Object {
	t.Helper()
	obj, err := b.Put(t.Context(), key, data)
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTwoVersionsEveryWriteInterleaving interleaves the Write steps of two versions of one batch at
// every store call on the batch's shared keys: exactly one commits, its Parquet alone is published, and
// the other ends with a ConflictError naming both files.
func TestTwoVersionsEveryWriteInterleaving(t *testing.T) {
	skipUnderRace(t)
	for _, sameDate := range []bool{true, false} {
		t.Run(fmt.Sprintf("sameDate=%v", sameDate), func(t *testing.T) {
			vs := twoVersions(t, sameDate)
			f := newWriteFixture(t, vs, []bool{false, false})
			var cur *sched
			runs := explore(t, func(s *sched) {
				cur = s
				proc := f.processed(t, &cur)
				steps := newSteps(f.raw, proc)
				errs := make([]error, len(vs))
				var actors []func(context.Context)
				for i := range vs {
					actors = append(actors, func(ctx context.Context) { _, errs[i] = steps.Write(ctx, f.inputs[i]) })
				}
				s.run(actors...)
				win := checkOneCommit(t, proc, vs)
				for i, v := range vs {
					switch {
					case win == nil:
					case v == win && errs[i] != nil:
						t.Errorf("the winner %s: %v", v.name, errs[i])
					case v != win:
						wantConflict(t, errs[i], v, win)
					}
				}
			})
			t.Logf("%d interleavings", runs)
		})
	}
}

// TestReplaceEveryWriteInterleaving: a file and a replacement of the same batch (replace set), both
// checked before anything was committed. Whatever the interleaving, exactly one ends committed: the
// replacement when it claims the batch first (the other file then conflicts) or waits for nothing; the
// file when it commits first, and then the replacement, started against no committed version, ends in a
// ConflictError rather than replacing a commit it never saw (the operator runs the replace again). The
// ledger's updates, which follow the commit, are not gates here (with them the schedules grow from about
// 600 to about 9,000): TestTwoVersionsEveryWriteInterleaving interleaves them, and the ledger's own tests
// race them.
func TestReplaceEveryWriteInterleaving(t *testing.T) {
	skipUnderRace(t)
	vs := twoVersions(t, false)
	f := newWriteFixture(t, vs, []bool{false, true})
	var cur *sched
	runs := explore(t, func(s *sched) {
		cur = s
		proc := f.processed(t, &cur, workflow.LedgerPrefix)
		steps := newSteps(f.raw, proc)
		errs := make([]error, len(vs))
		s.run(
			func(ctx context.Context) { _, errs[0] = steps.Write(ctx, f.inputs[0]) },
			func(ctx context.Context) { _, errs[1] = steps.Write(ctx, f.inputs[1]) },
		)
		var te *workflow.TransientError
		if errors.As(errs[1], &te) {
			if !strings.Contains(te.Err, "is being committed by execution") {
				t.Errorf("the replace waited with %v", te)
			}
			_, errs[1] = steps.Write(t.Context(), f.inputs[1]) // Step Functions' retry
		}
		switch win := checkOneCommit(t, proc, vs); win {
		case vs[1]:
			if errs[1] != nil {
				t.Errorf("the replacement committed, but ended %v", errs[1])
			}
			wantConflict(t, errs[0], vs[0], vs[1])
		case vs[0]:
			if errs[0] != nil {
				t.Errorf("%s committed, but ended %v", vs[0].name, errs[0])
			}
			wantReplaceConflict(t, errs[1], vs[1], vs[0])
		}
		verifyClean(t, proc, time.Date(2024, 5, 7, 9, 0, 0, 0, time.UTC))
	})
	t.Logf("%d interleavings", runs)
}

func readManifest(t *testing.T, b store.Bucket) workflow.Manifest {
	t.Helper()
	data, _, err := b.Get(t.Context(), workflow.ManifestKey("PaySettleShopEU", 5))
	if err != nil {
		t.Fatal(err)
	}
	var m workflow.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// crashingBucket lets the first n calls on shared keys through and fails every call after them, as if
// the function had died there: nothing it would do later happens.
type crashingBucket struct {
	store.Bucket
	n     int
	calls int
}

func (c *crashingBucket) crashed(keys ...string) error {
	for _, k := range keys {
		if shared(k) {
			c.calls++
			break
		}
	}
	if c.calls > c.n {
		return errors.New("the function died here")
	}
	return nil
}

func (c *crashingBucket) Head(ctx context.Context, key string) (store.Object, error) {
	if err := c.crashed(key); err != nil {
		return store.Object{}, err
	}
	return c.Bucket.Head(ctx, key)
}

func (c *crashingBucket) Open(ctx context.Context, key, ifMatch string) (io.ReadCloser, error) {
	if err := c.crashed(key); err != nil {
		return nil, err
	}
	return c.Bucket.Open(ctx, key, ifMatch)
}

func (c *crashingBucket) Get(ctx context.Context, key string) ([]byte, store.Object, error) {
	if err := c.crashed(key); err != nil {
		return nil, store.Object{}, err
	}
	return c.Bucket.Get(ctx, key)
}

func (c *crashingBucket) Copy(ctx context.Context, src, dst string) (store.Object, error) {
	if err := c.crashed(src, dst); err != nil {
		return store.Object{}, err
	}
	return c.Bucket.Copy(ctx, src, dst)
}

func (c *crashingBucket) Put(ctx context.Context, key string, data []byte) (store.Object, error) {
	if err := c.crashed(key); err != nil {
		return store.Object{}, err
	}
	return c.Bucket.Put(ctx, key, data)
}

func (c *crashingBucket) PutIf(ctx context.Context, key string, data []byte, pre store.Precondition) (store.Object, error) {
	if err := c.crashed(key); err != nil {
		return store.Object{}, err
	}
	return c.Bucket.PutIf(ctx, key, data, pre)
}

func (c *crashingBucket) Delete(ctx context.Context, key string) error {
	if err := c.crashed(key); err != nil {
		return err
	}
	return c.Bucket.Delete(ctx, key)
}

func (c *crashingBucket) DeleteIf(ctx context.Context, key, etag string) error {
	if err := c.crashed(key); err != nil {
		return err
	}
	return c.Bucket.DeleteIf(ctx, key, etag)
}

// TestWriteCrashAtEveryCall: the first version's Write dies after each of its shared-key calls in turn;
// the other version's Write runs, then the first is run again, as a redrive would. Wherever the crash, one
// version ends committed and the other with a ConflictError; a crash after the claim keeps the batch for
// the file that claimed it.
func TestWriteCrashAtEveryCall(t *testing.T) {
	vs := twoVersions(t, false)
	f := newWriteFixture(t, vs, []bool{false, false})
	ctx := t.Context()
	// The calls of a Write alone: the crash points to try.
	var none *sched
	counter := &crashingBucket{Bucket: f.processed(t, &none), n: 1 << 30}
	if _, err := newSteps(f.raw, counter).Write(ctx, f.inputs[0]); err != nil {
		t.Fatal(err)
	}
	calls := counter.calls
	for _, otherFirst := range []bool{true, false} {
		for n := range calls {
			proc := f.processed(t, &none)
			if _, err := newSteps(f.raw, &crashingBucket{Bucket: proc, n: n}).Write(ctx, f.inputs[0]); err == nil {
				t.Fatalf("crash after %d calls: the Write succeeded", n)
			}
			steps := newSteps(f.raw, proc)
			var errA, errB error
			if otherFirst {
				_, errB = steps.Write(ctx, f.inputs[1])
				_, errA = steps.Write(ctx, f.inputs[0])
			} else {
				_, errA = steps.Write(ctx, f.inputs[0])
				_, errB = steps.Write(ctx, f.inputs[1])
			}
			win := checkOneCommit(t, proc, vs)
			switch {
			case win == vs[0]:
				if errA != nil {
					t.Errorf("crash after %d calls: the committed file's rerun: %v", n, errA)
				}
				wantConflict(t, errB, vs[1], vs[0])
			case win == vs[1]:
				if errB != nil {
					t.Errorf("crash after %d calls: the committed file: %v", n, errB)
				}
				wantConflict(t, errA, vs[0], vs[1])
			}
			if t.Failed() {
				t.Fatalf("crash after %d of %d calls, other version first: %v", n, calls, otherFirst)
			}
		}
	}
	t.Logf("%d crash points", calls)
}

// TestReplaceTakesOverAStaleClaim: a Write dies after publishing its Parquet, holding the claim. A replace
// waits while the claim is fresh, takes it over once it is older than the lease, removes what the dead
// writer published and commits; the dead writer's rerun then conflicts.
func TestReplaceTakesOverAStaleClaim(t *testing.T) {
	vs := twoVersions(t, false)
	f := newWriteFixture(t, vs, []bool{false, true})
	ctx := t.Context()
	var none *sched
	proc := f.processed(t, &none)
	now := time.Date(2024, 5, 7, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	crash := newSteps(f.raw, &publishCrash{Bucket: proc, partition: f.inputs[0].Transform.Partitions[0].Key})
	crash.Now = clock
	if _, err := crash.Write(ctx, f.inputs[0]); err == nil {
		t.Fatal("the crashing Write succeeded")
	}
	if _, err := proc.Head(ctx, vs[0].partition); err != nil {
		t.Fatalf("the crash was meant to come after the publish: %v", err)
	}
	steps := newSteps(f.raw, proc)
	steps.Now = clock
	now = now.Add(workflow.ClaimLease - time.Minute)
	var te *workflow.TransientError
	if _, err := steps.Write(ctx, f.inputs[1]); !errors.As(err, &te) {
		t.Fatalf("a replace against a fresh claim: %v, want a TransientError (wait)", err)
	}
	now = now.Add(2 * time.Minute)
	res, err := steps.Write(ctx, f.inputs[1])
	if err != nil {
		t.Fatalf("a replace against a stale claim: %v", err)
	}
	if !slices.Contains(res.Removed, vs[0].partition) {
		t.Errorf("removed %v, want the dead writer's %s", res.Removed, vs[0].partition)
	}
	_, errA := steps.Write(ctx, f.inputs[0])
	wantConflict(t, errA, vs[0], vs[1])
	if win := checkOneCommit(t, proc, vs); win != vs[1] {
		t.Errorf("committed: %v, want the replacement", win)
	}
}

// TestVersionsRaceForOneBatch: several versions of one batch, each delivered several times at once, on
// real goroutines (run it with -race), a few rounds: one version ends committed, every other version's
// execution ends with a ConflictError, and the bucket holds the winner's output alone.
func TestVersionsRaceForOneBatch(t *testing.T) {
	const deliveries, rounds = 3, 4
	vs := makeVersions(t, []gen.Config{
		{Rows: 20, Seed: 5, Batch: 5, SettlementDate: "2024-05-03"},
		{Rows: 21, Seed: 6, Batch: 5, SettlementDate: "2024-05-04"},
		{Rows: 22, Seed: 7, Batch: 5, SettlementDate: "2024-05-03"},
		{Rows: 23, Seed: 8, Batch: 5, SettlementDate: "2024-05-05"},
	})
	for round := range rounds {
		e := newEnv(t, workflow.Config{})
		var objs []store.Object
		for _, v := range vs {
			path := e.file(v.name, v.data)
			obj, err := e.Upload(t.Context(), path, local.RawKey(path))
			if err != nil {
				t.Fatal(err)
			}
			objs = append(objs, obj)
		}
		var wg sync.WaitGroup
		for _, obj := range objs {
			for range deliveries {
				wg.Add(1)
				go func() {
					defer wg.Done()
					e.Deliver(t.Context(), obj)
				}()
			}
		}
		wg.Wait()
		win := checkOneCommit(t, e.Processed, vs)
		list, err := e.Engine.List()
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != len(vs) {
			t.Errorf("round %d: %d executions, want one per version (%d)", round, len(list), len(vs))
		}
		for _, v := range vs {
			x, err := e.Engine.Describe(workflow.ExecutionName(v.etag))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case v == win && x.Status != states.Succeeded:
				t.Errorf("round %d: the committed version's execution is %s %s", round, x.Status, x.Error)
			case v != win && (x.Status != states.Failed || x.Error != "ConflictError"):
				t.Errorf("round %d: %s ended %s %s, want FAILED ConflictError", round, v.name, x.Status, x.Error)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
	}
}

// checkLedgerNames asserts that the only ledger object is the batch's ledger and records the batch as
// committed from the winner's file, at the manifest's revision.
func checkLedgerNames(t *testing.T, b store.Bucket, ledgers []string, m workflow.Manifest, etag string) {
	t.Helper()
	key := workflow.LedgerKey(m.Provider, m.MerchantAccount)
	if len(ledgers) != 1 || ledgers[0] != key {
		t.Errorf("ledger objects %v, want only %s", ledgers, key)
		return
	}
	data, _, err := b.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	var l ledger.Ledger
	if err := json.Unmarshal(data, &l); err != nil {
		t.Fatal(err)
	}
	if len(l.Batches) != 1 || l.Batches[0].Number != m.BatchNumber || l.Batches[0].Source.ETag != etag || l.Batches[0].Revision != m.Revision {
		t.Errorf("ledger %+v, want batch %d from %s at revision %d", l.Batches, m.BatchNumber, etag, m.Revision)
	}
}
