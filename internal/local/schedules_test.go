package local_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/icetable"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/testkit/storefault"
	"github.com/paysettle/settle/internal/workflow"
)

// The operator schedules: what people do to executions (retry, redrive, reprocess, replace, two
// terminals on one folder) interleaved with Writes still running or long dead. Each test is one
// schedule that once committed the wrong version, kept both, lost a report or stuck; each ends with the
// table consistent with its manifests (verifyClean).

// stepClock is a settable clock for the steps.
type stepClock struct{ now time.Time }

func (c *stepClock) Now() time.Time { return c.now }

func newStepClock() *stepClock { return &stepClock{now: time.Date(2024, 5, 7, 9, 0, 0, 0, time.UTC)} }

// clocked is newSteps with the clock c.
func clocked(raw, proc store.Bucket, c *stepClock) *workflow.Steps {
	s := newSteps(raw, proc)
	s.Now = c.Now
	return s
}

// through runs Check, Validate and Transform of a version already in raw, as execution name, and
// returns the Write step's input.
func through(t *testing.T, steps *workflow.Steps, obj store.Object, name string, replace bool) workflow.StepInput {
	t.Helper()
	ctx := t.Context()
	in := workflow.StepInput{Execution: name, Replace: replace,
		File: workflow.FileRef{Bucket: local.RawBucket, Key: obj.Key, ETag: obj.ETag, Size: obj.Size}}
	var err error
	if in.Check, err = steps.Check(ctx, in); err != nil {
		t.Fatalf("check %s: %v", name, err)
	}
	if in.Validate, err = steps.Validate(ctx, in); err != nil {
		t.Fatalf("validate %s: %v", name, err)
	}
	if in.Transform, err = steps.Transform(ctx, in); err != nil {
		t.Fatalf("transform %s: %v", name, err)
	}
	return in
}

