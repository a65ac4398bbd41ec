package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/paysettle/settle/internal/engine"
	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/workflow"
)

// Operator is the operator of the data folder: ops's decisions on the local engine's executions, the
// folder DLQ and the folder buckets. data is the folder as the command line names it (the words of
// what the operator prints), command a verb's command line ("settle show --data d").
func (e *Env) Operator(data string, command func(verb string) string) *ops.Operator {
	return &ops.Operator{
		Machine:      localExecutions{e: e, data: data, command: command},
		Queues:       localQueues{e: e, data: data},
		Files:        localFiles{e: e, data: data, command: command},
		Processed:    func() (store.Bucket, error) { return e.Processed, nil },
		RawBucket:    RawBucket,
		Policy:       func() (ledger.Policy, error) { return e.BatchCheck.Policy, nil },
		Command:      command,
		MaxFileBytes: e.Steps.Conf.MaxFileBytes,
		Now:          e.clock.Now,
	}
}

// localExecutions are the local engine's executions. A start or a redrive runs the execution to its
// end before it returns.
type localExecutions struct {
	e       *Env
	data    string
	command func(string) string
}

func (x localExecutions) List(_ context.Context, status string, since time.Time, limit int) ([]ops.Execution, error) {
	all, err := x.e.Engine.List()
	if err != nil {
		return nil, err
	}
	var out []ops.Execution
	for _, ex := range all { // newest first
		if !since.IsZero() && ex.StartDate.Before(since) {
			break
		}
		if status != "" && ex.Status != status {
			continue
		}
		out = append(out, execution(ex))
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, nil
}

func (x localExecutions) Describe(_ context.Context, name string) (ops.Execution, error) {
	ex, err := x.e.Engine.Describe(name)
	var none *engine.ExecutionDoesNotExistError
	if errors.As(err, &none) {
		return ops.Execution{}, &ops.NoExecutionError{Name: name, Where: x.data, List: x.command("executions")}
	}
	if err != nil {
		return ops.Execution{}, err
	}
	return execution(ex), nil
}

// execution is an engine execution as the operator sees one.
func execution(x *engine.Execution) ops.Execution {
	return ops.Execution{
		Name: x.Name, ARN: x.ExecutionARN, Status: x.Status, Start: x.StartDate, Stop: x.StopDate, Input: string(x.Input),
		Output: string(x.Output), Error: x.Error, Cause: x.Cause, RedriveCount: x.RedriveCount,
		RedriveStatus: x.RedriveStatus, RedriveReason: x.RedriveStatusReason,
	}
}

func (x localExecutions) History(_ context.Context, name string) ([]ops.Event, error) {
	hist, err := x.e.Engine.History(name)
	if err != nil {
		return nil, err
	}
	out := make([]ops.Event, 0, len(hist))
	for _, h := range hist {
		ev, err := ops.EventOf(h)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

func (x localExecutions) Start(ctx context.Context, name string, input []byte) error {
	return Executions{E: x.e.Engine}.Start(ctx, name, input)
}

func (x localExecutions) Redrive(ctx context.Context, name string) error {
	return Executions{E: x.e.Engine}.Redrive(ctx, name)
}

// localQueues are the data folder's queues: the failed-files DLQ's files. The local pipeline hands each
// file's event to the starter itself, so it has no ingest queue nor ingest DLQ.
type localQueues struct {
	e    *Env
	data string
}

var errNoIngestDLQ = errors.New("the local pipeline has no ingest dead-letter queue: settle run hands each file's event to the starter itself, and reports there what it could not start")

func (q localQueues) Depths(context.Context) ([]ops.QueueDepth, error) {
	msgs, err := q.e.DLQMessages()
	if err != nil {
		return nil, err
	}
	return []ops.QueueDepth{{Name: ops.QueueFailed, URL: filepath.Join(q.data, DLQDir), Visible: int64(len(msgs))}}, nil
}

func (localQueues) DeadLetterQueues() []string { return []string{ops.QueueFailed} }

func (q localQueues) has(queue string) error {
	switch queue {
	case ops.QueueFailed:
		return nil
	case ops.QueueIngestDLQ, ops.QueueIngest:
		return errNoIngestDLQ
	case ops.QueueFetchDLQ:
		return fmt.Errorf("the local pipeline has no fetch dead-letter queue; its failed downloads are files in %s", filepath.Join(q.data, FetchDLQDir)+string(filepath.Separator))
	}
	return fmt.Errorf("the local pipeline has no %s queue", queue)
}

func (q localQueues) Receive(_ context.Context, queue string, max int, _ time.Duration) ([]ops.Message, error) {
	if err := q.has(queue); err != nil {
		return nil, err
	}
	msgs, err := q.e.DLQMessages()
	if err != nil {
		return nil, err
	}
	var out []ops.Message
	for _, m := range msgs {
		if len(out) == max {
			break
		}
		out = append(out, ops.Message{ID: m.ID, Body: m.Body, Sent: m.Sent, Handle: m.ID})
	}
	return out, nil
}

// Release does nothing: a file is no hidden message.
func (localQueues) Release(context.Context, string, []ops.Message) {}

func (q localQueues) Delete(_ context.Context, queue string, m ops.Message) error {
	if err := q.has(queue); err != nil {
		return err
	}
	return q.e.DeleteDLQMessage(m.Handle)
}

func (q localQueues) Send(_ context.Context, queue string, _ []byte) error {
	if err := q.has(queue); err != nil {
		return err
	}
	return errors.New("the local pipeline sends nothing to its failed-files queue by hand")
}

func (q localQueues) MoveAll(context.Context, string, string, bool) (ops.MoveTask, error) {
	return ops.MoveTask{}, errNoIngestDLQ
}

// localFiles are the files a reprocess names locally: a file anywhere (copied into the raw bucket, as
// settle run does), or the raw bucket's file of an execution.
type localFiles struct {
	e       *Env
	data    string
	command func(string) string
}

// Object is the raw object of a file named by its path: uploaded into the raw bucket (unless dry, or
// already there). A target that is no file may name an execution.
func (f localFiles) Object(ctx context.Context, target string, dry bool) (workflow.FileRef, bool, error) {
	fi, err := os.Stat(target)
	if err != nil {
		return workflow.FileRef{}, false, nil
	}
	if !fi.Mode().IsRegular() {
		return workflow.FileRef{}, false, fmt.Errorf("%s is not a file", target)
	}
	key := RawKey(target)
	rawDir, _ := filepath.Abs(filepath.Join(f.e.Dir, RawBucket))
	if abs, err := filepath.Abs(target); err == nil {
		if rel, err := filepath.Rel(rawDir, abs); err == nil && !strings.HasPrefix(rel, "..") {
			key = filepath.ToSlash(rel) // already in the raw bucket
		}
	}
	if dry {
		sum, err := FileMD5(target)
		if err != nil {
			return workflow.FileRef{}, false, err
		}
		return workflow.FileRef{Bucket: RawBucket, Key: key, ETag: sum, Size: fi.Size()}, true, nil
	}
	obj, err := f.e.Upload(ctx, target, key)
	if err != nil {
		return workflow.FileRef{}, false, err
	}
	return workflow.FileRef{Bucket: RawBucket, Key: obj.Key, ETag: obj.ETag, Size: obj.Size}, true, nil
}

func (f localFiles) Current(ctx context.Context, execution string, ref workflow.FileRef) (workflow.FileRef, error) {
	obj, err := f.e.Raw.Head(ctx, ref.Key)
	if errors.Is(err, store.ErrNotFound) {
		return workflow.FileRef{}, fmt.Errorf("the file of execution %s, %s, is no longer there", execution, filepath.Join(f.data, ref.Bucket, filepath.FromSlash(ref.Key)))
	}
	if err != nil {
		return workflow.FileRef{}, err
	}
	return workflow.FileRef{Bucket: RawBucket, Key: obj.Key, ETag: obj.ETag, Size: obj.Size}, nil
}

func (f localFiles) Unknown(target string) error {
	return fmt.Errorf("no file or execution named %s (see %s)", target, f.command("executions"))
}

// ResultOf is the end of an execution an operator's action ran, as settle run reports a file (nil when
// there is no such execution).
func (e *Env) ResultOf(name string) *FileResult {
	x, err := e.Engine.Describe(name)
	if err != nil {
		return nil
	}
	r := e.Result(x)
	return &r
}
