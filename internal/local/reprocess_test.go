package local_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/workflow"
)

func fileRef(t *testing.T, e *env, r local.FileResult) workflow.FileRef {
	t.Helper()
	obj, err := e.Raw.Head(t.Context(), r.Key)
	if err != nil {
		t.Fatal(err)
	}
	return workflow.FileRef{Bucket: local.RawBucket, Key: obj.Key, ETag: obj.ETag, Size: obj.Size}
}

// TestReprocessWithPolicyOverride: a file rejected for 13 bad rows stays rejected when it is run again
// (the starter leaves a rejected content alone); reprocessed allowing 13 rejected rows, it is committed
// by a new -p1 execution whose input records the override, as does the manifest's policy; from then on
// a delivery of it is a duplicate.
func TestReprocessWithPolicyOverride(t *testing.T) {
	e := newEnv(t, workflow.Config{Policy: settlement.DefaultPolicy()})
	data, err := os.ReadFile("../settlement/testdata/bad_rows.csv")
	if err != nil {
		t.Fatal(err)
	}
	path := e.file("bad.csv", data)
	first := e.run(path)
	want(t, first, local.Failed)
	if first.FailedStep != "Validate" || first.ErrorType != "ValidationError" {
		t.Errorf("failed step %q, error type %q; want Validate, ValidationError", first.FailedStep, first.ErrorType)
	}
	again := e.run(path)
	want(t, again, local.Failed)
	if again.Execution != first.Execution || !strings.HasPrefix(again.Error, "ValidationError") || !again.RejectedBefore {
		t.Errorf("run again = %+v, want the first execution's rejection, rejected before", again)
	}

	max := int64(13)
	r, err := reprocess(e.Env, fileRef(t, e, first), ops.ReprocessOptions{Policy: &workflow.PolicyOverride{MaxRejected: &max}})
	if err != nil {
		t.Fatal(err)
	}
	want(t, r, local.Succeeded)
	if r.Execution != first.Execution+"-p1" || r.RowsRejected != 13 || r.RowsWritten != 2 {
		t.Errorf("reprocess = %+v, want %s-p1 with 2 rows written and 13 rejected", r, first.Execution)
	}
	x, err := e.Engine.Describe(r.Execution)
	if err != nil {
		t.Fatal(err)
	}
	var in workflow.ExecutionInput
	if err := json.Unmarshal(x.Input, &in); err != nil || in.Policy == nil || in.Policy.MaxRejected == nil || *in.Policy.MaxRejected != 13 || in.Policy.BalanceCheck != nil {
		t.Errorf("the execution's input %s does not record the override", x.Input)
	}
	var batch struct {
		Merchant string `json:"merchantAccount"`
		Batch    int64  `json:"batchNumber"`
	}
	if err := json.Unmarshal(x.Output, &struct {
		Validate any `json:"validate"`
	}{&batch}); err != nil {
		t.Fatal(err)
	}
	if m := e.manifest(batch.Merchant, batch.Batch); m.Policy.MaxRejected != 13 || !m.Policy.BalanceCheck || m.Execution != r.Execution {
		t.Errorf("manifest policy %+v by %s, want max 13 rejected, balance check on, by %s", m.Policy, m.Execution, r.Execution)
	}
	if dup := e.run(path); dup.Status != local.Duplicate || dup.Execution != r.Execution {
		t.Errorf("a delivery after the reprocess = %+v, want a duplicate of %s", dup, r.Execution)
	}
	if _, err := reprocess(e.Env, fileRef(t, e, first), ops.ReprocessOptions{Policy: &workflow.PolicyOverride{MaxRejected: &max}}); err != nil {
		t.Fatal(err)
	}
	if x, err := e.Engine.Describe(first.Execution + "-p2"); err != nil || x.Status != "SUCCEEDED" {
		t.Errorf("a second reprocess is -p2: %v %v", x, err)
	}
}

