package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/cloud"
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
