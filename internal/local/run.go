package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-lambda-go/events"

	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/sfn"
	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/workflow"
)

// File statuses printed by `settle run`.
const (
	Succeeded = "SUCCEEDED"
	Duplicate = "DUPLICATE"
	Failed    = "FAILED"
	Running   = "RUNNING"
)

// FileResult is what happened to one file.
type FileResult struct {
	File         string   `json:"file"`
	ETag         string   `json:"etag"`
	Execution    string   `json:"execution"`
	Status       string   `json:"status"`
	Error        string   `json:"error"`
	RowsWritten  int64    `json:"rows_written"`
	RowsRejected int64    `json:"rows_rejected"`
	Partitions   []string `json:"partitions"`
}

var messages atomic.Int64

// Upload copies a local file into the raw bucket, streaming, under RawKey(path).
func (e *Env) Upload(ctx context.Context, path string) (store.Object, error) {
	f, err := os.Open(path)
	if err != nil {
		return store.Object{}, err
	}
	defer f.Close()
	up, err := e.Raw.Create(ctx, RawKey(path))
	if err != nil {
		return store.Object{}, err
	}
	if _, err := io.Copy(up, f); err != nil {
		up.Abort()
		return store.Object{}, fmt.Errorf("upload %s: %w", path, err)
	}
	return up.Commit()
}

// Run uploads a file and delivers its event, the way S3, EventBridge and SQS would.
func (e *Env) Run(ctx context.Context, path string) FileResult {
	obj, err := e.Upload(ctx, path)
	if err != nil {
		return FileResult{File: path, Status: Failed, Error: err.Error()}
	}
	r := e.Deliver(ctx, obj)
	r.File = path
	return r
}

// Deliver hands the starter an SQS message for an object of the raw bucket and reports the outcome
// once the execution ends (the local engine runs it synchronously).
func (e *Env) Deliver(ctx context.Context, obj store.Object) FileResult {
	msg := ObjectCreatedMessage(obj, e.clock.Now(), int(messages.Add(1)))
	var res workflow.StartResult
	starter := *e.Starter
	starter.OnResult = func(r workflow.StartResult) { res = r }
	if _, err := starter.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{msg}}); err != nil {
		return FileResult{File: obj.Key, ETag: store.UnquoteETag(obj.ETag), Status: Failed, Error: err.Error()}
	}
	out := FileResult{File: obj.Key, ETag: res.File.ETag, Execution: res.Execution}
	switch res.Outcome {
	case workflow.Ignored:
		out.Status, out.Error = Failed, "the event was ignored"
		return out
	case workflow.Retry:
		out.Status, out.Error = Failed, fmt.Sprintf("not started, the queue would retry: %v", res.Err)
		return out
	}
	e.summarize(&out, res.Outcome == workflow.Duplicate)
	return out
}

// summarize fills a result from its execution.
func (e *Env) summarize(out *FileResult, duplicate bool) {
	if duplicate { // the content is processed, or being processed by another delivery: this one wrote nothing
		out.Status = Duplicate
		return
	}
	x, err := e.Engine.Describe(out.Execution)
	if err != nil {
		out.Status, out.Error = Failed, err.Error()
		return
	}
	var state struct {
		Check    *workflow.CheckResult    `json:"check"`
		Validate *workflow.ValidateResult `json:"validate"`
		Write    *workflow.WriteResult    `json:"write"`
	}
	switch x.Status {
	case sfn.StatusSucceeded:
		_ = json.Unmarshal(x.Output, &state)
		out.Status = Succeeded
		if state.Check != nil && state.Check.AlreadyProcessed {
			out.Status = Duplicate
		}
		if state.Write != nil && out.Status != Duplicate { // a duplicate delivery writes nothing
			out.RowsWritten = state.Write.RowsWritten
			for _, p := range state.Write.Partitions {
				out.Partitions = append(out.Partitions, "settlement_date="+p.SettlementDate)
			}
		}
		if state.Validate != nil && out.Status != Duplicate {
			out.RowsRejected = state.Validate.Counts.Rejected
		}
	case sfn.StatusRunning:
		out.Status = Running
	default:
		out.Status = Failed
		out.Error = x.Error
		if msg := causeMessage(x.Cause); msg != "" {
			out.Error += ": " + msg
		}
		if x.FailedState != "" && !strings.HasPrefix(x.FailedState, "Rejected") {
			out.Error += " (failed at " + x.FailedState + ")"
		}
		_ = json.Unmarshal(x.FailedStateInput, &state)
		if rep := e.report(state.Check, out.ETag); rep != nil {
			out.RowsRejected = rep.Counts.Rejected
		}
	}
}

// causeMessage extracts errorMessage from a Lambda error cause.
func causeMessage(cause string) string {
	var c struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal([]byte(cause), &c) == nil && c.ErrorMessage != "" {
		return c.ErrorMessage
	}
	return cause
}

func (e *Env) report(check *workflow.CheckResult, etag string) *settlement.Report {
	rc, err := e.Processed.Open(context.Background(), workflow.ReportKey(check, etag), "")
	if err != nil {
		return nil
	}
	defer rc.Close()
	var rep settlement.Report
	if json.NewDecoder(rc).Decode(&rep) != nil {
		return nil
	}
	return &rep
}

// Redrive redrives a failed execution and reports its outcome.
func (e *Env) Redrive(ctx context.Context, name string) (FileResult, error) {
	x, err := e.Engine.Redrive(ctx, name)
	if err != nil {
		return FileResult{}, err
	}
	var in workflow.ExecutionInput
	_ = json.Unmarshal(x.Input, &in)
	out := FileResult{File: in.File.Key, ETag: in.File.ETag, Execution: name}
	e.summarize(&out, false)
	return out, nil
}

// Files expands the command line: files as given, folders to the regular, non-hidden files they hold
// (not recursing), sorted.
func Files(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			out = append(out, a)
			continue
		}
		entries, err := os.ReadDir(a)
		if err != nil {
			return nil, err
		}
		var names []string
		for _, en := range entries {
			if en.Type().IsRegular() && !strings.HasPrefix(en.Name(), ".") {
				names = append(names, filepath.Join(a, en.Name()))
			}
		}
		sort.Strings(names)
		out = append(out, names...)
	}
	if len(out) == 0 {
		return nil, errors.New("no files to run")
	}
	return out, nil
}
