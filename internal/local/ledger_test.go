package local_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/workflow"
)

const shop = "PaySettleShopEU"

// weekly configures a weekly cadence for shop, so that the gap scenarios are not also late.
var weekly = local.Options{Batches: ledger.Policy{Cadences: map[string]time.Duration{shop: 7 * 24 * time.Hour}}}

// advance moves the fake clock forward.
func (e *env) advance(d time.Duration) {
	e.clock.mu.Lock()
	e.clock.now = e.clock.now.Add(d)
	e.clock.mu.Unlock()
}

// batch runs a generated report of one batch of merchant and asks for it to commit.
func (e *env) batch(merchant string, n int64) local.FileResult {
	e.t.Helper()
	r := e.run(e.report(fmt.Sprintf("%s_%d.csv", merchant, n), gen.Config{Rows: 20, Seed: uint64(n), Merchant: merchant, Batch: n,
		SettlementDate: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(n)).Format(time.DateOnly)}))
	want(e.t, r, local.Succeeded)
	return r
}

// check runs the scheduled batch check and returns the subjects of the messages it published.
func (e *env) check() []string {
	e.t.Helper()
	before := len(e.notifications())
	if _, err := e.CheckBatches(e.t.Context()); err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, n := range e.notifications()[before:] {
		out = append(out, n["subject"])
	}
	return out
}

// hourly runs the check every hour for h hours and returns everything it published.
func (e *env) hourly(h int) []string {
	var out []string
	for range h {
		e.advance(time.Hour)
		out = append(out, e.check()...)
	}
	return out
}