// writeCalls counts a Write's shared-key store calls when it runs alone on a copy of the fixture.
func writeCalls(t *testing.T, f *writeFixture, in workflow.StepInput, clock *stepClock) int {
	t.Helper()
	var none *sched
	counter := &crashingBucket{Bucket: f.processed(t, &none), n: 1 << 30}
	if _, err := clocked(f.raw, counter, clock).Write(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	return counter.calls
}

// crashAfterPublish runs in's Write on proc until just after its Parquet is published (the call that
// copies to the partition key), then kills it.
func crashAfterPublish(t *testing.T, raw, proc store.Bucket, clock *stepClock, in workflow.StepInput) {
	t.Helper()
	cb := &publishCrash{Bucket: proc, partition: in.Transform.Partitions[0].Key}
	if _, err := clocked(raw, cb, clock).Write(t.Context(), in); err == nil {
		t.Fatalf("%s: the Write meant to die after its publish succeeded", in.Execution)
	}
	if !cb.published {
		t.Fatalf("%s: the Write died before it published", in.Execution)
	}
}

// publishCrash fails every call after the copy to partition.
type publishCrash struct {
	store.Bucket
	partition string
	published bool
}

var errDied = errors.New("the function died here")

func (p *publishCrash) Copy(ctx context.Context, src, dst string) (store.Object, error) {
	if p.published {
		return store.Object{}, errDied
	}
	obj, err := p.Bucket.Copy(ctx, src, dst)
	p.published = err == nil && dst == p.partition
	return obj, err
}

func (p *publishCrash) dead() error {
	if p.published {
		return errDied
	}
	return nil
}

func (p *publishCrash) Get(ctx context.Context, key string) ([]byte, store.Object, error) {
	if err := p.dead(); err != nil {
		return nil, store.Object{}, err
	}
	return p.Bucket.Get(ctx, key)
}

func (p *publishCrash) Put(ctx context.Context, key string, data []byte) (store.Object, error) {
	if err := p.dead(); err != nil {
		return store.Object{}, err
	}
	return p.Bucket.Put(ctx, key, data)
}

func (p *publishCrash) PutIf(ctx context.Context, key string, data []byte, pre store.Precondition) (store.Object, error) {
	if err := p.dead(); err != nil {
		return store.Object{}, err
	}
	return p.Bucket.PutIf(ctx, key, data, pre)
}

func (p *publishCrash) Delete(ctx context.Context, key string) error {
	if err := p.dead(); err != nil {
		return err
	}
	return p.Bucket.Delete(ctx, key)
}

func (p *publishCrash) DeleteIf(ctx context.Context, key, etag string) error {
	if err := p.dead(); err != nil {
		return err
	}
	return p.Bucket.DeleteIf(ctx, key, etag)
}

// wantReplaceConflict asserts that err is a replace's ConflictError: another version than the one it
// was started against is committed.
func wantReplaceConflict(t *testing.T, err error, loser, committed *version) {
	t.Helper()
	wantConflict(t, err, loser, committed)
	var ce *workflow.ConflictError
	if errors.As(err, &ce) && (!ce.Replacing || !strings.Contains(ce.Error(), "was committed since")) {
		t.Errorf("%s: %v, want the replace's conflict (another version committed since it began)", loser.name, err)
	}
}

// Schedule 1. v1's Write claims the batch and dies; the replace v2 (started while v1 held the claim)
// waits while the claim is fresh. Hours later both are redriven together, at every interleaving of
// their store calls: v1 goes on from its claim as v2 finds that claim older than the lease. A resumed
// Write renews its claim (conditionally) before it publishes, so v2 can no longer take over a claim
// whose writer is running: exactly one version ends committed, alone in the table.
func TestScheduleResumedWriteRenewsItsClaim(t *testing.T) {
	skipUnderRace(t)
	for _, sameDate := range []bool{true, false} {
		t.Run(fmt.Sprintf("sameDate=%v", sameDate), func(t *testing.T) {
			vs := twoVersions(t, sameDate)
			f := newWriteFixture(t, vs, []bool{false, true})
			clock := newStepClock()
			// v1 dies right after claiming: the manifest read, the claim read, the claim write.
			start := func(t *testing.T, proc store.Bucket) {
				var te *workflow.TransientError
				if _, err := clocked(f.raw, &crashingBucket{Bucket: proc, n: 3}, clock).Write(t.Context(), f.inputs[0]); err == nil {
					t.Fatal("v1's Write was meant to die after claiming")
				}
				if _, err := clocked(f.raw, proc, clock).Write(t.Context(), f.inputs[1]); !errors.As(err, &te) {
					t.Fatalf("the replace against a fresh claim: %v, want it to wait", err)
				}
			}
			var cur *sched
			runs := explore(t, func(s *sched) {
				cur = nil
				clock.now = time.Date(2024, 5, 7, 9, 0, 0, 0, time.UTC)
				proc := f.processed(t, &cur, workflow.LedgerPrefix)
				start(t, proc)
				clock.now = clock.now.Add(3 * time.Hour) // the operator redrives both hours later
				cur = s
				steps := clocked(f.raw, proc, clock)
				errs := make([]error, 2)
				s.run(
					func(ctx context.Context) { _, errs[0] = steps.Write(ctx, f.inputs[0]) },
					func(ctx context.Context) { _, errs[1] = steps.Write(ctx, f.inputs[1]) },
				)
				cur = nil
				var te *workflow.TransientError
				if errors.As(errs[1], &te) { // the replace waited for v1's renewed claim: Step Functions retries it
					_, errs[1] = steps.Write(t.Context(), f.inputs[1])
				}
				win := checkOneCommit(t, proc, vs)
				switch win {
				case vs[0]:
					if errs[0] != nil {
						t.Errorf("v1 committed, but its Write ended %v", errs[0])
					}
					// The replace was started when nothing was committed: it replaces no commit made since.
					wantReplaceConflict(t, errs[1], vs[1], vs[0])
				case vs[1]:
					if errs[1] != nil {
						t.Errorf("the replace committed, but its Write ended %v", errs[1])
					}
					wantConflict(t, errs[0], vs[0], vs[1])
				}
				verifyClean(t, proc, clock.now)
			})
			t.Logf("%d interleavings", runs)
		})
	}
}

// Schedule 2. v0 publishes date D0 and dies; the replace v1 takes its claim over (to remove D0),
// publishes D1 and dies; the replace v2 takes over in turn. Its commit removes D0 as well as D1: a claim
// carries over everything the claims before it published or meant to remove.
func TestScheduleSecondTakeoverRemovesEveryDeadWritersObjects(t *testing.T) {
	vs := makeVersions(t, []gen.Config{
		{Rows: 20, Seed: 5, Batch: 5, SettlementDate: "2024-05-03"},
		{Rows: 21, Seed: 6, Batch: 5, SettlementDate: "2024-05-04"},
		{Rows: 22, Seed: 7, Batch: 5, SettlementDate: "2024-05-05"},
	})
	f := newWriteFixture(t, vs, []bool{false, true, true})
	clock := newStepClock()
	var none *sched
	proc := f.processed(t, &none)
	crashAfterPublish(t, f.raw, proc, clock, f.inputs[0])
	clock.now = clock.now.Add(2 * workflow.ClaimLease)
	crashAfterPublish(t, f.raw, proc, clock, f.inputs[1])
	clock.now = clock.now.Add(2 * workflow.ClaimLease)
	steps := clocked(f.raw, proc, clock)
	res, err := steps.Write(t.Context(), f.inputs[2])
	if err != nil {
		t.Fatalf("the second takeover: %v", err)
	}
	for _, v := range vs[:2] {
		if !slices.Contains(res.Removed, v.partition) {
			t.Errorf("the commit removed %v, not %s's %s", res.Removed, v.name, v.partition)
		}
	}
	// The dead writers' redrives end in conflicts and leave the commit alone.
	_, err = steps.Write(t.Context(), f.inputs[0])
	wantConflict(t, err, vs[0], vs[2])
	_, err = steps.Write(t.Context(), f.inputs[1])
	wantReplaceConflict(t, err, vs[1], vs[2])
	if win := checkOneCommit(t, proc, vs); win != vs[2] {
		t.Errorf("committed %v, want %s", win, vs[2].name)
	}
	verifyClean(t, proc, clock.now)
}

// Schedule 3. A replace dies between publishing its Parquet and writing the manifest. Until it is
// retried or redriven, a reader that lists files sees both versions (dates differ) or the new rows under
// the old manifest (same date): the verify check reports the commit as in flight while its claim is
// fresh, and as a finding naming the redrive once the claim is older than the lease. The redrive
// completes the commit and the table is consistent again.
func TestScheduleReplaceDiesBetweenPublishAndManifest(t *testing.T) {
	for _, sameDate := range []bool{true, false} {
		t.Run(fmt.Sprintf("sameDate=%v", sameDate), func(t *testing.T) {
			vs := twoVersions(t, sameDate)
			ctx := t.Context()
			raw, proc := newBuckets(t)
			clock := newStepClock()
			steps := clocked(raw, proc, clock)
			a := through(t, steps, mustPutObject(t, raw, "incoming/"+vs[0].name, vs[0].data), "a", false)
			if _, err := steps.Write(ctx, a); err != nil {
				t.Fatal(err)
			}
			b := through(t, steps, mustPutObject(t, raw, "incoming/"+vs[1].name, vs[1].data), "b-p1", true)
			crashAfterPublish(t, raw, proc, clock, b)

			rep := verify(t, proc, clock.now)
			if !rep.OK() || len(rep.InFlight) != 1 || rep.InFlight[0].Execution != "b-p1" {
				t.Errorf("a fresh claim: findings %v, in flight %+v; want the commit in flight and no finding", rep.Findings, rep.InFlight)
			}
			clock.now = clock.now.Add(workflow.ClaimLease)
			rep = verify(t, proc, clock.now)
			if got := kinds(rep); !slices.Contains(got, workflow.FindingStaleClaim) {
				t.Errorf("a claim older than the lease: findings %v, want %s", rep.Findings, workflow.FindingStaleClaim)
			}
			for _, fd := range rep.Findings {
				if fd.Kind == workflow.FindingStaleClaim && fd.Command != "redrive b-p1" {
					t.Errorf("the stale claim's remedy is %q, want the redrive of b-p1", fd.Command)
				}
			}
			if _, err := steps.Write(ctx, b); err != nil { // the redrive
				t.Fatalf("the redriven replace: %v", err)
			}
			if win := checkOneCommit(t, proc, vs); win != vs[1] {
				t.Errorf("committed %v, want the replacement", win)
			}
			verifyClean(t, proc, clock.now)
		})
	}
}

// Schedule 4. v1 is committed. A replace by v2, started against v1, fails before its commit; a replace
// by v3, also started against v1, commits. Redriving v2's replace must not put v2 in v3's place: a
// replace replaces the version it was started against, and ends in a conflict naming the newer one.
func TestScheduleRedriveOfAnOldReplaceKeepsTheNewerOne(t *testing.T) {
	vs := makeVersions(t, []gen.Config{
		{Rows: 20, Seed: 5, Batch: 5, SettlementDate: "2024-05-03"},
		{Rows: 21, Seed: 6, Batch: 5, SettlementDate: "2024-05-04"},
		{Rows: 22, Seed: 7, Batch: 5, SettlementDate: "2024-05-03"},
	})
	ctx := t.Context()
	raw, proc := newBuckets(t)
	clock := newStepClock()
	steps := clocked(raw, proc, clock)
	a := through(t, steps, mustPutObject(t, raw, "incoming/"+vs[0].name, vs[0].data), "v1", false)
	if _, err := steps.Write(ctx, a); err != nil {
		t.Fatal(err)
	}
	b := through(t, steps, mustPutObject(t, raw, "incoming/"+vs[1].name, vs[1].data), "v2-p1", true)
	c := through(t, steps, mustPutObject(t, raw, "incoming/"+vs[2].name, vs[2].data), "v3-p1", true)
	if b.Check.ReplacesETag != vs[0].etag || c.Check.ReplacesETag != vs[0].etag {
		t.Fatalf("the replaces were started against %q and %q, want v1's %s", b.Check.ReplacesETag, c.Check.ReplacesETag, vs[0].etag)
	}
	if _, err := clocked(raw, &crashingBucket{Bucket: proc, n: 1}, clock).Write(ctx, b); err == nil {
		t.Fatal("v2's replace was meant to fail")
	}
	if _, err := steps.Write(ctx, c); err != nil {
		t.Fatalf("v3's replace: %v", err)
	}
	_, err := steps.Write(ctx, b) // the redrive, after v3 was committed
	wantReplaceConflict(t, err, vs[1], vs[2])
	if win := checkOneCommit(t, proc, vs); win != vs[2] {
		t.Errorf("committed %v, want v3", win)
	}
	if m := readManifest(t, proc); m.Revision != 1 || m.Replaced == nil || m.Replaced.ETag != vs[0].etag {
		t.Errorf("the manifest is revision %d replacing %v, want revision 1 replacing v1", m.Revision, m.Replaced)
	}
	verifyClean(t, proc, clock.now)
}

// Schedule 6. The ledger update after a commit fails through its retries, so the Write fails although
// the batch is committed; the operator then restarts the file (-r1), whose Check finds the commit and
// ends as a duplicate. That Check records the commit in the ledger: the batch is never reported missing.
func TestScheduleLedgerRecordsACommitItMissed(t *testing.T) {
	vs := twoVersions(t, false)
	ctx := t.Context()
	raw, dir := newBuckets(t)
	faults := &storefault.Bucket{Bucket: dir}
	clock := newStepClock()
	steps := clocked(raw, faults, clock)
	obj := mustPutObject(t, raw, "incoming/"+vs[0].name, vs[0].data)
	in := through(t, steps, obj, "a", false)
	faults.Set(workflow.LedgerPrefix, -1)
	var te *workflow.TransientError
	if _, err := steps.Write(ctx, in); !errors.As(err, &te) {
		t.Fatalf("the Write with the ledger failing: %v, want a TransientError", err)
	}
	faults.Set(workflow.LedgerPrefix, 0)
	if rep := verify(t, dir, clock.now); !slices.Contains(kinds(rep), workflow.FindingLedger) {
		t.Errorf("a commit the ledger lacks: findings %v, want %s", rep.Findings, workflow.FindingLedger)
	}
	restart := workflow.StepInput{Execution: "a-r1", File: in.File}
	res, err := steps.Check(ctx, restart)
	if err != nil || !res.AlreadyProcessed {
		t.Fatalf("the restart's check: %+v, %v; want already processed", res, err)
	}
	m := readManifest(t, dir)
	checkLedgerNames(t, dir, []string{workflow.LedgerKey(m.Provider, m.MerchantAccount)}, m, vs[0].etag)
	verifyClean(t, dir, clock.now) // the claim released by the restart's check; a's staging kept for its redrive
}

// The Iceberg table's commit fails through its retries after the manifest was written: the Write fails
// although the batch is committed, and the operator's restart (-r1) ends as a duplicate at its Check,
// which does not touch the table (only the write function links Iceberg). The table stays a version
// behind: verify names the batch and what resolves it, and settle table sync commits it, once.
func TestScheduleTableSyncAfterACommitItMissed(t *testing.T) {
	vs := twoVersions(t, false)
	ctx := t.Context()
	raw, dir := newBuckets(t)
	faults := &storefault.Bucket{Bucket: dir}
	clock := newStepClock()
	steps := clocked(raw, faults, clock)
	steps.Table = icetable.Open(faults)
	obj := mustPutObject(t, raw, "incoming/"+vs[0].name, vs[0].data)
	in := through(t, steps, obj, "a", false)
	faults.Set(workflow.TablePrefix+"/metadata/", -1)
	var te *workflow.TransientError
	if _, err := steps.Write(ctx, in); !errors.As(err, &te) {
		t.Fatalf("the Write with the table failing: %v, want a TransientError", err)
	}
	faults.Set(workflow.TablePrefix+"/metadata/", 0)
	restart := workflow.StepInput{Execution: "a-r1", File: in.File}
	if res, err := steps.Check(ctx, restart); err != nil || !res.AlreadyProcessed {
		t.Fatalf("the restart's check: %+v, %v; want already processed", res, err)
	}
	rep := verify(t, dir, clock.now)
	if len(rep.Findings) != 1 || rep.Findings[0].Kind != workflow.FindingTable || rep.Findings[0].Command != "table sync" {
		t.Fatalf("findings %v, want one %s resolved by table sync", rep.Findings, workflow.FindingTable)
	}
	// The scheduled check (a stack's batches function) alerts on it once, and on its resolution once.
	alerts := &alertLog{}
	check := &workflow.BatchCheck{Processed: dir, Publisher: alerts, Table: icetable.Open(dir), Now: clock.Now}
	if res, err := check.Handle(ctx, workflow.BatchCheckInput{}); err != nil || res.TableFindings != 1 || res.Alerts != 1 ||
		len(alerts.msgs) != 1 || !strings.Contains(alerts.msgs[0], workflow.FindingTable) {
		t.Fatalf("the scheduled check: %+v, %v, sent %q; want one %s alert", res, err, alerts.msgs, workflow.FindingTable)
	}
	for range 2 { // a second sync finds nothing to do
		if _, err := workflow.SyncTable(ctx, dir, icetable.Open(dir)); err != nil {
			t.Fatal(err)
		}
	}
	tbl, version, err := icetable.Open(dir).Current(ctx)
	if err != nil || version != 2 || len(tbl.Metadata().Snapshots()) != 1 {
		t.Errorf("after two syncs: version %d, %v; want one commit", version, err)
	}
	verifyClean(t, dir, clock.now) // a's staging kept for its redrive
	if res, err := check.Handle(ctx, workflow.BatchCheckInput{}); err != nil || res.TableFindings != 0 || res.Resolutions != 1 ||
		len(alerts.msgs) != 2 || !strings.HasPrefix(alerts.msgs[1], "Resolved:") {
		t.Fatalf("the scheduled check after the sync: %+v, %v, sent %q; want the alert resolved", res, err, alerts.msgs)
	}
}

// alertLog is the alert topic of a scheduled check: it keeps each message as subject, a newline, text.
type alertLog struct{ msgs []string }

func (a *alertLog) Publish(_ context.Context, subject, message string) error {
	a.msgs = append(a.msgs, subject+"\n"+message)
	return nil
}

// Schedule 7. Two executions of one content: the file's own (which conflicts with the committed v1)
// and an operator's replace of it (-p1), each through Transform before either Write. The conflict
// removes only its own staging: the replace's Write then commits.
func TestScheduleExecutionsOfOneContentStageApart(t *testing.T) {
	vs := twoVersions(t, false)
	ctx := t.Context()
	raw, proc := newBuckets(t)
	clock := newStepClock()
	steps := clocked(raw, proc, clock)
	objB := mustPutObject(t, raw, "incoming/"+vs[1].name, vs[1].data)
	own := through(t, steps, objB, workflow.ExecutionName(objB.ETag), false) // before v1 is committed
	a := through(t, steps, mustPutObject(t, raw, "incoming/"+vs[0].name, vs[0].data), "v1", false)
	if _, err := steps.Write(ctx, a); err != nil {
		t.Fatal(err)
	}
	replace := through(t, steps, objB, workflow.ExecutionName(objB.ETag)+"-p1", true)
	_, err := steps.Write(ctx, own)
	wantConflict(t, err, vs[1], vs[0])
	if _, err := steps.Write(ctx, replace); err != nil {
		t.Fatalf("the replace after the other execution's conflict: %v", err)
	}
	if win := checkOneCommit(t, proc, vs); win != vs[1] {
		t.Errorf("committed %v, want the replacement", win)
	}
	verifyClean(t, proc, clock.now)
}

// Schedule 5, on the data folder: two `settle run` processes upload two different reports of one name
// at the same moment (both look the key up before either writes it). Each content gets a key of its
// own, both batches are committed, and nothing is reported as processed that was not.
func TestScheduleTwoRunsUploadOneNameAtOnce(t *testing.T) {
	dir := scratchDir(t)
	files := t.TempDir()
	ctx := t.Context()
	reports := [][]byte{}
	for _, cfg := range []gen.Config{{Rows: 20, Seed: 5, Batch: 5}, {Rows: 21, Seed: 6, Batch: 6}} {
		var buf strings.Builder
		if _, err := gen.Write(&buf, cfg); err != nil {
			t.Fatal(err)
		}
		reports = append(reports, []byte(buf.String()))
	}
	// Both processes look the key up before either writes it.
	looked := newBarrier(2)
	var envs []*local.Env
	for range 2 {
		var once bool
		e, err := local.Open(dir, local.Options{Clock: newClock(), WrapRaw: func(b store.Bucket) store.Bucket {
			return headHook{Bucket: b, hook: func() {
				if !once {
					once = true
					looked.wait()
				}
			}}
		}})
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, e)
	}
	results := make([]local.FileResult, 2)
	done := make(chan int)
	for i := range 2 {
		path := writeFile(t, files, fmt.Sprintf("%c/report.csv", 'a'+i), reports[i])
		go func() {
			results[i] = envs[i].RunInput(ctx, local.Input{Path: path, Key: "incoming/report.csv"})
			done <- i
		}()
	}
	<-done
	<-done
	keys := map[string]bool{}
	for i, r := range results {
		if r.Status != local.Succeeded {
			t.Errorf("%s: %s (%s), want SUCCEEDED", r.File, r.Status, r.Error)
		}
		keys[r.Key] = true
		m, err := workflow.ReadManifest(ctx, envs[0].Processed, workflow.ManifestKey("PaySettleShopEU", int64(5+i)))
		if err != nil {
			t.Errorf("batch %d is not committed: %v", 5+i, err)
			continue
		}
		if m.Source.Key != r.Key || m.Source.ETag != r.ETag {
			t.Errorf("batch %d is committed from %s (%s), want %s (%s)", 5+i, m.Source.Key, m.Source.ETag, r.Key, r.ETag)
		}
	}
	if len(keys) != 2 {
		t.Errorf("the two reports went to keys %v, want one each", keys)
	}
	verifyClean(t, envs[0].Processed, time.Date(2024, 5, 7, 10, 0, 0, 0, time.UTC))
}

