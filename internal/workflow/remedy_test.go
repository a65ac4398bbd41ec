package workflow_test

import (
	"io"
	"os"
	"testing"

	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/workflow"
)

// validationMessage is the message of the ValidationError the validate step returns for a report.
func validationMessage(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := settlement.ValidateReport(f, settlement.Options{}, settlement.DefaultPolicy(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return (&workflow.ValidationError{File: "s3://raw/x.csv", Problems: rep.Problems(), ReportKey: "_reports/x.json"}).Error()
}

// TestRemedyFor reads what would let a rejected file through from the messages the steps write.
func TestRemedyFor(t *testing.T) {
	cases := []struct {
		name, errName, message string
		want                   workflow.Remedy
	}{
		{"rejected rows", "ValidationError", validationMessage(t, "../settlement/testdata/bad_rows.csv"), workflow.Remedy{Rejected: 13}},
		{"unbalanced", "ValidationError", validationMessage(t, "../settlement/testdata/unbalanced.csv"), workflow.Remedy{Unbalanced: true}},
		{"both", "ValidationError", "s3://raw/x.csv: rejected: 2 of 9 rows rejected (at most 0 allowed), first on line 3: x; batch does not balance in EUR: payout 1.00, sum of the other rows 2.00 (difference 1.00)", workflow.Remedy{Rejected: 2, Unbalanced: true}},
		{"conflict", "ConflictError", (&workflow.ConflictError{File: "s3://raw/b.csv"}).Error(), workflow.Remedy{Replace: true}},
		{"too large", "InvalidFileError", "s3://raw/x.csv: the file is 9 bytes, over the limit of 8 (MAX_FILE_BYTES, the stack's MaxFileBytes parameter); ask the provider for smaller batches or raise the limit", workflow.Remedy{TooLarge: true}},
		{"not a report", "InvalidFileError", "s3://raw/x.csv: line 1: not an Adyen settlement details report", workflow.Remedy{}},
	}
	for _, c := range cases {
		if got := workflow.RemedyFor(c.errName, c.message); got != c.want {
			t.Errorf("%s: RemedyFor(%s, %q) = %+v, want %+v", c.name, c.errName, c.message, got, c.want)
		}
	}
}
