package local

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-lambda-go/events"

	"github.com/paysettle/settle/internal/engine"
	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/states"
	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/workflow"
)

// File statuses printed by `settle run`.
const (
	Succeeded = "SUCCEEDED"
	Duplicate = "DUPLICATE"
	Failed    = "FAILED"
	Running   = "RUNNING"
	// Aborted and TimedOut are the execution's own statuses: interrupted (Ctrl-C, a killed process) or
	// out of time. They are failures too, and a redrive finishes them.
	Aborted  = states.Aborted
	TimedOut = states.TimedOut
	// Skipped is a folder's file that the cloud's ingest rule would not take (see Ingests): listed, not run.
	Skipped = "SKIPPED"
)

// FileResult is what happened to one file.
type FileResult struct {
	File         string   `json:"file"`
	Key          string   `json:"key"` // in the raw bucket
	ETag         string   `json:"etag"`
	Execution    string   `json:"execution"`
	Status       string   `json:"status"`
	Error        string   `json:"error"`
	RowsWritten  int64    `json:"rows_written"`
	RowsRejected int64    `json:"rows_rejected"`
	Partitions   []string `json:"partitions"`
	// Warnings and Currencies are the committed manifest's (SUCCEEDED only): what the file's rows
	// raised without being rejected (no payout row, fee identity, balance with the check off), and its
	// exact totals per currency.
	Warnings   []settlement.Warning `json:"warnings"`
	Currencies []settlement.Totals  `json:"currencies"`
	// FailedStep is the step whose error ended a failed execution (for a rejected file, the step that
	// rejected it), and ErrorType that error's name.
	FailedStep string `json:"failed_step,omitempty"`
	ErrorType  string `json:"error_type,omitempty"`
	// RejectedBefore is set when this delivery ran nothing: an earlier execution of the same content
	// (Execution) rejected it, and only an operator's reprocess runs it again.
	RejectedBefore bool `json:"rejected_before,omitempty"`
}

// Failed reports whether the file's execution did not succeed: FAILED, ABORTED or TIMED_OUT.
func (r FileResult) Failed() bool {
	return r.Status == Failed || r.Status == Aborted || r.Status == TimedOut
}

var messages atomic.Int64

// Upload copies a local file into the raw bucket under key, streaming, and describes the object. The
// same bytes already under key are not copied again (a rerun). Other bytes under key, an earlier file of
// the same name that manifests and executions point at, are kept: the file goes to key with "-<its
// ETag>" before the extension instead, so no two contents ever share a key. Each key is written only
// if it is still absent when the upload commits, so two processes uploading two files of one name at
// the same moment cannot both write it: the one that finds it taken goes on as if it had been there.
func (e *Env) Upload(ctx context.Context, path, key string) (store.Object, error) {
	obj, err := e.Raw.Head(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		if obj, err = e.put(ctx, path, key); !errors.Is(err, store.ErrPreconditionFailed) {
			return obj, err
		}
		obj, err = e.Raw.Head(ctx, key) // another process wrote the key first
	}
	if err != nil {
		return store.Object{}, fmt.Errorf("upload %s: %w", path, err)
	}
	sum, err := FileMD5(path)
	if err != nil {
		return store.Object{}, fmt.Errorf("upload %s: %w", path, err)
	}
	if obj.ETag == sum {
		return obj, nil
	}
	alt := variantKey(key, sum)
	obj, err = e.Raw.Head(ctx, alt)
	if errors.Is(err, store.ErrNotFound) {
		if obj, err = e.put(ctx, path, alt); !errors.Is(err, store.ErrPreconditionFailed) {
			return obj, err
		}
		obj, err = e.Raw.Head(ctx, alt)
	}
	switch {
	case err != nil:
		return store.Object{}, fmt.Errorf("upload %s: %w", path, err)
	case obj.ETag == sum:
		return obj, nil
	}
	return store.Object{}, fmt.Errorf("upload %s: %s and %s already hold other bytes", path, key, alt)
}