// barrier lets n goroutines go on once all n have arrived.
type barrier struct {
	arrive chan struct{}
	open   chan struct{}
}

func newBarrier(n int) *barrier {
	b := &barrier{arrive: make(chan struct{}, n), open: make(chan struct{})}
	go func() {
		for range n {
			<-b.arrive
		}
		close(b.open)
	}()
	return b
}

func (b *barrier) wait() {
	b.arrive <- struct{}{}
	<-b.open
}

// headHook calls hook before every Head.
type headHook struct {
	store.Bucket
	hook func()
}

func (h headHook) Head(ctx context.Context, key string) (store.Object, error) {
	h.hook()
	return h.Bucket.Head(ctx, key)
}

// newBuckets is a raw and a processed folder bucket.
func newBuckets(t *testing.T) (store.Bucket, store.Bucket) {
	t.Helper()
	raw, err := store.NewDir(local.RawBucket, t.TempDir(), store.WithoutSync())
	if err != nil {
		t.Fatal(err)
	}
	proc, err := store.NewDir(local.ProcessedBucket, scratchDir(t), store.WithoutSync())
	if err != nil {
		t.Fatal(err)
	}
	return raw, proc
}

// TestOperatorActionsEveryInterleaving extends the explorations from versions racing from the start to
// what operators do to executions long after: a Write dies after each of its shared-key calls in turn;
// hours later (past the lease) its redrive and another version's replace run together, at every
// interleaving of their shared-key calls (the ledger's are not gates: TestTwoVersionsEveryWriteInterleaving
// interleaves them); then both are redriven once more, as a `redrive --all-failed` repeated would. Two
// cases: the dead Write is a first commit and the replace was started before anything was committed;
// or the dead Write is itself a replace of a committed v1 and the other replace was started against v1
// too. (Same-date variants of these schedules are explored by TestScheduleResumedWriteRenewsItsClaim.) Whatever the crash point and the interleaving, exactly one version ends committed, alone in the
// table, the other in a ConflictError (a replace's naming the version committed since), the repeated
// redrives change nothing, and the table verifies clean.
func TestOperatorActionsEveryInterleaving(t *testing.T) {
	skipUnderRace(t)
	for _, tc := range []struct {
		name     string
		cfgs     []gen.Config
		replaces []bool // the inputs' replace flags; with three versions the first is committed before
	}{
		{"first commit dies, replace of nothing", []gen.Config{
			{Rows: 20, Seed: 5, Batch: 5, SettlementDate: "2024-05-03"},
			{Rows: 21, Seed: 6, Batch: 5, SettlementDate: "2024-05-04"}}, []bool{false, true}},
		{"replace of v1 dies, another replace of v1", []gen.Config{
			{Rows: 20, Seed: 5, Batch: 5, SettlementDate: "2024-05-03"},
			{Rows: 21, Seed: 6, Batch: 5, SettlementDate: "2024-05-04"},
			{Rows: 22, Seed: 7, Batch: 5, SettlementDate: "2024-05-05"}}, []bool{false, true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := makeVersions(t, tc.cfgs)
			f := operatorFixture(t, vs, tc.replaces)
			racers := f.inputs[len(f.inputs)-2:] // the dead Write's and the other version's
			clock := newStepClock()
			calls := writeCalls(t, f, racers[0], clock)
			total := 0
			// The crash points: before the claim is written (the first three calls read the manifest and
			// the claim, and write the claim: a Write dead there left nothing), right after the claim,
			// after the publish, and after the manifest. Every interleaving of the two Writes is run for
			// each; the calls in between are interleaved the same way by the other explorations.
			for _, n := range []int{2, 3, 6, calls - 3} {
				var cur *sched
				total += explore(t, func(s *sched) {
					cur = nil
					clock.now = time.Date(2024, 5, 7, 9, 0, 0, 0, time.UTC)
					proc := f.processed(t, &cur, workflow.LedgerPrefix)
					_, _ = clocked(f.raw, &crashingBucket{Bucket: proc, n: n}, clock).Write(t.Context(), racers[0])
					clock.now = clock.now.Add(3 * time.Hour)
					cur = s
					steps := clocked(f.raw, proc, clock)
					errs := make([]error, 2)
					s.run(
						func(ctx context.Context) { _, errs[0] = steps.Write(ctx, racers[0]) },
						func(ctx context.Context) { _, errs[1] = steps.Write(ctx, racers[1]) },
					)
					cur = nil
					for i := range errs {
						var te *workflow.TransientError
						if errors.As(errs[i], &te) { // waited for the other's claim: Step Functions retries it
							_, errs[i] = steps.Write(t.Context(), racers[i])
						}
					}
					win := checkOneCommit(t, proc, vs)
					checkOutcome(t, vs, racers, errs, win)
					for i := range racers { // the operator redrives everything once more
						_, errs[i] = steps.Write(t.Context(), racers[i])
					}
					if again := checkOneCommit(t, proc, vs); again != win {
						t.Errorf("the repeated redrives changed the commit from %v to %v", win, again)
					}
					checkOutcome(t, vs, racers, errs, win)
					verifyClean(t, proc, clock.now)
					if t.Failed() {
						t.Logf("the dead Write died after %d of its %d shared-key calls", n, calls)
					}
				})
			}
			t.Logf("4 of %d crash points, %d interleavings", calls, total)
		})
	}
}

