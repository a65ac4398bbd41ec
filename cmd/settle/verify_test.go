package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/cloud"
	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/testkit/awsfake"
	"github.com/paysettle/settle/internal/workflow"
)

// settle verify on the quick start's data folder: clean (exit 0), then with a partition object copied
// where no manifest names it: the finding, its remedy in local words, exit 1, and the same as JSON.
func TestLocalVerify(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if out, code := localCLI("run", "--data", data, "../../testdata/sample"); code != 0 {
		t.Fatalf("run: %d %s", code, out)
	}
	out, code := localCLI("verify", "--data", data, "--deep")
	if code != 0 || !strings.Contains(out, "2 manifests, 2 objects, 2011 rows committed") ||
		!strings.Contains(out, "No finding: every object belongs to exactly one committed manifest and holds the bytes, rows and source its commit published") {
		t.Fatalf("verify of the sample: %d\n%s", code, out)
	}
	lines := filepath.Join(data, "processed", "settlement_lines")
	src := filepath.Join(lines, "settlement_date=2024-05-03", "adyen_AcmeShopNL_57.parquet")
	orphan := filepath.Join(lines, "settlement_date=2024-05-06", "adyen_AcmeShopNL_57.parquet")
	if err := os.WriteFile(orphan, read(t, src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code = localCLI("verify", "--data", data)
	if code != 1 || !strings.Contains(out, "1 finding(s):") || !strings.Contains(out, "orphan-object  "+orphan) ||
		!strings.Contains(out, "readers that list the partition count its rows") || !strings.Contains(out, "settle: 1 finding(s): the table differs from its manifests") {
		t.Errorf("verify with an orphan: %d\n%s", code, out)
	}
	out, code = localCLI("verify", "--data", data, "--json")
	var rep workflow.VerifyReport
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &rep); err != nil || code != 1 || len(rep.Findings) != 1 || rep.Findings[0].Kind != workflow.FindingOrphanObject {
		t.Errorf("verify --json: %d %v\n%s", code, err, out)
	}
}

// settle aws verify against the fake AWS: the stack's processed bucket, with a partition object removed:
// the finding names the reprocess that publishes it again, in the stack's words.
func TestAWSVerify(t *testing.T) {
	w := awsfake.NewWorld(t, workflow.Config{})
	for _, name := range []string{"settlement_detail_report_batch_57.csv", "settlement_detail_report_batch_58.csv"} {
		if r := w.Arrive(t, "incoming/"+name, read(t, "../../testdata/sample/"+name)); r.Status != local.Succeeded {
			t.Fatalf("%s: %s %s", name, r.Status, r.Error)
		}
	}
	w.MirrorProcessed(t)
	stdout, stderr, code := cli(w, "aws", "verify")
	if code != 0 || !strings.Contains(stdout, "No finding") {
		t.Fatalf("aws verify: %d\n%s%s", code, stdout, stderr)
	}
	key := workflow.PartitionKey("2024-05-06", "AcmeShopNL", 58)
	if _, err := w.Fake.S3.DeleteObject(local.ProcessedBucket, key); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = cli(w, "aws", "verify")
	if code != 1 || !strings.Contains(stdout, "missing-object  s3://"+local.ProcessedBucket+"/"+key) ||
		!strings.Contains(stdout, "settle aws reprocess s3://raw/incoming/settlement_detail_report_batch_58.csv --replace") {
		t.Errorf("aws verify with a missing object: %d\n%s%s", code, stdout, stderr)
	}
}

// The time-travel query names the table as Athena reaches it: an S3 Tables table through the
// s3tablescatalog catalog of its table bucket.
func TestAthenaName(t *testing.T) {
	s3t := workflow.TableHome{Catalog: &cloud.S3Tables{BucketARN: "arn:aws:s3tables:eu-west-1:123456789012:bucket/settle-dev-123456789012",
		Namespace: "settle", Name: "settlement_lines"}}
	if got, want := athenaName(s3t), `"s3tablescatalog/settle-dev-123456789012"."settle"."settlement_lines"`; got != want {
		t.Errorf("S3 Tables: %s, want %s", got, want)
	}
	if got := athenaName(workflow.TableHome{}); got != "settle.settlement_lines" {
		t.Errorf("a table without a catalog: %s", got)
	}
}

// settle table history and as-of on a data folder: the batch's one version from the folder's own file
// (in the folder's words, not the raw bucket's URL), and the table now with the query that reads it.
func TestTableHistoryAndAsOf(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if out, code := localCLI("run", "--data", data, "../../testdata/sample"); code != 0 {
		t.Fatalf("run: %d %s", code, out)
	}
	out, code := localCLI("table", "history", "--data", data, "--merchant", "AcmeShopNL", "--batch", "58")
	source := filepath.Join(data, "raw", "incoming", "settlement_detail_report_batch_58.csv")
	if code != 0 || !strings.Contains(out, "AcmeShopNL batch 58: 1 version in the table") || !strings.Contains(out, source) ||
		strings.Contains(out, "s3://") || !strings.Contains(out, "current") {
		t.Errorf("table history: exit %d\n%s\nwant one current version from %s", code, out, source)
	}
	out, code = localCLI("table", "as-of", "now", "--data", data)
	if code != 0 || !strings.Contains(out, "the current one") || !strings.Contains(out, "SELECT * FROM settle.settlement_lines FOR TIMESTAMP AS OF TIMESTAMP") ||
		strings.Contains(out, "s3://") {
		t.Errorf("table as-of now: exit %d\n%s", code, out)
	}
}

// settle table rebuild writes the manifests, ledgers and partition objects of a data folder again from
// the Iceberg table, byte for byte, including a batch replaced twice (v1, v2, v1 again: revision 2, its
// history and what it replaced); a second rebuild has nothing to do; a manifest that differs from the
// table is reported and kept, with exit 1.
func TestTableRebuild(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	v1, v2 := filepath.Join(dir, "settlement_detail_report_batch_61.csv"), filepath.Join(dir, "settlement_detail_report_batch_61_v2.csv")
	writeReport(t, v1, gen.Config{Rows: 40, Seed: 7, Batch: 61, SettlementDate: "2024-05-06"})
	writeReport(t, v2, gen.Config{Rows: 41, Seed: 8, Batch: 61, SettlementDate: "2024-05-06"})
	if out, code := localCLI("run", "--data", data, "../../testdata/sample", v1); code != 0 {
		t.Fatalf("run: %d %s", code, out)
	}
	out, _ := localCLI("run", "--data", data, v2)
	execution := field(out, v2, 2)
	if out, code := localCLI("reprocess", "--data", data, execution, "--replace", "--yes"); code != 0 {
		t.Fatalf("replace with v2: %d %s", code, out)
	}
	out, _ = localCLI("executions", "--data", data, "--json")
	var back string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "settlement_detail_report_batch_61.csv") && strings.Contains(l, `"DUPLICATE"`) || strings.Contains(l, "settlement_detail_report_batch_61.csv") && strings.Contains(l, `"SUCCEEDED"`) {
			var e struct{ Name string }
			if json.Unmarshal([]byte(l), &e) == nil && back == "" {
				back = e.Name
			}
		}
	}
	if back == "" {
		t.Fatalf("no execution of v1 in\n%s", out)
	}
	if out, code := localCLI("reprocess", "--data", data, back, "--replace", "--yes"); code != 0 {
		t.Fatalf("replace with v1 again: %d %s", code, out)
	}
	proc := filepath.Join(data, "processed")
	rebuilt := []string{"_manifests", "_ledger", "settlement_lines"}
	before := files(t, proc, rebuilt...)
	var m workflow.Manifest
	if err := json.Unmarshal(before["_manifests/adyen/PaySettleShopEU/61.json"], &m); err != nil || m.Revision != 2 || len(m.History) != 2 || m.Replaced == nil {
		t.Fatalf("batch 61's manifest: revision %d, history %v, replaced %v (%v); want the second replace", m.Revision, m.History, m.Replaced, err)
	}
	for _, d := range rebuilt {
		if err := os.RemoveAll(filepath.Join(proc, d)); err != nil {
			t.Fatal(err)
		}
	}
	out, code := localCLI("verify", "--data", data)
	if code != 1 || strings.Count(out, "To resolve: the table holds everything its manifest said; write it again from the table: settle table rebuild") != 3 {
		t.Errorf("verify without the manifests: %d\n%s\nwant 3 findings resolved by table rebuild", code, out)
	}
	out, code = localCLI("table", "rebuild", "--data", data, "--dry-run")
	if code != 0 || !strings.Contains(out, "The table holds 3 batches: 0 manifests already hold its version, 3 would be written from it.") ||
		!strings.Contains(out, "3 partition objects would be copied back from the table's data files:") {
		t.Fatalf("dry run: %d\n%s", code, out)
	}
	if got := files(t, proc, rebuilt...); len(got) != 0 {
		t.Fatalf("the dry run wrote %d files", len(got))
	}
	out, code = localCLI("table", "rebuild", "--data", data)
	if code != 0 || !strings.Contains(out, "3 written from it") || !strings.Contains(out, "Rebuilt the ledgers of 2 merchant accounts from 3 manifests: 2 missing or different, written.") {
		t.Fatalf("rebuild: %d\n%s", code, out)
	}
	after := files(t, proc, rebuilt...)
	for k, b := range before {
		if !bytes.Equal(after[k], b) {
			t.Errorf("%s rebuilt as\n%s\nwas\n%s", k, after[k], b)
		}
	}
	if len(after) != len(before) {
		t.Errorf("rebuilt %d files, there were %d", len(after), len(before))
	}
	if out, code := localCLI("verify", "--data", data, "--deep"); code != 0 {
		t.Errorf("verify after the rebuild: %d\n%s", code, out)
	}
	// A replace of a committed file by itself (the remedy for a lost partition object) commits a new
	// revision of the same bytes: the table keeps the commit that added them, and the manifest agrees
	// with it.
	if out, code := localCLI("reprocess", "--data", data, filepath.Join(data, "raw", "incoming", "settlement_detail_report_batch_57.csv"), "--replace", "--yes"); code != 0 ||
		!strings.Contains(out, "SUCCEEDED") {
		t.Fatalf("replace of 57 by itself: %d\n%s", code, out)
	}
	out, code = localCLI("table", "rebuild", "--data", data)
	if code != 0 || !strings.Contains(out, "3 manifests already hold its version, 0 written") {
		t.Errorf("second rebuild: %d\n%s", code, out)
	}
	// A manifest whose record of its commit differs from the table's is listed, and kept as it is.
	key := filepath.Join(proc, "_manifests", "adyen", "AcmeShopNL", "58.json")
	changed := bytes.Replace(read(t, key), []byte(`"execution":"`), []byte(`"execution":"x`), 1)
	if err := os.WriteFile(key, changed, 0o644); err != nil {
		t.Fatal(err)
	}
	out, code = localCLI("table", "rebuild", "--data", data)
	if code != 1 || !strings.Contains(out, "Differs: "+key) ||
		!strings.Contains(out, "records of its commit differ") || !bytes.Equal(read(t, key), changed) {
		t.Errorf("rebuild over a changed manifest: %d\n%s", code, out)
	}
	// One that commits another version: the table is behind it, or it was put back by hand.
	other := before["_manifests/adyen/AcmeShopNL/57.json"]
	if err := os.WriteFile(key, other, 0o644); err != nil {
		t.Fatal(err)
	}
	out, code = localCLI("table", "rebuild", "--data", data)
	if code != 1 || !strings.Contains(out, "the manifest commits the report with etag dbb8e651909be6dcdda3de38fa9b00a0 (revision 0), the Iceberg table holds etag feca796837a8d9200682d48ab86940f0 (revision 0)") ||
		!bytes.Equal(read(t, key), other) {
		t.Errorf("rebuild over a manifest of another version: %d\n%s", code, out)
	}
	if err := os.WriteFile(key, before["_manifests/adyen/AcmeShopNL/58.json"], 0o644); err != nil {
		t.Fatal(err)
	}
	// A partition object lost under a manifest that holds the table's version comes back from the table.
	obj := filepath.Join(proc, filepath.FromSlash("settlement_lines/settlement_date=2024-05-06/adyen_AcmeShopNL_58.parquet"))
	if err := os.Remove(obj); err != nil {
		t.Fatal(err)
	}
	out, code = localCLI("table", "rebuild", "--data", data)
	if code != 0 || !strings.Contains(out, "1 partition object copied back from the table's data files:\n  "+obj) ||
		!bytes.Equal(read(t, obj), before["settlement_lines/settlement_date=2024-05-06/adyen_AcmeShopNL_58.parquet"]) {
		t.Errorf("rebuild of a lost partition object: %d\n%s", code, out)
	}
	// A batch the table cannot give (its data file is gone too) is left, and so are the ledgers, which
	// would lose it; an unreadable manifest is listed, and the other batches are still written.
	ledgers := files(t, proc, "_ledger")
	m61 := filepath.Join(proc, "_manifests", "adyen", "PaySettleShopEU", "61.json")
	for _, f := range []string{m61, filepath.Join(proc, "_manifests", "adyen", "AcmeShopNL", "57.json")} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(key, []byte(`{"version":1,`), 0o644); err != nil {
		t.Fatal(err)
	}
	hist, _ := localCLI("table", "history", "--data", data, "--merchant", "PaySettleShopEU", "--batch", "61", "--json")
	var versions []struct{ File string }
	if err := json.Unmarshal([]byte(hist), &versions); err != nil || len(versions) == 0 {
		t.Fatalf("history of 61: %v\n%s", err, hist)
	}
	data61 := filepath.Join(proc, "iceberg", "settlement_lines", filepath.FromSlash(versions[len(versions)-1].File))
	part61 := filepath.Join(proc, filepath.FromSlash("settlement_lines/settlement_date=2024-05-06/adyen_PaySettleShopEU_61.parquet"))
	for _, f := range []string{data61, part61} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	out, code = localCLI("table", "rebuild", "--data", data)
	if code != 1 || !strings.Contains(out, "1 written from it") || !strings.Contains(out, "Left: "+m61) ||
		!strings.Contains(out, "the manifest is unreadable") || !strings.Contains(out, "The ledgers were not rebuilt") ||
		!reflect.DeepEqual(files(t, proc, "_ledger"), ledgers) {
		t.Errorf("rebuild with a lost batch and an unreadable manifest: %d\n%s", code, out)
	}
	// Its remedies, then a rebuild: the ledgers follow, and the folder checks clean.
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	if out, code := localCLI("reprocess", "--data", data, filepath.Join(data, "raw", "incoming", "settlement_detail_report_batch_61.csv")); code != 0 {
		t.Fatalf("the remedy of the lost batch: %d\n%s", code, out)
	}
	out, code = localCLI("table", "rebuild", "--data", data)
	if code != 0 || !strings.Contains(out, "2 manifests already hold its version, 1 written from it") || !strings.Contains(out, "Rebuilt the ledgers") {
		t.Errorf("rebuild after the remedies: %d\n%s", code, out)
	}
	if out, code := localCLI("verify", "--data", data, "--deep"); code != 0 {
		t.Errorf("verify after the remedies: %d\n%s", code, out)
	}
	// Once the snapshot that added a version has expired, its manifest comes back without its execution,
	// and show says so.
	if out, code := localCLI("table", "maintain", "--data", data, "--retention", "0d"); code != 0 {
		t.Fatalf("maintain: %d\n%s", code, out)
	}
	if err := os.Remove(filepath.Join(proc, "_manifests", "adyen", "AcmeShopNL", "57.json")); err != nil {
		t.Fatal(err)
	}
	out, code = localCLI("table", "rebuild", "--data", data)
	if code != 0 || !strings.Contains(out, "1 manifest names no execution: the table no longer keeps the snapshot of its commit.") {
		t.Errorf("rebuild after expiry: %d\n%s", code, out)
	}
	out, code = localCLI("show", "--data", data, "dbb8e651909be6dcdda3de38fa9b00a0")
	if code != 0 || !strings.Contains(out, "now committed from "+filepath.Join(data, "raw", "incoming", "settlement_detail_report_batch_57.csv")+" (by an execution the table no longer records)") {
		t.Errorf("show of a batch whose manifest names no execution: %d\n%s", code, out)
	}
	// A batch under a commit's claim is left to that commit.
	m57 := filepath.Join(proc, "_manifests", "adyen", "AcmeShopNL", "57.json")
	kept := read(t, m57)
	claim := filepath.Join(proc, filepath.FromSlash(workflow.ClaimKey("AcmeShopNL", 57)))
	if err := os.Remove(m57); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(claim), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(claim, []byte(`{"version":1,"execution":"x-p9","claimed_at":"2024-05-03T00:00:00Z"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code = localCLI("table", "rebuild", "--data", data)
	if code != 1 || !strings.Contains(out, "Left: "+m57+"\n    execution x-p9 holds a claim on the batch since 2024-05-03T00:00:00Z") {
		t.Errorf("rebuild of a claimed batch: %d\n%s", code, out)
	}
	if _, err := os.Stat(m57); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the claimed batch's manifest was written: %v", err)
	}
	if err := os.Remove(claim); err != nil {
		t.Fatal(err)
	}
	if out, code := localCLI("table", "rebuild", "--data", data); code != 0 || !bytes.Equal(read(t, m57), kept) {
		t.Errorf("rebuild once the claim is gone: %d\n%s", code, out)
	}
}

// files is every file under root's folders dirs (except the folder store's own), by key.
func files(t *testing.T, root string, dirs ...string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, d := range dirs {
		err := filepath.WalkDir(filepath.Join(root, d), func(p string, e os.DirEntry, err error) error {
			if errors.Is(err, os.ErrNotExist) {
				return filepath.SkipDir
			}
			if err != nil || e.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			out[filepath.ToSlash(rel)] = read(t, p)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}