// put streams a file to key if no object is there when it commits (ErrPreconditionFailed otherwise).
// It writes to the folder itself, not through Raw's decorations, which only watch reads.
func (e *Env) put(ctx context.Context, path, key string) (store.Object, error) {
	f, err := os.Open(path)
	if err != nil {
		return store.Object{}, err
	}
	defer f.Close()
	up, err := e.rawDir.CreateIf(ctx, key, store.Precondition{IfAbsent: true})
	if err != nil {
		return store.Object{}, err
	}
	if _, err := io.Copy(up, f); err != nil {
		up.Abort()
		return store.Object{}, fmt.Errorf("upload %s: %w", path, err)
	}
	return up.Commit()
}

// FileMD5 is the hex MD5 of a file: the ETag S3 gives it in a single-part upload.
func FileMD5(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// variantKey is key with "-<etag>" before the extension of its last segment.
func variantKey(key, etag string) string {
	ext := path.Ext(key)
	if strings.Contains(ext, "/") {
		ext = ""
	}
	return strings.TrimSuffix(key, ext) + "-" + etag + ext
}

// Run uploads a file named on the command line under RawKey and delivers its event, the way S3,
// EventBridge and SQS would.
func (e *Env) Run(ctx context.Context, path string) FileResult {
	return e.RunInput(ctx, Input{Path: path, Key: RawKey(path)})
}

// RunInput uploads one input under its key (see Upload) and delivers its event; a skipped input is
// only reported.
func (e *Env) RunInput(ctx context.Context, in Input) FileResult {
	if in.Skip != "" {
		return FileResult{File: in.Path, Status: Skipped, Error: in.Skip}
	}
	obj, err := e.Upload(ctx, in.Path, in.Key)
	if err != nil {
		return FileResult{File: in.Path, Key: in.Key, Status: Failed, Error: err.Error()}
	}
	r := e.Deliver(ctx, obj)
	r.File = in.Path
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
		return FileResult{File: obj.Key, Key: obj.Key, ETag: obj.ETag, Status: Failed, Error: err.Error()}
	}
	out := FileResult{File: obj.Key, Key: obj.Key, ETag: res.File.ETag, Execution: res.Execution}
	switch res.Outcome {
	case workflow.Ignored:
		out.Status, out.Error = Failed, "the event was ignored"
		return out
	case workflow.Retry:
		out.Status, out.Error = Failed, fmt.Sprintf("not started, the queue would retry: %v", res.Err)
		return out
	case workflow.Rejected:
		e.rejectedBefore(&out)
		return out
	}
	e.summarize(&out, res.Outcome == workflow.Duplicate)
	return out
}

// rejectedBefore reports a content that an earlier execution rejected for a data error: the starter
// leaves it alone, as in the cloud. When a later execution of it (an operator's reprocess) committed
// it, the delivery is a duplicate; otherwise the file is still rejected, and the result says how to
// run it again.
func (e *Env) rejectedBefore(out *FileResult) {
	if ok := e.Successor(out.Execution); ok != "" {
		out.Status, out.Execution = Duplicate, ok
		return
	}
	e.summarize(out, false)
	out.RejectedBefore = true
}