// checkOutcome asserts the racers' results against the committed version: the committed racer's Write
// succeeded, the other's ended in a ConflictError, a replace's saying what was committed since.
func checkOutcome(t *testing.T, vs []*version, racers []workflow.StepInput, errs []error, win *version) {
	t.Helper()
	if win == nil {
		return
	}
	for i, in := range racers {
		v := versionOf(vs, in)
		switch {
		case v == win && errs[i] != nil:
			t.Errorf("%s is committed, but its Write ended %v", v.name, errs[i])
		case v != win && in.Replace:
			wantReplaceConflict(t, errs[i], v, win)
		case v != win:
			wantConflict(t, errs[i], v, win)
		}
	}
}

func versionOf(vs []*version, in workflow.StepInput) *version {
	for _, v := range vs {
		if v.etag == in.File.ETag {
			return v
		}
	}
	return nil
}

// operatorFixture is newWriteFixture where, with three versions, the first is committed before the other
// two are checked (so their replaces are started against it).
func operatorFixture(t *testing.T, vs []*version, replace []bool) *writeFixture {
	t.Helper()
	if len(vs) == 2 {
		return newWriteFixture(t, vs, replace)
	}
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
		in := through(t, steps, obj, workflow.ExecutionName(obj.ETag), replace[i])
		if i == 0 {
			if _, err := steps.Write(ctx, in); err != nil {
				t.Fatal(err)
			}
		}
		f.inputs = append(f.inputs, in)
	}
	return f
}

