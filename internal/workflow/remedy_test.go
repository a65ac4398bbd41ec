package workflow_test

import (
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/workflow"
)

// rejectAt runs Check and Validate on a test report, as the definition chains them, and returns the
// step input and Validate's error.
func (f *fixture) rejectAt(path string, input *workflow.ExecutionInput) (workflow.StepInput, error) {
	f.t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		f.t.Fatal(err)
	}
	in := f.upload(filepath.Base(path), data)
	if in.Check, err = f.steps.Check(f.t.Context(), in); err != nil {
		f.t.Fatalf("Check: %v", err)
	}
	in.Input = input
	_, err = f.steps.Validate(f.t.Context(), in)
	return in, err
}

// TestReadRemedy reads what would let a rejected file through from the validation report Validate left,
// the error's name and the file's size; the check's result, when the caller has it, only names the
// report's key.
func TestReadRemedy(t *testing.T) {
	ctx := t.Context()
	f := newFixture(t, workflow.Config{Policy: settlement.DefaultPolicy()})
	read := func(in workflow.StepInput, name string, withCheck bool) workflow.Remedy {
		t.Helper()
		r := workflow.Rejection{Error: name, File: in.File}
		if withCheck {
			r.Check = in.Check
		}
		got, err := workflow.ReadRemedy(ctx, f.proc, r)
		if err != nil {
			t.Fatalf("ReadRemedy(%+v): %v", r, err)
		}
		return got
	}
	cases := []struct {
		name, path string
		want       workflow.Remedy
	}{
		{"rejected rows", "../settlement/testdata/bad_rows.csv", workflow.Remedy{Rejected: 13}},
		{"unbalanced", "../settlement/testdata/unbalanced.csv", workflow.Remedy{Unbalanced: true}},
	}
	for _, c := range cases {
		in, err := f.rejectAt(c.path, nil)
		var ve *workflow.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("%s: Validate = %v, want a ValidationError", c.name, err)
		}
		for _, withCheck := range []bool{true, false} {
			if got := read(in, workflow.ErrNameValidation, withCheck); got != c.want {
				t.Errorf("%s (check known: %v): ReadRemedy = %+v, want %+v", c.name, withCheck, got, c.want)
			}
		}
	}

	// A reprocess that lets the file through rewrites its report: no remedy is left to name.
	allow := int64(13)
	in, err := f.rejectAt("../settlement/testdata/bad_rows.csv", &workflow.ExecutionInput{Policy: &workflow.PolicyOverride{MaxRejected: &allow}})
	if err != nil {
		t.Fatalf("Validate allowing 13 rows: %v", err)
	}
	if got := read(in, workflow.ErrNameValidation, false); got != (workflow.Remedy{}) {
		t.Errorf("after a reprocess allowing the rows: ReadRemedy = %+v, want none", got)
	}
	off := false
	in, err = f.rejectAt("../settlement/testdata/unbalanced.csv", &workflow.ExecutionInput{Policy: &workflow.PolicyOverride{BalanceCheck: &off}})
	if err != nil {
		t.Fatalf("Validate with the balance check off: %v", err)
	}
	if got := read(in, workflow.ErrNameValidation, true); got != (workflow.Remedy{}) {
		t.Errorf("after a reprocess with the balance check off: ReadRemedy = %+v, want none", got)
	}

	// The other data errors: by name, and by the file's size against the limit a reprocess runs under.
	big := workflow.FileRef{Bucket: "raw", Key: "incoming/big.csv", ETag: "b16", Size: 100_001}
	for _, c := range []struct {
		name string
		r    workflow.Rejection
		want workflow.Remedy
	}{
		{"conflict", workflow.Rejection{Error: workflow.ErrNameConflict, File: big}, workflow.Remedy{Replace: true}},
		{"too large", workflow.Rejection{Error: workflow.ErrNameInvalidFile, File: big, MaxFileBytes: 100_000}, workflow.Remedy{TooLarge: true}},
		{"within the limit", workflow.Rejection{Error: workflow.ErrNameInvalidFile, File: big, MaxFileBytes: 100_001}, workflow.Remedy{}},
		{"within the default limit", workflow.Rejection{Error: workflow.ErrNameInvalidFile, File: big}, workflow.Remedy{}},
		{"over the default limit", workflow.Rejection{Error: workflow.ErrNameInvalidFile, File: workflow.FileRef{ETag: "b17", Size: workflow.DefaultMaxFileBytes + 1}}, workflow.Remedy{TooLarge: true}},
		{"no report", workflow.Rejection{Error: workflow.ErrNameValidation, File: big}, workflow.Remedy{}},
		{"not a data error", workflow.Rejection{Error: workflow.ErrNameTransient, File: big}, workflow.Remedy{}},
	} {
		got, err := workflow.ReadRemedy(ctx, f.proc, c.r)
		if err != nil || got != c.want {
			t.Errorf("%s: ReadRemedy(%+v) = %+v, %v; want %+v", c.name, c.r, got, err, c.want)
		}
	}
}

// TestReadRemedyIgnoresWording: the remedy comes from the report's counts, policy and rules; its
// messages, and the error's, can say anything.
func TestReadRemedyIgnoresWording(t *testing.T) {
	ctx := t.Context()
	f := newFixture(t, workflow.Config{})
	for _, c := range []struct {
		name  string
		check *workflow.CheckResult // where the report is: under its batch, or under _unknown
		rep   settlement.Report
		want  workflow.Remedy
	}{
		{"rows and balance", &workflow.CheckResult{MerchantAccount: "AcmeShopNL", BatchNumber: 91}, settlement.Report{
			Counts: settlement.Counts{DataRows: 9, Rejected: 2}, Policy: settlement.Policy{MaxRejected: 1, BalanceCheck: true},
			FileErrors: []settlement.FileError{{Rule: "balance", Message: "Saldo EUR stimmt nicht", Currency: "EUR", Expected: "1.00", Actual: "2.00"}},
		}, workflow.Remedy{Rejected: 2, Unbalanced: true}},
		{"rows allowed, another file rule", &workflow.CheckResult{MerchantAccount: "AcmeShopNL", BatchNumber: 92}, settlement.Report{
			Counts: settlement.Counts{DataRows: 9, Rejected: 2}, Policy: settlement.Policy{MaxRejected: 5, BalanceCheck: true},
			FileErrors: []settlement.FileError{{Rule: "batch_number", Message: "batch does not balance in EUR: 2 of 9 rows rejected (at most 0 allowed)"}},
		}, workflow.Remedy{}},
		{"unbalanced, batch unknown to the check", nil, settlement.Report{
			Counts: settlement.Counts{DataRows: 4}, Policy: settlement.DefaultPolicy(),
			FileErrors: []settlement.FileError{{Rule: "balance", Message: "net ≠ payout"}},
		}, workflow.Remedy{Unbalanced: true}},
	} {
		etag := fmt.Sprintf("%x", md5.Sum([]byte(c.name)))
		body, err := json.Marshal(c.rep)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.proc.Put(ctx, workflow.ReportKey(c.check, etag), body); err != nil {
			t.Fatal(err)
		}
		file := workflow.FileRef{Bucket: "raw", Key: "incoming/x.csv", ETag: etag, Size: 10}
		for _, check := range []*workflow.CheckResult{c.check, nil} {
			got, err := workflow.ReadRemedy(ctx, f.proc, workflow.Rejection{Error: workflow.ErrNameValidation, File: file, Check: check})
			if err != nil || got != c.want {
				t.Errorf("%s (check %+v): ReadRemedy = %+v, %v; want %+v", c.name, check, got, err, c.want)
			}
		}
	}
}
