package deploy

import (
	"testing"

	"github.com/paysettle/settle/internal/local"
)

// TestFolderRunTakesWhatTheIngestRuleTakes: `settle run FOLDER` runs exactly the files whose raw-bucket
// key the template's ingest rule would send to the starter, and lists the others as skipped.
func TestFolderRunTakesWhatTheIngestRuleTakes(t *testing.T) {
	p := rulePattern(t, loadTemplate(t), "IngestRule")
	taken := 0
	for _, key := range []string{
		"incoming/settlement_detail_report_batch_57.csv", "incoming/REPORT.CSV", "incoming/a/b/report.Csv",
		"incoming/a+b%20c ü.csv", "incoming/.csv", "other/report.csv", "report.csv",
		"incoming/report.csv.gz", "incoming/report.txt", "incoming/report_csv", "incoming/reportcsv", "incoming/csv",
		"incoming/report.cs", "incoming/notes.md",
	} {
		want := matches(t, p, s3Event("{RawBucket}", key))
		if got := local.Ingests(key); got != want {
			t.Errorf("local.Ingests(%q) = %v, the ingest rule matches it: %v", key, got, want)
		}
		if want {
			taken++
		}
	}
	if taken == 0 {
		t.Fatal("the ingest rule takes none of the keys: the comparison proves nothing")
	}
}