// TestReprocessWithTheBalanceCheckOff: an unbalanced batch is committed when reprocessed with the
// balance check off, and the imbalance is its warning.
func TestReprocessWithTheBalanceCheckOff(t *testing.T) {
	e := newEnv(t, workflow.Config{Policy: settlement.DefaultPolicy()})
	data, err := os.ReadFile("../settlement/testdata/unbalanced.csv")
	if err != nil {
		t.Fatal(err)
	}
	first := e.run(e.file("unbalanced.csv", data))
	want(t, first, local.Failed)
	off := false
	r, err := reprocess(e.Env, fileRef(t, e, first), ops.ReprocessOptions{Policy: &workflow.PolicyOverride{BalanceCheck: &off}})
	if err != nil {
		t.Fatal(err)
	}
	want(t, r, local.Succeeded)
	if len(r.Warnings) == 0 || r.Warnings[0].Rule != "balance" || len(r.Currencies) == 0 {
		t.Errorf("reprocess = %+v, want the imbalance as a warning and the totals", r)
	}
}

// TestReprocessWithoutOverrideTakesTheETagName: a file whose event never reached the starter is
// reprocessed under the starter's own name, with the starter's input.
func TestReprocessWithoutOverrideTakesTheETagName(t *testing.T) {
	e := newEnv(t, workflow.Config{})
	path := e.file("lost.csv", []byte(sampleCSV(t)))
	obj, err := e.Upload(t.Context(), path, local.RawKey(path))
	if err != nil {
		t.Fatal(err)
	}
	r, err := reprocess(e.Env, workflow.FileRef{Bucket: local.RawBucket, Key: obj.Key, ETag: obj.ETag, Size: obj.Size}, ops.ReprocessOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want(t, r, local.Succeeded)
	if r.Execution != workflow.ExecutionName(obj.ETag) {
		t.Errorf("execution %s, want the ETag's name", r.Execution)
	}
	x, _ := e.Engine.Describe(r.Execution)
	if strings.Contains(string(x.Input), "policy") {
		t.Errorf("input %s has a policy", x.Input)
	}
}

func sampleCSV(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../testdata/sample/settlement_detail_report_batch_57.csv")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestNotificationsAreStructured: the alert topic's message for a rejected file is a JSON object in
// notifications.jsonl, its cause too, not JSON inside strings.
func TestNotificationsAreStructured(t *testing.T) {
	e := newEnv(t, workflow.Config{Policy: settlement.DefaultPolicy()})
	data, err := os.ReadFile("../settlement/testdata/bad_rows.csv")
	if err != nil {
		t.Fatal(err)
	}
	want(t, e.run(e.file("bad.csv", data)), local.Failed)
	b, err := os.ReadFile(filepath.Join(e.dir, "notifications.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var n struct {
		Subject string
		Message struct {
			Execution string
			Step      string
			Error     string
			Cause     struct {
				ErrorMessage string
				ErrorType    string
			}
			Action string
		}
	}
	if err := json.Unmarshal(b, &n); err != nil {
		t.Fatalf("notifications.jsonl %s: %v", b, err)
	}
	if m := n.Message; m.Step != "Validate" || m.Error != "ValidationError" || m.Cause.ErrorType != "ValidationError" ||
		!strings.Contains(m.Cause.ErrorMessage, "13 of 15 rows rejected") || m.Action != workflow.Advice("ValidationError") {
		t.Errorf("notification %s", b)
	}
}

// operatorOf is the data folder's operator, as settle's commands use it.
func operatorOf(e *local.Env) *ops.Operator {
	return e.Operator(e.Dir, func(verb string) string { return "settle " + verb + " --data " + e.Dir })
}

// reprocess runs a raw object again through the operator, as settle reprocess does, and reads the end
// of the execution it ran.
func reprocess(e *local.Env, file workflow.FileRef, o ops.ReprocessOptions) (local.FileResult, error) {
	a, err := operatorOf(e).ReprocessFile(context.Background(), file, o, false)
	if err != nil {
		return local.FileResult{}, err
	}
	if a.Outcome == string(workflow.Duplicate) {
		return local.FileResult{File: file.Key, Key: file.Key, ETag: file.ETag, Execution: a.Target, Status: local.Duplicate}, nil
	}
	r := e.ResultOf(a.Target)
	if r == nil {
		return local.FileResult{}, fmt.Errorf("no execution %s", a.Target)
	}
	return *r, nil
}