// A republish (a replace of the committed file by itself) dead after publishing holds the batch's claim;
// another execution of the same content (a duplicate delivery, a restart) that ends at Check must leave
// that claim alone, or a replace could publish under it. The republish's redrive then completes.
func TestScheduleDuplicateLeavesARepublishAlone(t *testing.T) {
	vs := twoVersions(t, false)
	ctx := t.Context()
	raw, proc := newBuckets(t)
	clock := newStepClock()
	steps := clocked(raw, proc, clock)
	obj := mustPutObject(t, raw, "incoming/"+vs[0].name, vs[0].data)
	a := through(t, steps, obj, "a", false)
	if _, err := steps.Write(ctx, a); err != nil {
		t.Fatal(err)
	}
	again := through(t, steps, obj, "a-p1", true)
	crashAfterPublish(t, raw, proc, clock, again)
	if res, err := steps.Check(ctx, workflow.StepInput{Execution: "a-r1", File: a.File}); err != nil || !res.AlreadyProcessed {
		t.Fatalf("the duplicate's check: %+v, %v", res, err)
	}
	if _, err := proc.Head(ctx, workflow.ClaimKey("PaySettleShopEU", 5)); err != nil {
		t.Fatalf("the republish's claim: %v, want it kept", err)
	}
	if _, err := steps.Write(ctx, again); err != nil {
		t.Fatalf("the republish's redrive: %v", err)
	}
	if m := readManifest(t, proc); m.Revision != 1 || m.Execution != "a-p1" {
		t.Errorf("manifest revision %d by %s, want 1 by a-p1", m.Revision, m.Execution)
	}
	checkOneCommit(t, proc, vs)
	verifyClean(t, proc, clock.now)
}

// A republish of v1 (a-p1, a replace of the committed file by itself) and a replace of v1 by v2 (b-p1),
// both started against v1's commit, at every interleaving of their Writes: a claim belongs to its
// execution, so neither takes the other's live claim. Exactly one commits; the other, started against
// a commit that is no longer the batch's, ends in a replace's ConflictError; the table verifies clean.
func TestScheduleRepublishAgainstAReplace(t *testing.T) {
	skipUnderRace(t)
	for _, sameDate := range []bool{true, false} {
		t.Run(fmt.Sprintf("sameDate=%v", sameDate), func(t *testing.T) {
			vs := twoVersions(t, sameDate)
			f := operatorFixture(t, append([]*version{vs[0]}, vs...), []bool{false, true, true})
			f.inputs[1].Execution += "-p1" // the republish: v1's own content, a new execution
			racers := f.inputs[1:]
			clock := newStepClock()
			var cur *sched
			runs := explore(t, func(s *sched) {
				cur = s
				proc := f.processed(t, &cur, workflow.LedgerPrefix)
				steps := clocked(f.raw, proc, clock)
				errs := make([]error, 2)
				s.run(
					func(ctx context.Context) { _, errs[0] = steps.Write(ctx, racers[0]) },
					func(ctx context.Context) { _, errs[1] = steps.Write(ctx, racers[1]) },
				)
				cur = nil
				retryWaits(steps, racers, errs)
				win := checkOneCommit(t, proc, vs)
				checkOutcome(t, vs, racers, errs, win)
				verifyClean(t, proc, clock.now)
			})
			t.Logf("%d interleavings", runs)
		})
	}
}

