package workflow_test

import (
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
	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/testkit/storefault"
	"github.com/paysettle/settle/internal/workflow"
)

func newDir(t *testing.T) *store.Dir {
	t.Helper()
	d, err := store.NewDir("processed", t.TempDir(), store.WithoutSync())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func readLedger(t *testing.T, b store.Bucket, merchant string) *ledger.Ledger {
	t.Helper()
	data, _, err := b.Get(t.Context(), workflow.LedgerKey("adyen", merchant))
	if err != nil {
		t.Fatal(err)
	}
	var l ledger.Ledger
	if err := json.Unmarshal(data, &l); err != nil {
		t.Fatal(err)
	}
	return &l
}

var at = time.Date(2024, 5, 7, 9, 0, 0, 0, time.UTC)

// Many commits of one merchant account at once: each reads the ledger and writes it back on the
// version read; every batch ends in the ledger.
func TestRecordBatchConcurrently(t *testing.T) {
	d := newDir(t)
	const n = 24
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := ledger.Batch{Number: int64(i + 1), Arrived: at, Source: ledger.Source{ETag: fmt.Sprint(i)}}
			if _, err := workflow.RecordBatch(t.Context(), d, "adyen", "Shop/EU", b); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	l := readLedger(t, d, "Shop/EU")
	if len(l.Batches) != n || l.MerchantAccount != "Shop/EU" {
		t.Errorf("%d batches of %q in the ledger, want %d", len(l.Batches), l.MerchantAccount, n)
	}
	if key := workflow.LedgerKey("adyen", "Shop/EU"); key != "_ledger/adyen/Shop%2FEU/ledger.json" {
		t.Errorf("key %s: the merchant account must stay one path segment", key)
	}
	changed, err := workflow.RecordBatch(t.Context(), d, "adyen", "Shop/EU", ledger.Batch{Number: 3, Arrived: at, Source: ledger.Source{ETag: "2"}})
	if err != nil || changed {
		t.Errorf("the same commit again: changed %v, %v", changed, err)
	}
}

// The write step records its commit in the ledger, with the arrival the check step read (capped at the
// commit's time) and the manifest's sums; a write retried after the ledger update failed finds the
// commit and records it then.
func TestWriteRecordsTheLedger(t *testing.T) {
	f := newFixture(t, workflow.Config{})
	faults := &storefault.Bucket{Bucket: f.proc}
	f.steps.Processed = faults
	in := f.through(f.upload("b7.csv", report(t, gen.Config{Rows: 60, Seed: 1, Batch: 7})))
	in.Check.Arrived = f.now.Add(-3 * time.Hour)

	faults.Set(workflow.LedgerPrefix, 1)
	if _, err := f.steps.Write(t.Context(), in); err == nil {
		t.Fatal("write succeeded although the ledger update failed")
	} else if te := (*workflow.TransientError)(nil); !errors.As(err, &te) {
		t.Fatalf("a failed ledger update returned %T %v, want a TransientError to retry", err, err)
	}
	if _, err := f.proc.Head(t.Context(), workflow.ManifestKey("PaySettleShopEU", 7)); err != nil {
		t.Fatalf("the commit is not there: %v", err)
	}
	if _, err := f.steps.Write(t.Context(), in); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	l := readLedger(t, f.proc, "PaySettleShopEU")
	if len(l.Batches) != 1 {
		t.Fatalf("ledger %+v", l.Batches)
	}
	b := l.Batches[0]
	if b.Number != 7 || !b.Arrived.Equal(f.now.Add(-3*time.Hour)) || b.Source.ETag != in.File.ETag || b.Rows != 60 || len(b.Currencies) == 0 {
		t.Errorf("entry %+v", b)
	}
	data, _, err := f.proc.Get(t.Context(), workflow.ManifestKey("PaySettleShopEU", 7))
	if err != nil || strings.Count(string(data), "\n") != 1 {
		t.Fatalf("the manifest is not one line of JSON: %v\n%s", err, data)
	}
	var m workflow.Manifest
	_ = json.Unmarshal(data, &m)
	if !m.Arrived.Equal(b.Arrived) || m.Revision != 0 {
		t.Errorf("manifest arrived %s revision %d", m.Arrived, m.Revision)
	}
	for _, c := range b.Currencies {
		if c.Net == "" || c.Payout == "" {
			t.Errorf("currency %+v without net or payout", c)
		}
	}
}

// publisher records messages and can fail.
type publisher struct {
	mu   sync.Mutex
	msgs []string
	fail bool
}

func (p *publisher) Publish(ctx context.Context, subject, message string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail {
		return errors.New("sns: service unavailable")
	}
	p.msgs = append(p.msgs, subject)
	return nil
}

func (p *publisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.msgs)
}

func gapLedger(t *testing.T, d store.Bucket, merchant string) {
	t.Helper()
	for _, n := range []int64{1, 3} {
		if _, err := workflow.RecordBatch(t.Context(), d, "adyen", merchant, ledger.Batch{Number: n, Arrived: at, Source: ledger.Source{ETag: fmt.Sprint(n)}}); err != nil {
			t.Fatal(err)
		}
	}
}

// A publish that fails leaves the claim: the check reports the error, the next one within ResendAfter
// sends nothing (it cannot know whether the first reached SNS), and the first after it sends again.
func TestBatchCheckPublishFailure(t *testing.T) {
	d := newDir(t)
	gapLedger(t, d, "ShopEU")
	pub := &publisher{fail: true}
	now := at.Add(49 * time.Hour)
	c := &workflow.BatchCheck{Processed: d, Publisher: pub, Now: func() time.Time { return now }}
	if _, err := c.Handle(t.Context(), workflow.BatchCheckInput{}); err == nil || !strings.Contains(err.Error(), "service unavailable") {
		t.Fatalf("a failed publish: %v", err)
	}
	pub.fail = false
	now = now.Add(ledger.ResendAfter - time.Minute)
	if res, err := c.Handle(t.Context(), workflow.BatchCheckInput{}); err != nil || pub.count() != 0 || res.MissingBatches != 1 {
		t.Fatalf("within ResendAfter: %+v %v, %d sent", res, err, pub.count())
	}
	now = now.Add(time.Minute)
	res, err := c.Handle(t.Context(), workflow.BatchCheckInput{})
	if err != nil || pub.count() != 1 || res.Alerts != 1 {
		t.Fatalf("after ResendAfter: %+v %v, %d sent", res, err, pub.count())
	}
	data, _, _ := d.Get(t.Context(), workflow.AlertsKey("adyen", "ShopEU"))
	var a ledger.Alerts
	_ = json.Unmarshal(data, &a)
	if len(a.Missing) != 1 || a.Missing[0].State != ledger.Open || a.Missing[0].Attempts != 2 {
		t.Errorf("alert state %+v", a.Missing)
	}
}

// Many checks at the same moment over many accounts: each message is published exactly once.
func TestBatchChecksAtOnce(t *testing.T) {
	d := newDir(t)
	for i := range 5 {
		gapLedger(t, d, fmt.Sprintf("Shop%d", i))
	}
	pub := &publisher{}
	now := at.Add(49 * time.Hour)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &workflow.BatchCheck{Processed: d, Publisher: pub, Now: func() time.Time { return now }}
			if _, err := c.Handle(t.Context(), workflow.BatchCheckInput{}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	seen := map[string]int{}
	for _, m := range pub.msgs {
		seen[m]++
	}
	if len(pub.msgs) != 5 || len(seen) != 5 {
		t.Errorf("4 checks at once sent %d messages: %v", len(pub.msgs), seen)
	}
}
