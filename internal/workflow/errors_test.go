package workflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/engine"
	"github.com/paysettle/settle/internal/workflow"
	"github.com/paysettle/settle/statemachine"
)

// errorNamesInDefinition collects every ErrorEquals name of the definition.
func errorNamesInDefinition(t *testing.T) []string {
	t.Helper()
	var def struct {
		States map[string]struct {
			Retry []struct{ ErrorEquals []string }
			Catch []struct{ ErrorEquals []string }
		}
	}
	if err := json.Unmarshal(statemachine.Definition, &def); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range def.States {
		for _, r := range s.Retry {
			for _, n := range r.ErrorEquals {
				seen[n] = true
			}
		}
		for _, c := range s.Catch {
			for _, n := range c.ErrorEquals {
				seen[n] = true
			}
		}
	}
	var out []string
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TestDefinitionErrorNamesAreGoTypes: every error name the definition routes on, other than States.* and
// Lambda.*, is a Go error type of this package that reaches Step Functions under that name when a
// handler returns it (aws-lambda-go names errors after their type).
func TestDefinitionErrorNamesAreGoTypes(t *testing.T) {
	errs := map[string]error{
		"InvalidFileError": &workflow.InvalidFileError{File: "s3://raw/x.csv", Reason: "r"},
		"ValidationError":  &workflow.ValidationError{File: "s3://raw/x.csv"},
		"ConflictError":    &workflow.ConflictError{File: "s3://raw/x.csv"},
		"TransientError":   &workflow.TransientError{Op: "op", Err: "e"},
		"StorageError":     &workflow.StorageError{Op: "op", Err: "e"},
	}
	if len(errs) != len(workflow.ErrorNames) {
		t.Fatalf("ErrorNames = %v; the test knows %d types", workflow.ErrorNames, len(errs))
	}
	for _, name := range errorNamesInDefinition(t) {
		if strings.HasPrefix(name, "States.") || strings.HasPrefix(name, "Lambda.") {
			continue
		}
		e, ok := errs[name]
		if !ok {
			t.Errorf("the definition routes on %q, which no Go error type of the workflow is called", name)
			continue
		}
		task := engine.LambdaTask(func(context.Context, workflow.StepInput) (*workflow.CheckResult, error) { return nil, e })
		_, err := task(t.Context(), json.RawMessage(`{}`))
		var te *engine.TaskError
		if !errors.As(err, &te) || te.Name != name {
			t.Errorf("a handler returning %T reaches Step Functions as %v, want %s", e, err, name)
		}
	}
	// A wrapped error loses its name: the handlers must return these types unwrapped.
	task := engine.LambdaTask(func(context.Context, workflow.StepInput) (*workflow.CheckResult, error) {
		return nil, errors.Join(&workflow.ValidationError{})
	})
	_, err := task(t.Context(), json.RawMessage(`{}`))
	var te *engine.TaskError
	if errors.As(err, &te) && te.Name == "ValidationError" {
		t.Error("a wrapped error kept its name; the test no longer proves anything about unwrapping")
	}
}

func TestExecutionName(t *testing.T) {
	tests := map[string]string{
		`"9e107d9d372bb6826bd81d3542a419d6"`:    "9e107d9d372bb6826bd81d3542a419d6",
		`"d41d8cd98f00b204e9800998ecf8427e-12"`: "d41d8cd98f00b204e9800998ecf8427e-12",
		`a/b c`:                                 "a_b_c",
		``:                                      "no-etag",
		strings.Repeat("a", 100):                strings.Repeat("a", 72),
	}
	for in, want := range tests {
		if got := workflow.ExecutionName(in); got != want {
			t.Errorf("ExecutionName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKeys(t *testing.T) {
	if got := workflow.PartitionKey("2024-05-03", "Acme Shop/NL", 57); got != "settlement_lines/settlement_date=2024-05-03/adyen_Acme%20Shop%2FNL_57.parquet" {
		t.Errorf("PartitionKey = %s", got)
	}
	if got := workflow.ManifestKey("..", 1); got != "_manifests/adyen/%2E./1.json" {
		t.Errorf("ManifestKey = %s", got)
	}
}

func TestLoadConfig(t *testing.T) {
	env := map[string]string{"RAW_BUCKET": "r", "MAX_REJECTED_ROWS": "5", "BALANCE_CHECK": "off", "SETTLE_TIMEZONES": "CST=-06:00"}
	c, err := workflow.LoadConfig(func(k string) string { return env[k] })
	if err != nil || c.Policy.MaxRejected != 5 || c.Policy.BalanceCheck || c.Read.Zones["CST"] != -21600 || c.RawBucket != "r" {
		t.Errorf("LoadConfig = %+v, %v", c, err)
	}
	for k, v := range map[string]string{"MAX_REJECTED_ROWS": "-1", "BALANCE_CHECK": "maybe", "MAX_FILE_BYTES": "x", "SETTLE_TIMEZONES": "CST"} {
		if _, err := workflow.LoadConfig(func(key string) string {
			if key == k {
				return v
			}
			return ""
		}); err == nil {
			t.Errorf("%s=%s accepted", k, v)
		}
	}
}

// TestAdviceIsTheDefinitions: the advice the state machine sends with a rejected file is workflow.Advice,
// word for word, for every data error.
func TestAdviceIsTheDefinitions(t *testing.T) {
	var def struct {
		States map[string]struct {
			Type    string
			Result  any
			Default string
			Choices []struct {
				Variable     string
				StringEquals string
				Next         string
			}
		}
	}
	if err := json.Unmarshal(statemachine.Definition, &def); err != nil {
		t.Fatal(err)
	}
	choice, ok := def.States["What to do?"]
	if !ok || choice.Type != "Choice" {
		t.Fatal(`no Choice state "What to do?" in the definition`)
	}
	advised := map[string]string{} // error name -> the Pass state that advises on it
	for _, c := range choice.Choices {
		if c.Variable != "$.error.Error" {
			t.Errorf("choice on %s, want $.error.Error", c.Variable)
		}
		advised[c.StringEquals] = c.Next
	}
	for _, name := range workflow.DataErrors {
		next, ok := advised[name]
		if !ok {
			next = choice.Default
		}
		got, _ := def.States[next].Result.(string)
		if got != workflow.Advice(name) {
			t.Errorf("%s: the definition's %q advises\n  %q\nwant workflow.Advice:\n  %q", name, next, got, workflow.Advice(name))
		}
	}
}
