package ops_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/testkit/awsfake"
	"github.com/paysettle/settle/internal/workflow"
)

// settle aws batches reads the stack's ledgers through S3 with the stack's grace period, and an
// acknowledgement written through S3 silences the gap.
func TestAWSBatches(t *testing.T) {
	w := awsfake.NewWorld(t, workflow.Config{})
	w.Stack[ops.OutBatchGraceHours] = "24"
	for _, n := range []int64{1, 3} {
		if r := w.Arrive(t, "incoming/b"+string(rune('0'+n))+".csv", report(t, n, uint64(n))); r.Status != local.Succeeded {
			t.Fatalf("batch %d: %s %s", n, r.Status, r.Error)
		}
	}
	w.MirrorProcessed(t)
	o := connect(t, w)
	sts, err := o.Batches(t.Context(), "")
	if err != nil || len(sts) != 1 {
		t.Fatalf("Batches = %+v, %v", sts, err)
	}
	if g := sts[0].Gaps; len(g) != 1 || g[0].First != 2 || g[0].Missing || sts[0].PendingBatches != 1 || sts[0].Grace != 24*time.Hour {
		t.Errorf("right after batch 3: %+v (grace %s)", g, sts[0].Grace)
	}
	w.Clock.Advance(25 * time.Hour)
	sts, _ = o.Batches(t.Context(), "PaySettleShopEU")
	if len(sts) != 1 || sts[0].MissingBatches != 1 || !strings.Contains(strings.Join(sts[0].Advice, " "), "settle aws batches ack --merchant PaySettleShopEU --batch 2") {
		t.Errorf("a day later: %+v", sts)
	}
	if sts, _ := o.Batches(t.Context(), "OtherShop"); len(sts) != 0 {
		t.Errorf("--merchant OtherShop: %+v", sts)
	}
	added, err := o.Acknowledge(t.Context(), "adyen", "PaySettleShopEU", ledger.Ack{First: 2, Last: 2, By: "ana", Reason: "Adyen skipped 2"})
	if err != nil || !added {
		t.Fatalf("Acknowledge = %v, %v", added, err)
	}
	sts, _ = o.Batches(t.Context(), "")
	if g := sts[0].Gaps; len(g) != 1 || g[0].Acknowledged == nil || g[0].Acknowledged.By != "ana" || sts[0].MissingBatches != 0 {
		t.Errorf("after the acknowledgement: %+v", g)
	}
	if _, err := o.Acknowledge(t.Context(), "adyen", "PaySettleShopEU", ledger.Ack{First: 2, Last: 2, Reason: "x"}); err == nil || !strings.Contains(err.Error(), "--by") {
		t.Errorf("an acknowledgement without --by: %v", err)
	}

	// The ledger lost a batch (a manifest restored by hand, say): the rebuild reads the stack's manifests.
	manifests, _ := w.Env.Processed.List(t.Context(), workflow.ManifestPrefix)
	for _, m := range manifests {
		data, _, _ := w.Env.Processed.Get(t.Context(), m.Key)
		if _, err := w.Fake.S3.PutObject(local.ProcessedBucket, m.Key, map[string]string{}, bytes.NewReader(data), int64(len(data)), nil); err != nil {
			t.Fatal(err)
		}
	}
	l := ledger.New("adyen", "PaySettleShopEU")
	body, _ := json.Marshal(l)
	if _, err := w.Fake.S3.PutObject(local.ProcessedBucket, workflow.LedgerKey("adyen", "PaySettleShopEU"), map[string]string{}, bytes.NewReader(body), int64(len(body)), nil); err != nil {
		t.Fatal(err)
	}
	res, err := o.RebuildLedgers(t.Context())
	if err != nil || res.Accounts != 1 || res.Batches != 2 || res.Rewritten != 1 {
		t.Errorf("RebuildLedgers = %+v, %v", res, err)
	}
	if sts, _ := o.Batches(t.Context(), ""); len(sts) != 1 || sts[0].Batches != 2 || sts[0].Gaps[0].Acknowledged == nil {
		t.Errorf("after the rebuild: %+v", sts)
	}
}
