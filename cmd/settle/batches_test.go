package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/testkit/awsfake"
	"github.com/paysettle/settle/internal/workflow"
)

// The local batch commands on a generated history with a gap: the run warns, settle batches lists the
// gap (table and JSON), an acknowledgement silences it, the rebuild finds the ledger right, the check
// sends nothing.
func TestLocalBatchCommands(t *testing.T) {
	dir := t.TempDir()
	data, hist := filepath.Join(dir, "data"), filepath.Join(dir, "hist")
	if out, code := localCLI("gen", "--batches", "1-2,4", "--rows", "20", "-o", hist); code != 0 {
		t.Fatalf("gen: %d %s", code, out)
	}
	out, code := localCLI("run", "--data", data, hist)
	if code != 0 || !strings.Contains(out, "settle: warning: these files leave gaps in the batch sequence: adyen/PaySettleShopEU batch 3 not here yet") {
		t.Fatalf("run: %d\n%s", code, out)
	}
	out, code = localCLI("batches", "--data", data)
	if code != 0 || !strings.Contains(out, "adyen/PaySettleShopEU  3        4") || !strings.Contains(out, "3 pending") ||
		!strings.Contains(out, "adyen/PaySettleShopEU: batch 3 has not arrived yet") {
		t.Errorf("batches: %d\n%s", code, out)
	}
	out, _ = localCLI("batches", "--data", data, "--json", "--merchant", "PaySettleShopEU")
	var st struct {
		LastBatch int64 `json:"last_batch"`
		Gaps      []struct{ First, Last int64 }
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &st); err != nil || st.LastBatch != 4 || len(st.Gaps) != 1 || st.Gaps[0].First != 3 {
		t.Errorf("batches --json: %v %s", err, out)
	}
	if out, _ := localCLI("batches", "--data", data, "--merchant", "Nobody"); !strings.Contains(out, "No batch of merchant account Nobody") {
		t.Errorf("an unknown merchant: %s", out)
	}
	out, code = localCLI("batches", "ack", "--data", data, "--merchant", "PaySettleShopEU", "--batch", "3", "--by", "ana", "--reason", "Adyen skipped 3")
	if code != 0 || !strings.Contains(out, "Acknowledged adyen/PaySettleShopEU batch 3 by ana") {
		t.Errorf("ack: %d %s", code, out)
	}
	if out, _ := localCLI("batches", "--data", data); !strings.Contains(out, "3 acknowledged") || !strings.Contains(out, " ok") {
		t.Errorf("after the acknowledgement:\n%s", out)
	}
	out, code = localCLI("ledger", "--rebuild", "--data", data)
	if code != 0 || !strings.Contains(out, "Rebuilt the ledgers of 1 merchant accounts from 3 manifests: 0 differed") {
		t.Errorf("ledger --rebuild: %d %s", code, out)
	}
	if out, code := localCLI("batches", "check", "--data", data); code != 0 || !strings.Contains(out, "1 merchant accounts, 0 missing batches, 0 late, 0 table findings (settle verify); sent 0 alerts") {
		t.Errorf("batches check: %d %s", code, out)
	}
	for _, bad := range [][]string{
		{"batches", "ack", "--data", data, "--merchant", "PaySettleShopEU", "--by", "ana", "--reason", "x"},
		{"batches", "ack", "--data", data, "--merchant", "PaySettleShopEU", "--batch", "x", "--by", "ana", "--reason", "x"},
		{"batches", "ack", "--data", data, "--batch", "3", "--by", "ana", "--reason", "x"},
		{"ledger", "--data", data},
		{"gen", "--batches", "3-1", "-o", hist},
	} {
		if out, code := localCLI(bad...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage): %s", bad, code, out)
		}
	}
}

// settle aws batches and settle aws batches ack against the fake AWS, on ledgers the local pipeline
// wrote and copied into the stack's processed bucket.
func TestAWSBatchCommands(t *testing.T) {
	w := awsfake.NewWorld(t, workflow.Config{})
	if err := w.Fake.S3.CreateBucket(local.ProcessedBucket); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int64{5, 7} {
		var b bytes.Buffer
		if _, err := gen.Write(&b, gen.Config{Rows: 30, Seed: uint64(n), Batch: n, SettlementDate: "2024-05-06"}); err != nil {
			t.Fatal(err)
		}
		if r := w.Arrive(t, "incoming/b"+string(rune('0'+n))+".csv", b.Bytes()); r.Status != local.Succeeded {
			t.Fatalf("batch %d: %s %s", n, r.Status, r.Error)
		}
	}
	objs, _ := w.Env.Processed.List(t.Context(), workflow.LedgerPrefix)
	for _, o := range objs {
		data, _, _ := w.Env.Processed.Get(t.Context(), o.Key)
		if _, err := w.Fake.S3.PutObject(local.ProcessedBucket, o.Key, map[string]string{}, bytes.NewReader(data), int64(len(data)), nil); err != nil {
			t.Fatal(err)
		}
	}
	w.Clock.Advance(49 * time.Hour)
	stdout, stderr, code := cli(w, "aws", "batches")
	if code != 0 || !strings.Contains(stdout, "6 missing") ||
		!strings.Contains(stdout, "settle aws batches ack --merchant PaySettleShopEU --batch 6 --by NAME --reason WHY") {
		t.Errorf("aws batches: %d\n%s%s", code, stdout, stderr)
	}
	stdout, stderr, code = cli(w, "aws", "batches", "ack", "--merchant", "PaySettleShopEU", "--batch", "6", "--by", "ana", "--reason", "skipped")
	if code != 0 || !strings.Contains(stdout, "Acknowledged adyen/PaySettleShopEU batch 6 by ana") {
		t.Errorf("aws batches ack: %d %s%s", code, stdout, stderr)
	}
	stdout, _, _ = cli(w, "aws", "batches", "--json")
	if !strings.Contains(stdout, `"missing_batches":0`) || !strings.Contains(stdout, `"acknowledged":{"first":6,"last":6`) {
		t.Errorf("aws batches --json after the acknowledgement: %s", stdout)
	}
	// No manifest in the stack's bucket here: the rebuild removes the ledger it cannot derive.
	stdout, stderr, code = cli(w, "aws", "ledger", "--rebuild")
	if code != 0 || !strings.Contains(stdout, "Rebuilt the ledgers of 0 merchant accounts from 0 manifests: 0 differed and were rewritten, 1 without manifests removed.") {
		t.Errorf("aws ledger --rebuild: %d %s%s", code, stdout, stderr)
	}
}
