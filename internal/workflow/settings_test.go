package workflow_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/states"
	"github.com/paysettle/settle/internal/workflow"
)

// TestErrorNameConstants: each name constant is what Step Functions calls its error type, and the data
// errors are the three the definition catches.
func TestErrorNameConstants(t *testing.T) {
	for name, err := range map[string]error{
		workflow.ErrNameInvalidFile: &workflow.InvalidFileError{},
		workflow.ErrNameValidation:  &workflow.ValidationError{},
		workflow.ErrNameConflict:    &workflow.ConflictError{},
		workflow.ErrNameTransient:   &workflow.TransientError{},
		workflow.ErrNameStorage:     &workflow.StorageError{},
	} {
		if got := states.ErrorName(err); got != name {
			t.Errorf("%T reaches Step Functions as %q, its constant says %q", err, got, name)
		}
	}
	want := []string{workflow.ErrNameInvalidFile, workflow.ErrNameValidation, workflow.ErrNameConflict}
	if strings.Join(workflow.DataErrors, ",") != strings.Join(want, ",") {
		t.Errorf("DataErrors = %v, want %v", workflow.DataErrors, want)
	}
}

// TestSettingNames: the Lambda functions name a setting with the stack's parameter, the local engine by
// its environment variable alone.
func TestSettingNames(t *testing.T) {
	if got, want := workflow.StackParameters.Setting("MAX_FILE_BYTES", "MaxFileBytes"), "MAX_FILE_BYTES, the stack's MaxFileBytes parameter"; got != want {
		t.Errorf("StackParameters: %q, want %q", got, want)
	}
	if got, want := workflow.EnvironmentVariables.Setting("MAX_FILE_BYTES", "MaxFileBytes"), "MAX_FILE_BYTES"; got != want {
		t.Errorf("EnvironmentVariables: %q, want %q", got, want)
	}
	if got := (workflow.Config{}).SettingNames; got != workflow.StackParameters {
		t.Errorf("the zero Config names settings as %v, want StackParameters", got)
	}
	for _, name := range workflow.DataErrors {
		if got := workflow.StackParameters.Advice(name); got != workflow.Advice(name) {
			t.Errorf("%s: StackParameters.Advice differs from the definition's Advice:\n  %q\n  %q", name, got, workflow.Advice(name))
		}
		env := workflow.EnvironmentVariables.Advice(name)
		if strings.Contains(env, "stack") || env != strings.ReplaceAll(workflow.Advice(name), ", the stack's MaxRejectedRows", "") {
			t.Errorf("%s: EnvironmentVariables.Advice = %q", name, env)
		}
	}
	if !strings.Contains(workflow.EnvironmentVariables.Advice(workflow.ErrNameValidation), "(MAX_REJECTED_ROWS);") {
		t.Error("the local advice on a ValidationError no longer names MAX_REJECTED_ROWS")
	}
}

// TestTooLargeNamesTheSettingWhereItRuns: a file over MAX_FILE_BYTES is rejected naming the stack's
// parameter in the Lambda functions' words, the variable alone in the local engine's.
func TestTooLargeNamesTheSettingWhereItRuns(t *testing.T) {
	ctx := t.Context()
	big := bytes.Repeat([]byte("x"), 2000)
	for names, want := range map[workflow.SettingNames]string{
		workflow.StackParameters:      "over the limit of 1024 (MAX_FILE_BYTES, the stack's MaxFileBytes parameter); ask the provider",
		workflow.EnvironmentVariables: "over the limit of 1024 (MAX_FILE_BYTES); ask the provider",
	} {
		f := newFixture(t, workflow.Config{MaxFileBytes: 1024, SettingNames: names})
		_, err := f.steps.Check(ctx, f.upload("big.csv", big))
		var ife *workflow.InvalidFileError
		if !errors.As(err, &ife) || !strings.Contains(ife.Reason, want) {
			t.Errorf("SettingNames %v: Check = %v, want %q", names, err, want)
		}
	}

	// The local engine's wiring: whatever configuration it is given, its steps speak of no stack.
	env, err := local.Open(t.TempDir(), local.Options{Config: workflow.Config{MaxFileBytes: 1024}})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := env.Raw.Put(ctx, "incoming/big.csv", big)
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.Steps.Check(ctx, workflow.StepInput{Execution: "x", File: workflow.FileRef{Bucket: local.RawBucket, Key: obj.Key, ETag: obj.ETag, Size: obj.Size}})
	var ife *workflow.InvalidFileError
	if !errors.As(err, &ife) || !strings.Contains(ife.Reason, "(MAX_FILE_BYTES); ask the provider") || strings.Contains(ife.Reason, "stack") {
		t.Errorf("local Check = %v, want the limit named by MAX_FILE_BYTES alone", err)
	}
}