// Two executions of one replace (b-p1 and b-p2, v1 by v2, say a redrive and a second reprocess) at every
// interleaving: the second waits for the first's live claim instead of taking it, and ends with nothing
// to do once v2 is committed. A later replace of v2 by v3 (c-p1) then commits on v1's date, and a last
// redrive of b-p1 leaves it alone: v3's object is never deleted by a writer of v2.
func TestScheduleExecutionsOfOneReplaceWait(t *testing.T) {
	skipUnderRace(t)
	vs := makeVersions(t, []gen.Config{
		{Rows: 20, Seed: 5, Batch: 5, SettlementDate: "2024-05-03"},
		{Rows: 21, Seed: 6, Batch: 5, SettlementDate: "2024-05-04"},
		{Rows: 22, Seed: 7, Batch: 5, SettlementDate: "2024-05-03"},
	})
	f := operatorFixture(t, []*version{vs[0], vs[1], vs[1]}, []bool{false, true, true})
	f.inputs[1].Execution += "-p1"
	f.inputs[2].Execution += "-p2"
	racers := f.inputs[1:]
	clock := newStepClock()
	var cur *sched
	runs := explore(t, func(s *sched) {
		cur = s
		proc := f.processed(t, &cur, workflow.LedgerPrefix)
		steps := clocked(f.raw, proc, clock)
		errs := make([]error, 2)
		s.run(
			func(ctx context.Context) { _, errs[0] = steps.Write(ctx, racers[0]) },
			func(ctx context.Context) { _, errs[1] = steps.Write(ctx, racers[1]) },
		)
		cur = nil
		for i := range errs {
			var te *workflow.TransientError
			if errors.As(errs[i], &te) {
				_, errs[i] = steps.Write(t.Context(), racers[i])
			}
			if errs[i] != nil {
				t.Errorf("%s: %v, want v2 committed by one and nothing left for the other", racers[i].Execution, errs[i])
			}
		}
		if win := checkOneCommit(t, proc, vs); win != vs[1] {
			t.Fatalf("committed %v, want v2", win)
		}
		objC := store.Object{Key: "incoming/" + vs[2].name, ETag: vs[2].etag, Size: int64(len(vs[2].data))}
		if _, err := f.raw.Head(t.Context(), objC.Key); err != nil {
			mustPutObject(t, f.raw, objC.Key, vs[2].data)
		}
		c := through(t, steps, objC, "c-p1", true)
		if _, err := steps.Write(t.Context(), c); err != nil {
			t.Fatalf("c-p1: %v", err)
		}
		if _, err := steps.Write(t.Context(), racers[0]); err != nil { // a last redrive of b-p1
			wantReplaceConflict(t, err, vs[1], vs[2])
		}
		if win := checkOneCommit(t, proc, vs); win != vs[2] {
			t.Errorf("committed %v, want v3", win)
		}
		verifyClean(t, proc, clock.now)
	})
	t.Logf("%d interleavings", runs)
}

// An ABA: v1 committed; b-p1 (replace of v1 by v2) fails before claiming; b-p2 (the same replace) commits
// v2; an operator puts v1 back (a-p1, replace of v2 by v1). Redriving b-p1 must not replace that v1: it
// was started against v1's first commit, not this one.
func TestScheduleOldReplaceAfterAnABA(t *testing.T) {
	vs := twoVersions(t, false)
	ctx := t.Context()
	raw, proc := newBuckets(t)
	clock := newStepClock()
	steps := clocked(raw, proc, clock)
	objA := mustPutObject(t, raw, "incoming/"+vs[0].name, vs[0].data)
	objB := mustPutObject(t, raw, "incoming/"+vs[1].name, vs[1].data)
	if _, err := steps.Write(ctx, through(t, steps, objA, "a", false)); err != nil {
		t.Fatal(err)
	}
	b1 := through(t, steps, objB, "b-p1", true)
	if _, err := clocked(raw, &crashingBucket{Bucket: proc, n: 1}, clock).Write(ctx, b1); err == nil {
		t.Fatal("b-p1 was meant to fail")
	}
	if _, err := steps.Write(ctx, through(t, steps, objB, "b-p2", true)); err != nil {
		t.Fatal(err)
	}
	if _, err := steps.Write(ctx, through(t, steps, objA, "a-p1", true)); err != nil {
		t.Fatal(err)
	}
	_, err := steps.Write(ctx, b1)
	wantReplaceConflict(t, err, vs[1], vs[0])
	want := []workflow.Commit{{Execution: "a", ETag: vs[0].etag}, {Execution: "b-p2", ETag: vs[1].etag}}
	if m := readManifest(t, proc); m.Source.ETag != vs[0].etag || m.Revision != 2 || !slices.Equal(m.History, want) {
		t.Errorf("manifest %s revision %d, history %v; want v1 back at revision 2 after %v", m.Source.ETag, m.Revision, m.History, want)
	}
	checkOneCommit(t, proc, vs)
	verifyClean(t, proc, clock.now)
}

// A Write commits v1 and fails on the ledger; an operator replaces v1 by v2; the first Write's redrive
// then has nothing to do (its content was committed and replaced since): no ConflictError, no alert
// advising a replace that would undo v2.
func TestScheduleRedriveAfterItsCommitWasReplaced(t *testing.T) {
	vs := twoVersions(t, false)
	ctx := t.Context()
	raw, dir := newBuckets(t)
	faults := &storefault.Bucket{Bucket: dir}
	clock := newStepClock()
	steps := clocked(raw, faults, clock)
	a := through(t, steps, mustPutObject(t, raw, "incoming/"+vs[0].name, vs[0].data), "a", false)
	faults.Set(workflow.LedgerPrefix, -1)
	if _, err := steps.Write(ctx, a); err == nil {
		t.Fatal("a's Write was meant to fail on the ledger")
	}
	faults.Set(workflow.LedgerPrefix, 0)
	if _, err := steps.Write(ctx, through(t, steps, mustPutObject(t, raw, "incoming/"+vs[1].name, vs[1].data), "b-p1", true)); err != nil {
		t.Fatal(err)
	}
	res, err := steps.Write(ctx, a)
	if err != nil || res.ReplacedBy == nil || res.ReplacedBy.ETag != vs[1].etag {
		t.Fatalf("a's redrive: %+v, %v; want nothing to do, replaced by v2", res, err)
	}

	restart, err := steps.Check(ctx, workflow.StepInput{Execution: "a-r1", File: a.File})
	if err != nil || !restart.AlreadyProcessed || !strings.Contains(restart.Reason, "replaced since") {
		t.Errorf("a's restart: %+v, %v; want already processed, replaced since", restart, err)
	}
	if win := checkOneCommit(t, dir, vs); win != vs[1] {
		t.Errorf("committed %v, want v2", win)
	}
	verifyClean(t, dir, clock.now)
}

// listGated stops an actor at every List: the points between a check's listings, where another
// writer's commit can land.
type listGated struct {
	store.Bucket
	s **sched
}

func (g listGated) List(ctx context.Context, prefix string) ([]store.Object, error) {
	(*g.s).gate(ctx)
	return g.Bucket.List(ctx, prefix)
}

// The consistency check run while commits run, at every interleaving of its listings with the Write's
// calls: a replace of v1 by v2, and the first commit of another batch. The table is consistent before
// and after, so the check must report nothing (commits in flight aside) whatever the interleaving.
func TestVerifyDuringCommitsEveryInterleaving(t *testing.T) {
	skipUnderRace(t)
	vs := makeVersions(t, []gen.Config{
		{Rows: 20, Seed: 5, Batch: 5, SettlementDate: "2024-05-03"},
		{Rows: 21, Seed: 6, Batch: 5, SettlementDate: "2024-05-04"},
		{Rows: 22, Seed: 7, Batch: 6, SettlementDate: "2024-05-03"},
	})
	// v1 committed; v2 checked as its replace; batch 6 checked as a first commit.
	f := operatorFixture(t, vs, []bool{false, true, false})
	clock := newStepClock()
	total := 0
	for _, in := range f.inputs[1:] {
		var cur *sched
		total += explore(t, func(s *sched) {
			cur = s
			proc := f.processed(t, &cur, workflow.LedgerPrefix)
			steps := clocked(f.raw, proc, clock)
			var rep *workflow.VerifyReport
			var werr, verr error
			s.run(
				func(ctx context.Context) { _, werr = steps.Write(ctx, in) },
				func(ctx context.Context) {
					v := workflow.Verifier{Processed: listGated{proc.(gatedBucket).Bucket, &cur}, Now: clock.Now}
					rep, verr = v.Verify(ctx)
				},
			)
			cur = nil
			if werr != nil || verr != nil {
				t.Fatalf("write %v, verify %v", werr, verr)
			}
			if !rep.OK() {
				t.Errorf("verify during %s's commit: %v", in.Execution, rep.Findings)
			}
			verifyClean(t, proc, clock.now)
		})
	}
	t.Logf("%d interleavings", total)
}