func (e *env) ledgerBytes(merchant string) []byte {
	e.t.Helper()
	b, _, err := e.Processed.Get(e.t.Context(), workflow.LedgerKey("adyen", merchant))
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// Batches 1, 2 and 4 committed: batch 3 is reported missing once, after the grace period and not before;
// its arrival closes the gap with one resolution; checks after that send nothing.
func TestMissingBatchAlertedOnceAndResolved(t *testing.T) {
	e := newEnvWith(t, workflow.Config{}, weekly)
	e.batch(shop, 1)
	e.advance(24 * time.Hour)
	e.batch(shop, 2)
	e.advance(24 * time.Hour)
	r4 := e.batch(shop, 4)
	if w, err := e.GapWarning(t.Context(), []local.FileResult{r4}); err != nil || !strings.Contains(w, "adyen/PaySettleShopEU batch 3 not here yet") {
		t.Errorf("run warning after batch 4: %q %v", w, err)
	}
	if got := append(e.check(), e.hourly(47)...); len(got) != 0 {
		t.Fatalf("within the 48 h grace period: %v", got)
	}
	got := e.hourly(1)
	if len(got) != 1 || got[0] != "settle: batch 3 of adyen/PaySettleShopEU missing" {
		t.Fatalf("after the grace period: %v", got)
	}
	n := e.notifications()
	if msg := n[len(n)-1]["message"]; !strings.Contains(msg, "ask Adyen for batch 3 of PaySettleShopEU") || n[len(n)-1]["topic"] != local.AlertTopicARN {
		t.Errorf("alert: %v", n[len(n)-1])
	}
	if again := append(e.check(), e.check()...); len(again) != 0 {
		t.Errorf("run twice more in the same hour: %v", again)
	}
	if later := e.hourly(72); len(later) != 0 {
		t.Errorf("the next three days: %v", later)
	}
	sts, err := operatorOf(e.Env).Batches(t.Context(), shop)
	if err != nil || len(sts) != 1 || sts[0].MissingBatches != 1 || sts[0].State() != "missing 1" {
		t.Fatalf("settle batches: %+v %v", sts, err)
	}

	e.batch(shop, 3)
	if got := e.check(); len(got) != 1 || got[0] != "settle: resolved: batch 3 of adyen/PaySettleShopEU arrived" {
		t.Errorf("batch 3 arrived: %v", got)
	}
	if later := e.hourly(5); len(later) != 0 {
		t.Errorf("after the resolution: %v", later)
	}
	if sts, _ := operatorOf(e.Env).Batches(t.Context(), shop); sts[0].State() != "ok" || len(sts[0].Gaps) != 0 {
		t.Errorf("after batch 3: %s %+v", sts[0].State(), sts[0].Gaps)
	}
}

// Batch 3 before batch 2, within the grace period: nothing is raised.
func TestOutOfOrderWithinGraceRaisesNothing(t *testing.T) {
	e := newEnvWith(t, workflow.Config{}, weekly)
	e.batch(shop, 1)
	e.advance(24 * time.Hour)
	r3 := e.batch(shop, 3)
	if w, _ := e.GapWarning(t.Context(), []local.FileResult{r3}); !strings.Contains(w, "batch 2") {
		t.Errorf("warning %q", w)
	}
	got := e.hourly(30)
	e.batch(shop, 2)
	got = append(got, e.hourly(100)...)
	if len(got) != 0 {
		t.Errorf("out of order within the grace period: %v", got)
	}
}

// A merchant account on a daily cadence that stops is late after cadence + grace (24 h + 48 h) and
// not before; the next batch resolves it.
func TestDailyCadenceStopsIsLate(t *testing.T) {
	e := newEnv(t, workflow.Config{})
	for n := int64(1); n <= 5; n++ {
		e.batch(shop, n)
		e.advance(24 * time.Hour)
	}
	// The last batch arrived 24 h ago: late in 48 h more, minus the milliseconds the fake clock ticked.
	if got := e.hourly(47); len(got) != 0 {
		t.Fatalf("before cadence + grace: %v", got)
	}
	got := e.hourly(1)
	if len(got) != 1 || !strings.HasPrefix(got[0], "settle: adyen/PaySettleShopEU late: no batch for 3d") {
		t.Fatalf("at cadence + grace: %v", got)
	}
	if more := e.hourly(24); len(more) != 0 {
		t.Errorf("still late: %v", more)
	}
	e.batch(shop, 6)
	if got := e.check(); len(got) != 1 || got[0] != "settle: resolved: adyen/PaySettleShopEU is no longer late" {
		t.Errorf("batch 6 arrived: %v", got)
	}
}

// ledgerRace lets the first writer of a ledger read it, then holds its write until a second writer has
// read it too, so that both commits race for the same version.
type ledgerRace struct {
	store.Bucket
	mu       sync.Mutex
	reads    int
	second   chan struct{}
	once     sync.Once
	failures int
}

func (b *ledgerRace) Get(ctx context.Context, key string) ([]byte, store.Object, error) {
	data, obj, err := b.Bucket.Get(ctx, key)
	if strings.HasSuffix(key, "/"+workflow.LedgerObject) {
		b.mu.Lock()
		b.reads++
		if b.reads == 2 {
			b.once.Do(func() { close(b.second) })
		}
		b.mu.Unlock()
	}
	return data, obj, err
}

func (b *ledgerRace) PutIf(ctx context.Context, key string, data []byte, pre store.Precondition) (store.Object, error) {
	if strings.HasSuffix(key, "/"+workflow.LedgerObject) {
		<-b.second
	}
	obj, err := b.Bucket.PutIf(ctx, key, data, pre)
	if errors.Is(err, store.ErrPreconditionFailed) {
		b.mu.Lock()
		b.failures++
		b.mu.Unlock()
	}
	return obj, err
}

// Two batches of one merchant account committed at the same moment both appear in its ledger: the
// second writer's conditional write fails on the first's version, and it reads again.
func TestConcurrentCommitsBothInTheLedger(t *testing.T) {
	race := &ledgerRace{second: make(chan struct{})}
	e := newEnvWith(t, workflow.Config{}, local.Options{})
	// Put the race in front of the processed bucket the handlers use.
	race.Bucket = e.Steps.Processed
	e.Steps.Processed = race
	files := []string{
		e.report("a.csv", gen.Config{Rows: 20, Seed: 1, Batch: 10}),
		e.report("b.csv", gen.Config{Rows: 20, Seed: 2, Batch: 11}),
	}
	var wg sync.WaitGroup
	results := make([]local.FileResult, 2)
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.Run(t.Context(), f)
		}()
	}
	wg.Wait()
	for _, r := range results {
		want(t, r, local.Succeeded)
	}
	if race.failures == 0 {
		t.Error("the two ledger updates did not race")
	}
	var l ledger.Ledger
	if err := json.Unmarshal(e.ledgerBytes(shop), &l); err != nil {
		t.Fatal(err)
	}
	if len(l.Batches) != 2 || l.Batches[0].Number != 10 || l.Batches[1].Number != 11 {
		t.Errorf("ledger batches %+v, want 10 and 11", l.Batches)
	}
}