// Successor is the execution of the same content as name (NAME-rN, NAME-pN) that succeeded, or "".
func (e *Env) Successor(name string) string {
	list, err := e.Engine.List()
	if err != nil {
		return ""
	}
	for _, x := range list { // newest first
		if x.Status == states.Succeeded && x.Name != name && workflow.ContentName(x.Name) == workflow.ContentName(name) {
			return x.Name
		}
	}
	return ""
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
	var failed struct {
		FailedStep string `json:"failedStep"`
	}
	switch x.Status {
	case states.Succeeded:
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
			if m := e.committed(state.Write.ManifestKey); m != nil {
				out.Warnings, out.Currencies = m.Warnings, m.Currencies
			}
		}
		if state.Validate != nil && out.Status != Duplicate {
			out.RowsRejected = state.Validate.Counts.Rejected
		}
	case states.Running:
		out.Status = Running
	default:
		out.Status = Failed
		if x.Status == states.Aborted || x.Status == states.TimedOut {
			out.Status = string(x.Status)
		}
		out.Error, out.ErrorType = x.Error, x.Error
		if msg := states.CauseMessage(x.Cause); msg != "" && out.Error != "" {
			out.Error += ": " + msg
		} else if msg != "" {
			out.Error = msg // aborted: no error name, the cause says why
		}
		out.FailedStep = x.FailedState
		_ = json.Unmarshal(x.FailedStateInput, &failed)
		if failed.FailedStep != "" { // a rejected file: the step that rejected it, not the Fail state
			out.FailedStep = failed.FailedStep
		} else if x.FailedState != "" {
			out.Error += " (failed at " + x.FailedState + ")"
		}
		_ = json.Unmarshal(x.FailedStateInput, &state)
		if rep := e.report(state.Check, out.ETag); rep != nil {
			out.RowsRejected = rep.Counts.Rejected
		}
	}
}

// committed reads a committed manifest (nil when it cannot be read: the summary then lacks its warnings
// and totals, nothing else).
func (e *Env) committed(key string) *workflow.Manifest {
	m, _ := workflow.ReadManifest(context.Background(), e.Processed, key)
	return m
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
	return e.Result(x), nil
}

// Result summarizes an execution that has ended: its file, status, counts, warnings and totals.
func (e *Env) Result(x *engine.Execution) FileResult {
	var in workflow.ExecutionInput
	_ = json.Unmarshal(x.Input, &in)
	out := FileResult{File: in.File.Key, Key: in.File.Key, ETag: in.File.ETag, Execution: x.Name}
	e.summarize(&out, false)
	return out
}

// Input is one file of a run.
type Input struct {
	Path string // the file
	// Key is where it goes in the raw bucket: incoming/<file name> for a file named on the command line,
	// incoming/<path inside the folder> for a file found under a folder (see Upload for a taken key).
	Key string
	// Skip, when set, is why the file is listed but not run.
	Skip string
}

// skipReason is why a folder's file is not run: the cloud would not run it either.
const skipReason = "not a report the ingest rule takes: only keys ending in " + IngestSuffix + " (any case) start an execution"

// Inputs expands the command line: a file is run as given (the user named it); a folder stands for the
// regular files under it, subfolders included, in path order, leaving out hidden files and folders (names
// starting with a dot). Of a folder's files, those whose key the ingest rule would not take, and entries
// that are not regular files, are listed as skipped, as in the cloud, where they would start nothing.
func Inputs(args []string) ([]Input, error) {
	var out []Input
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			out = append(out, Input{Path: a, Key: RawKey(a)})
			continue
		}
		ins, err := folderInputs(a)
		if err != nil {
			return nil, err
		}
		out = append(out, ins...)
	}
	if len(out) == 0 {
		return nil, errors.New("no files to run")
	}
	return out, nil
}

// folderInputs lists the files under a folder named on the command line (see Inputs).
func folderInputs(dir string) ([]Input, error) {
	root := dir
	if lfi, err := os.Lstat(dir); err == nil && lfi.Mode()&fs.ModeSymlink != 0 { // walk the folder it names
		if root, err = filepath.EvalSymlinks(dir); err != nil {
			return nil, err
		}
	}
	var out []Input
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		segs := strings.Split(filepath.ToSlash(rel), "/")
		for i, s := range segs {
			segs[i] = keySegment(s)
		}
		in := Input{Path: filepath.Join(dir, rel), Key: "incoming/" + strings.Join(segs, "/")}
		switch target, err := os.Stat(p); { // a link to a file stands for the file; links to folders are not followed
		case err != nil:
			in.Skip = err.Error()
		case target.IsDir():
			in.Skip = "a link to a folder: not followed"
		case !target.Mode().IsRegular():
			in.Skip = "not a regular file"
		case !Ingests(in.Key):
			in.Skip = skipReason
		}
		out = append(out, in)
		return nil
	})
	return out, err
}