// pausing runs hook before every call of the wrapped bucket, with the call's name and key: a test
// blocks an attempt there to run a schedule by hand.
type pausing struct {
	store.Bucket
	hook func(call, key string)
}

func (p pausing) Get(ctx context.Context, key string) ([]byte, store.Object, error) {
	p.hook("get", key)
	return p.Bucket.Get(ctx, key)
}

func (p pausing) Copy(ctx context.Context, src, dst string) (store.Object, error) {
	p.hook("copy", dst)
	return p.Bucket.Copy(ctx, src, dst)
}

func (p pausing) Delete(ctx context.Context, key string) error {
	p.hook("delete", key)
	return p.Bucket.Delete(ctx, key)
}

func (p pausing) DeleteIf(ctx context.Context, key, etag string) error {
	p.hook("deleteif", key)
	return p.Bucket.DeleteIf(ctx, key, etag)
}

// pauseAt returns a hook that blocks the first call matching call and key prefix until release is
// closed, reporting on reached when it gets there.
func pauseAt(call, prefix string, reached, release chan struct{}) func(string, string) {
	done := false
	return func(c, key string) {
		if !done && c == call && strings.HasPrefix(key, prefix) {
			done = true
			close(reached)
			<-release
		}
	}
}

// Two attempts of one Write at once (Step Functions retries an invocation it lost track of while the
// first still runs): A1 claims and stops before its copy; A2 renews the claim, publishes and stops before
// removing v1's object; A1 commits v2; a replace of v2 by v3 (on v1's date) commits; A2 goes on. Its
// removal is conditional on v1's recorded version, so v3's object at that key stays, and A2 ends with
// nothing to do: its execution's commit was replaced since.
func TestScheduleTwoAttemptsOfOneWrite(t *testing.T) {
	vs := makeVersions(t, []gen.Config{
		{Rows: 20, Seed: 5, Batch: 5, SettlementDate: "2024-05-03"},
		{Rows: 21, Seed: 6, Batch: 5, SettlementDate: "2024-05-04"},
		{Rows: 22, Seed: 7, Batch: 5, SettlementDate: "2024-05-03"},
	})
	ctx := t.Context()
	raw, proc := newBuckets(t)
	clock := newStepClock()
	steps := clocked(raw, proc, clock)
	if _, err := steps.Write(ctx, through(t, steps, mustPutObject(t, raw, "incoming/"+vs[0].name, vs[0].data), "v1", false)); err != nil {
		t.Fatal(err)
	}
	x := through(t, steps, mustPutObject(t, raw, "incoming/"+vs[1].name, vs[1].data), "x-p1", true)
	r1, go1, r2, go2 := make(chan struct{}), make(chan struct{}), make(chan struct{}), make(chan struct{})
	errs := make(chan error, 2)
	a1 := clocked(raw, pausing{proc, pauseAt("copy", workflow.LinesPrefix, r1, go1)}, clock)
	a2 := clocked(raw, pausing{proc, pauseAt("deleteif", vs[0].partition, r2, go2)}, clock)
	go func() { _, err := a1.Write(ctx, x); errs <- err }()
	<-r1
	go func() { _, err := a2.Write(ctx, x); errs <- err }()
	<-r2
	close(go1)
	if err := <-errs; err != nil {
		t.Fatalf("A1: %v", err)
	}
	y := through(t, steps, mustPutObject(t, raw, "incoming/"+vs[2].name, vs[2].data), "y-p1", true)
	if _, err := steps.Write(ctx, y); err != nil {
		t.Fatalf("the replace of v2 by v3: %v", err)
	}
	close(go2)
	if err := <-errs; err != nil {
		t.Errorf("A2: %v, want nothing left to do", err)
	}
	if win := checkOneCommit(t, proc, vs); win != vs[2] {
		t.Errorf("committed %v, want v3", win)
	}
	verifyClean(t, proc, clock.now)
}

// A plain Write W finds no commit, then v1 is committed by V; W claims the batch, finds V's commit on its
// second read and fails to release the claim once; its retry ends in a ConflictError and releases the
// claim it held, which no other writer would ever treat as its own.
func TestScheduleConflictReleasesItsOwnClaim(t *testing.T) {
	vs := twoVersions(t, false)
	ctx := t.Context()
	raw, proc := newBuckets(t)
	clock := newStepClock()
	steps := clocked(raw, proc, clock)
	w := through(t, steps, mustPutObject(t, raw, "incoming/"+vs[1].name, vs[1].data), "w", false)
	v := through(t, steps, mustPutObject(t, raw, "incoming/"+vs[0].name, vs[0].data), "v", false)
	// W stops right after its first manifest read (its second Get is the claim's).
	reached, release := make(chan struct{}), make(chan struct{})
	hook := pauseAt("get", workflow.ClaimPrefix, reached, release)
	failRelease := &failOnce{Bucket: pausing{proc, hook}, call: "deleteif", prefix: workflow.ClaimPrefix}
	done := make(chan error, 1)
	go func() { _, err := clocked(raw, failRelease, clock).Write(ctx, w); done <- err }()
	<-reached
	if _, err := steps.Write(ctx, v); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err == nil {
		t.Fatal("W's first attempt was meant to fail releasing its claim")
	}
	_, err := steps.Write(ctx, w) // Step Functions' retry
	wantConflict(t, err, vs[1], vs[0])
	checkOneCommit(t, proc, vs) // no claim left
	verifyClean(t, proc, clock.now.Add(2*workflow.ClaimLease))
}

// failOnce fails the first call named call under prefix with a transient error.
type failOnce struct {
	store.Bucket
	call, prefix string
	failed       bool
}

func (f *failOnce) DeleteIf(ctx context.Context, key, etag string) error {
	if f.call == "deleteif" && !f.failed && strings.HasPrefix(key, f.prefix) {
		f.failed = true
		return storefault.SlowDown{API: "DeleteObject"}
	}
	return f.Bucket.DeleteIf(ctx, key, etag)
}