// The scheduled check run twice at the same moment (the schedule fired twice) publishes each message
// once.
func TestCheckTwiceAtOnceSendsOnce(t *testing.T) {
	e := newEnv(t, workflow.Config{})
	for _, m := range []string{"ShopA", "ShopB", "ShopC"} {
		e.batch(m, 1)
		e.batch(m, 4)
	}
	e.advance(49 * time.Hour)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.CheckBatches(t.Context()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	n := e.notifications()
	seen := map[string]int{}
	for _, m := range n {
		seen[m["subject"]]++
	}
	if len(n) != 3 || len(seen) != 3 {
		t.Errorf("two checks at once published %d messages: %v", len(n), seen)
	}
	if got := e.check(); len(got) != 0 {
		t.Errorf("a third check: %v", got)
	}
}

// An acknowledged gap never alerts again; an acknowledged closed account is never late.
func TestAcknowledgedGapNeverAlertsAgain(t *testing.T) {
	e := newEnvWith(t, workflow.Config{}, weekly)
	e.batch(shop, 1)
	e.batch(shop, 5)
	e.advance(49 * time.Hour)
	if got := e.check(); len(got) != 1 || !strings.Contains(got[0], "batches 2-4") {
		t.Fatalf("gap 2-4: %v", got)
	}
	if _, err := operatorOf(e.Env).Acknowledge(t.Context(), "adyen", shop, ledger.Ack{First: 2, Last: 4, By: "ana", Reason: "Adyen: numbers skipped"}); err != nil {
		t.Fatal(err)
	}
	if got := e.hourly(24 * 6); len(got) != 0 {
		t.Errorf("after the acknowledgement: %v", got)
	}
	// Closed: the weekly cadence would make it late in the next days; it stays silent.
	if _, err := operatorOf(e.Env).Acknowledge(t.Context(), "adyen", shop, ledger.Ack{Closed: true, By: "bo", Reason: "contract ended"}); err != nil {
		t.Fatal(err)
	}
	if got := e.hourly(24 * 7); len(got) != 0 {
		t.Errorf("after the account was acknowledged closed: %v", got)
	}
	sts, _ := operatorOf(e.Env).Batches(t.Context(), shop)
	if g := sts[0].Gaps; len(g) != 1 || g[0].Acknowledged == nil || g[0].Acknowledged.By != "ana" || sts[0].MissingBatches != 0 {
		t.Errorf("gaps %+v", g)
	}
	// Acknowledging a merchant account with no ledger is refused.
	if _, err := operatorOf(e.Env).Acknowledge(t.Context(), "adyen", "NoSuchShop", ledger.Ack{First: 1, Last: 1, By: "ana", Reason: "x"}); err == nil {
		t.Error("an acknowledgement for an unknown account was accepted")
	}
}

// `settle ledger --rebuild` from the manifests alone writes exactly the ledger that Write maintained,
// through out-of-order arrivals, a duplicate delivery and a replace; a damaged or deleted ledger comes
// back the same.
func TestRebuildEqualsTheMaintainedLedger(t *testing.T) {
	e := newEnv(t, workflow.Config{})
	for _, n := range []int64{3, 1, 2, 7} {
		e.batch(shop, n)
		e.advance(5 * time.Hour)
	}
	e.batch("ShopB", 40)
	want(t, e.run(e.report(shop+"_1.csv", gen.Config{Rows: 20, Seed: 1, Merchant: shop, Batch: 1, SettlementDate: "2024-05-02"})), local.Duplicate)
	// A replace of batch 2 with regenerated content.
	newer := e.report("batch2-regenerated.csv", gen.Config{Rows: 25, Seed: 99, Merchant: shop, Batch: 2, SettlementDate: "2024-05-03"})
	obj, err := e.Upload(t.Context(), newer, local.RawKey(newer))
	if err != nil {
		t.Fatal(err)
	}
	input, _ := json.Marshal(workflow.ExecutionInput{File: workflow.FileRef{Bucket: "raw", Key: obj.Key, ETag: store.UnquoteETag(obj.ETag), Size: obj.Size}, Replace: true})
	if _, err := e.Engine.Start(t.Context(), "replace-batch2", input); err != nil {
		t.Fatal(err)
	}
	maintained := map[string][]byte{shop: e.ledgerBytes(shop), "ShopB": e.ledgerBytes("ShopB")}
	var l ledger.Ledger
	_ = json.Unmarshal(maintained[shop], &l)
	if b := l.Find(2); b == nil || b.Source.ETag != store.UnquoteETag(obj.ETag) || b.Revision != 1 || b.Rows != 25 {
		t.Fatalf("the replace is not in the ledger: %+v", b)
	}

	res, err := operatorOf(e.Env).RebuildLedgers(t.Context())
	if err != nil || res.Accounts != 2 || res.Batches != 5 || res.Rewritten != 0 || res.Removed != 0 {
		t.Errorf("rebuild of correct ledgers: %+v %v", res, err)
	}
	// Damage one ledger, delete the other, and leave one for an account with no manifest.
	damaged := bytes.Replace(maintained[shop], []byte(`"batch_number":7`), []byte(`"batch_number":8`), 1)
	if _, err := e.Processed.Put(t.Context(), workflow.LedgerKey("adyen", shop), damaged); err != nil {
		t.Fatal(err)
	}
	if err := e.Processed.Delete(t.Context(), workflow.LedgerKey("adyen", "ShopB")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Processed.Put(t.Context(), workflow.LedgerKey("adyen", "Gone"), []byte(`{"version":1}`)); err != nil {
		t.Fatal(err)
	}
	res, err = operatorOf(e.Env).RebuildLedgers(t.Context())
	if err != nil || res.Rewritten != 2 || res.Removed != 1 {
		t.Errorf("rebuild: %+v %v", res, err)
	}
	for m, b := range maintained {
		if got := e.ledgerBytes(m); !bytes.Equal(got, b) {
			t.Errorf("%s: rebuilt\n%s\nmaintained\n%s", m, got, b)
		}
	}
	if _, _, err := e.Processed.Get(t.Context(), workflow.LedgerKey("adyen", "Gone")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the ledger of an account without manifests is still there: %v", err)
	}
}