// The same for a replace: x-p1 replaces v1 by v2 and fails on the ledger after its commit; y-p1 replaces
// v2 by v3. x-p1's redrive, and a restart of it (x-p1-r1, a fresh check), have nothing left to do: they
// neither fail with advice to undo v3 nor put v2 back.
func TestScheduleRedriveOfAReplaceWhoseCommitWasReplaced(t *testing.T) {
	vs := makeVersions(t, []gen.Config{
		{Rows: 20, Seed: 5, Batch: 5, SettlementDate: "2024-05-03"},
		{Rows: 21, Seed: 6, Batch: 5, SettlementDate: "2024-05-04"},
		{Rows: 22, Seed: 7, Batch: 5, SettlementDate: "2024-05-05"},
	})
	ctx := t.Context()
	raw, dir := newBuckets(t)
	faults := &storefault.Bucket{Bucket: dir}
	clock := newStepClock()
	steps := clocked(raw, faults, clock)
	if _, err := steps.Write(ctx, through(t, steps, mustPutObject(t, raw, "incoming/"+vs[0].name, vs[0].data), "v1", false)); err != nil {
		t.Fatal(err)
	}
	objX := mustPutObject(t, raw, "incoming/"+vs[1].name, vs[1].data)
	x := through(t, steps, objX, "x-p1", true)
	faults.Set(workflow.LedgerPrefix, -1)
	if _, err := steps.Write(ctx, x); err == nil {
		t.Fatal("x-p1 was meant to fail on the ledger")
	}
	faults.Set(workflow.LedgerPrefix, 0)
	if _, err := steps.Write(ctx, through(t, steps, mustPutObject(t, raw, "incoming/"+vs[2].name, vs[2].data), "y-p1", true)); err != nil {
		t.Fatal(err)
	}
	if res, err := steps.Write(ctx, x); err != nil || res.ReplacedBy == nil || res.ReplacedBy.ETag != vs[2].etag {
		t.Errorf("x-p1's redrive: %+v, %v; want nothing to do, replaced by v3", res, err)
	}
	restart := workflow.StepInput{Execution: "x-p1-r1", File: x.File, Replace: true}
	if res, err := steps.Check(ctx, restart); err != nil || !res.AlreadyProcessed || !strings.Contains(res.Reason, "by execution x-p1") {
		t.Errorf("x-p1-r1's check: %+v, %v; want already processed (committed by x-p1, replaced since)", res, err)
	}
	if win := checkOneCommit(t, dir, vs); win != vs[2] {
		t.Errorf("committed %v, want v3", win)
	}
	verifyClean(t, dir, clock.now)
}

func (p pausing) PutIf(ctx context.Context, key string, data []byte, pre store.Precondition) (store.Object, error) {
	p.hook("putif", key)
	return p.Bucket.PutIf(ctx, key, data, pre)
}

// step is one pause of a hand-run schedule: the n-th call named call on a key under prefix.
type step struct {
	call, prefix string
	n            int
	reached      chan struct{}
	release      chan struct{}
}

func pause(call, prefix string, n int) *step {
	return &step{call: call, prefix: prefix, n: n, reached: make(chan struct{}), release: make(chan struct{})}
}

// pauses returns a hook that stops at each of steps in turn.
func pauses(steps ...*step) func(string, string) {
	seen := map[*step]int{}
	return func(c, key string) {
		for _, s := range steps {
			if c == s.call && strings.HasPrefix(key, s.prefix) {
				if seen[s]++; seen[s] == s.n {
					close(s.reached)
					<-s.release
				}
			}
		}
	}
}

// The v1, v2, v1 again of two attempts: A1 and A2 of x-p1 (v1 by v2) run at once; A2 stops before its
// removal of v1's object; A1 commits v2; v1-p1 puts v1 back, with the same bytes (the same ETag) at the
// same key. A2 then finds that its claim is no longer the batch's and leaves the table alone: it does
// not delete the object of the commit made after it.
func TestScheduleLateAttemptChecksItsClaimBeforeRemoving(t *testing.T) {
	vs := twoVersions(t, false)
	ctx := t.Context()
	raw, proc := newBuckets(t)
	clock := newStepClock()
	steps := clocked(raw, proc, clock)
	objA := mustPutObject(t, raw, "incoming/"+vs[0].name, vs[0].data)
	if _, err := steps.Write(ctx, through(t, steps, objA, "v1", false)); err != nil {
		t.Fatal(err)
	}
	x := through(t, steps, mustPutObject(t, raw, "incoming/"+vs[1].name, vs[1].data), "x-p1", true)
	a1Stop := pause("copy", workflow.LinesPrefix, 1)
	a2Stop := pause("get", workflow.ClaimPrefix, 3) // its claim read right before removing v1's object
	errs := make(chan error, 2)
	go func() { _, err := clocked(raw, pausing{proc, pauses(a1Stop)}, clock).Write(ctx, x); errs <- err }()
	<-a1Stop.reached
	go func() { _, err := clocked(raw, pausing{proc, pauses(a2Stop)}, clock).Write(ctx, x); errs <- err }()
	<-a2Stop.reached
	close(a1Stop.release)
	if err := <-errs; err != nil {
		t.Fatalf("A1: %v", err)
	}
	if _, err := steps.Write(ctx, through(t, steps, objA, "v1-p1", true)); err != nil {
		t.Fatalf("v1 put back: %v", err)
	}
	close(a2Stop.release)
	if err := <-errs; err != nil {
		t.Errorf("A2: %v, want nothing left to do", err)
	}
	if win := checkOneCommit(t, proc, vs); win != vs[0] {
		t.Errorf("committed %v, want v1 back", win)
	}
	verifyClean(t, proc, clock.now)
}

// A lost attempt renews its execution's claim after the retry claimed and published: the retry commits
// and succeeds, and releases that claim too (a leftover of its commit now), since nothing would ever
// redrive a succeeded execution. Whatever the lost attempt ends with, the table has v1 alone and no claim.
func TestScheduleLostAttemptLeavesNoClaim(t *testing.T) {
	vs := twoVersions(t, false)
	ctx := t.Context()
	raw, proc := newBuckets(t)
	clock := newStepClock()
	steps := clocked(raw, proc, clock)
	a := through(t, steps, mustPutObject(t, raw, "incoming/"+vs[0].name, vs[0].data), "a", false)
	a1Read := pause("get", workflow.ClaimPrefix, 1) // A1 has read "no manifest"
	a1Copy := pause("copy", workflow.LinesPrefix, 1)
	a2Commit := pause("putif", workflow.ManifestPrefix, 1)
	errs := make(chan error, 2)
	go func() {
		_, err := clocked(raw, pausing{proc, pauses(a1Read, a1Copy)}, clock).Write(ctx, a)
		errs <- err
	}()
	<-a1Read.reached
	go func() { _, err := clocked(raw, pausing{proc, pauses(a2Commit)}, clock).Write(ctx, a); errs <- err }()
	<-a2Commit.reached
	close(a1Read.release)
	<-a1Copy.reached
	close(a2Commit.release)
	if err := <-errs; err != nil {
		t.Fatalf("the retry A2: %v", err)
	}
	close(a1Copy.release)
	// Nobody waits for the lost attempt's answer: it may end with the staging gone, never with a change.
	if err := <-errs; err != nil && !strings.Contains(err.Error(), "the staged Parquet is gone") {
		t.Errorf("the lost attempt A1: %v", err)
	}
	if win := checkOneCommit(t, proc, vs); win != vs[0] {
		t.Errorf("committed %v, want v1", win)
	}
	verifyClean(t, proc, clock.now.Add(2*workflow.ClaimLease))
}

// retryWaits runs again, as Step Functions' retry would, each Write that ended waiting for another
// writer's claim (a TransientError).
func retryWaits(steps *workflow.Steps, ins []workflow.StepInput, errs []error) {
	for i := range errs {
		var te *workflow.TransientError
		if errors.As(errs[i], &te) {
			_, errs[i] = steps.Write(context.Background(), ins[i])
		}
	}
}
