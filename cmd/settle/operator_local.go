package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/paysettle/settle/internal/engine"
	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/states"
	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/workflow"
)

// localOperator is the operator of a data folder: the local engine's execution history, the folder
// buckets and the failed-files DLQ's files. It runs what it starts to its end before answering.
type localOperator struct {
	env  *local.Env
	data string // the data folder as the command line named it
	now  func() time.Time
}

var _ operator = (*localOperator)(nil)

func (l *localOperator) where(*ops.Status) string { return "Data folder " + l.data }

// command names the verb with this data folder, so that what is printed can be run as it is.
func (l *localOperator) command(verb string) string {
	if l.data == DefaultData {
		return "settle " + verb
	}
	return "settle " + verb + " --data " + l.data
}

func (l *localOperator) file(f workflow.FileRef) string {
	return filepath.Join(l.data, f.Bucket, filepath.FromSlash(f.Key))
}

func (l *localOperator) output(key string) string {
	return filepath.Join(l.data, local.ProcessedBucket, filepath.FromSlash(key))
}

// stackWords are the parts of the pipeline's messages that speak of the deployed stack: its
// parameters next to the environment variables they set.
var stackWords = regexp.MustCompile(`, the stack's [A-Za-z]+( parameter)?`)

func (l *localOperator) text(s string) string {
	s = strings.ReplaceAll(s, "s3://"+local.RawBucket+"/", filepath.Join(l.data, local.RawBucket)+string(filepath.Separator))
	s = strings.ReplaceAll(s, "s3://"+local.ProcessedBucket+"/", filepath.Join(l.data, local.ProcessedBucket)+string(filepath.Separator))
	return stackWords.ReplaceAllString(s, "")
}

func (l *localOperator) runs() bool { return true }

// noExecution is the error for a name no execution has.
func (l *localOperator) noExecution(name string) error {
	return fmt.Errorf("no execution named %s in %s (see %s)", name, l.data, l.command("executions"))
}

func (l *localOperator) describe(name string) (*engine.Execution, error) {
	x, err := l.env.Engine.Describe(name)
	var none *engine.ExecutionDoesNotExistError
	if errors.As(err, &none) {
		return nil, l.noExecution(name)
	}
	return x, err
}

// execution is an engine execution as the operator commands see one.
func execution(x *engine.Execution) ops.Execution {
	e := ops.Execution{
		Name: x.Name, ARN: x.ExecutionARN, Status: x.Status, Start: x.StartDate, Stop: x.StopDate, Input: string(x.Input),
		Output: string(x.Output), Error: x.Error, Cause: x.Cause, RedriveCount: x.RedriveCount,
		RedriveStatus: x.RedriveStatus, RedriveReason: x.RedriveStatusReason,
	}
	var in workflow.ExecutionInput
	if json.Unmarshal(x.Input, &in) == nil {
		e.File, e.Replace, e.Policy = in.File, in.Replace, in.Policy
	}
	return e
}

func (l *localOperator) list(since time.Time) ([]*engine.Execution, error) {
	all, err := l.env.Engine.List()
	if err != nil {
		return nil, err
	}
	var out []*engine.Execution
	for _, x := range all { // newest first
		if !since.IsZero() && x.StartDate.Before(since) {
			break
		}
		out = append(out, x)
	}
	return out, nil
}

func (l *localOperator) Status(ctx context.Context, since time.Time) (*ops.Status, error) {
	st := &ops.Status{At: l.now().UTC(), Since: since, Counts: map[string]int{}, Resolved: map[string]string{}}
	msgs, err := l.env.DLQMessages()
	if err != nil {
		return nil, err
	}
	st.Queues = []ops.QueueDepth{{Name: ops.QueueFailed, URL: filepath.Join(l.data, local.DLQDir), Visible: int64(len(msgs))}}
	all, err := l.list(time.Time{})
	if err != nil {
		return nil, err
	}
	succeeded := map[string]*engine.Execution{} // the latest success of each content
	for _, x := range all {
		if x.Status == states.Succeeded {
			if _, ok := succeeded[workflow.ContentName(x.Name)]; !ok {
				succeeded[workflow.ContentName(x.Name)] = x
			}
		}
	}
	var running []ops.Execution
	for _, x := range all {
		if x.Status == states.Running {
			running = append([]ops.Execution{execution(x)}, running...) // oldest first
		}
		if !since.IsZero() && x.StartDate.Before(since) {
			continue
		}
		if x.Status != states.Running {
			st.Counts[x.Status]++
		}
		if !states.Unsuccessful(x.Status) {
			continue
		}
		if ok, found := succeeded[workflow.ContentName(x.Name)]; found && ok.StartDate.After(x.StartDate) {
			st.Resolved[x.Name] = ok.Name
		}
		if len(st.Failed) < 10 {
			st.Failed = append(st.Failed, execution(x))
		}
	}
	st.Counts[states.Running] = len(running)
	st.Running = running[:min(5, len(running))]
	return st, nil
}

func (l *localOperator) Executions(ctx context.Context, status string, since time.Time, limit int) ([]ops.Execution, error) {
	list, err := l.list(since)
	if err != nil {
		return nil, err
	}
	var out []ops.Execution
	for _, x := range list {
		if status != "" && x.Status != status {
			continue
		}
		out = append(out, execution(x))
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, nil
}

func (l *localOperator) Show(ctx context.Context, name string) (*ops.Detail, error) {
	x, err := l.describe(name)
	if err != nil {
		return nil, err
	}
	hist, err := l.env.Engine.History(name)
	if err != nil {
		return nil, err
	}
	d := &ops.Detail{Execution: execution(x)}
	for _, ev := range hist {
		d.Events = append(d.Events, event(ev))
	}
	d.FailedStep = ops.Annotate(d.Events)
	if key := ops.ManifestKey(d.Output); key != "" {
		d.Manifest, _ = workflow.ReadManifest(ctx, l.env.Processed, key)
	}
	return d, nil
}

// event is an engine history event as the operator commands see one (ops reads the same fields of
// GetExecutionHistory's events).
func event(h engine.Event) ops.Event {
	ev := ops.Event{ID: h.ID, Time: h.Timestamp, Type: h.Type}
	fail := func(e, c string) {
		ev.Error, ev.Message = e, states.CauseMessage(c)
		ev.Detail = ev.Error
		if ev.Message != "" {
			if ev.Detail != "" {
				ev.Detail += ": "
			}
			ev.Detail += ev.Message
		}
	}
	switch {
	case h.StateEnteredEventDetails != nil:
		ev.State = h.StateEnteredEventDetails.Name
	case h.StateExitedEventDetails != nil:
		ev.State = h.StateExitedEventDetails.Name
	case h.LambdaFunctionScheduledEventDetails != nil:
		ev.Detail = h.LambdaFunctionScheduledEventDetails.Resource
	case h.LambdaFunctionFailedEventDetails != nil:
		fail(h.LambdaFunctionFailedEventDetails.Error, h.LambdaFunctionFailedEventDetails.Cause)
	case h.LambdaFunctionTimedOutEventDetails != nil:
		fail(h.LambdaFunctionTimedOutEventDetails.Error, h.LambdaFunctionTimedOutEventDetails.Cause)
	case h.TaskScheduledEventDetails != nil:
		ev.Detail = h.TaskScheduledEventDetails.ResourceType + ":" + h.TaskScheduledEventDetails.Resource
	case h.TaskFailedEventDetails != nil:
		fail(h.TaskFailedEventDetails.Error, h.TaskFailedEventDetails.Cause)
	case h.TaskTimedOutEventDetails != nil:
		fail(h.TaskTimedOutEventDetails.Error, h.TaskTimedOutEventDetails.Cause)
	case h.ExecutionFailedEventDetails != nil:
		fail(h.ExecutionFailedEventDetails.Error, h.ExecutionFailedEventDetails.Cause)
	case h.ExecutionAbortedEventDetails != nil:
		fail(h.ExecutionAbortedEventDetails.Error, h.ExecutionAbortedEventDetails.Cause)
	case h.ExecutionRedrivenEventDetails != nil:
		ev.Detail = fmt.Sprintf("redrive %d", h.ExecutionRedrivenEventDetails.RedriveCount)
	}
	return ev
}

// executions is the local engine for workflow.Launch; a dry one describes for real but only
// pretends to start and redrive.
func (l *localOperator) executions(dry bool) workflow.Executions {
	x := local.Executions{E: l.env.Engine}
	if dry {
		return dryExecutions{x}
	}
	return x
}

type dryExecutions struct{ x local.Executions }

func (d dryExecutions) Start(ctx context.Context, name string, input []byte) error {
	_, err := d.x.E.Describe(name)
	var none *engine.ExecutionDoesNotExistError
	if errors.As(err, &none) {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: %s", workflow.ErrExecutionExists, name)
}

func (d dryExecutions) Describe(ctx context.Context, name string) (workflow.ExecutionInfo, error) {
	return d.x.Describe(ctx, name)
}

func (d dryExecutions) Redrive(ctx context.Context, name string) error { return nil }

// result is the end of an execution the operator ran (nil in a dry run or when it has none).
func (l *localOperator) result(name string, dry bool) *local.FileResult {
	if dry || name == "" {
		return nil
	}
	x, err := l.env.Engine.Describe(name)
	if err != nil {
		return nil
	}
	r := l.env.Result(x)
	return &r
}

func (l *localOperator) Redrive(ctx context.Context, name string, dry, force bool) (action, error) {
	x, err := l.describe(name)
	if err != nil {
		return action{}, err
	}
	a := l.restart(ctx, execution(x), dry, force)
	return a, a.Err
}

// restart restarts a failed execution by ops's rule for a stack (ops.Restart), on the data folder, and
// reads the end of the execution it ran.
func (l *localOperator) restart(ctx context.Context, x ops.Execution, dry, force bool) action {
	a := action{Action: ops.Restart(ctx, l.executions(dry), x, force, func(_ string, err error) error { return err })}
	switch a.Outcome {
	case string(workflow.Redriven), string(workflow.Restarted), string(workflow.Started):
		a.result = l.result(a.Target, dry)
	}
	return a
}

func (l *localOperator) RedriveFailed(ctx context.Context, since time.Time, dry bool) ([]action, error) {
	list, err := l.list(since)
	if err != nil {
		return nil, err
	}
	var out []action
	done := map[string]bool{}
	for _, x := range list {
		base := workflow.RestartBase(x.Name)
		if !states.Unsuccessful(x.Status) || done[base] {
			done[base] = true // the latest execution of a content speaks for it
			continue
		}
		done[base] = true
		out = append(out, l.restart(ctx, execution(x), dry, false))
	}
	return out, nil
}

// object finds what a reprocess names: a local file (copied into the raw bucket, as settle run does;
// not in a dry run), a file of the raw bucket, or an execution, whose file it is.
func (l *localOperator) object(ctx context.Context, target string, dry bool) (workflow.FileRef, error) {
	if fi, err := os.Stat(target); err == nil && fi.Mode().IsRegular() {
		key := local.RawKey(target)
		rawDir, _ := filepath.Abs(filepath.Join(l.env.Dir, local.RawBucket))
		if abs, err := filepath.Abs(target); err == nil {
			if rel, err := filepath.Rel(rawDir, abs); err == nil && !strings.HasPrefix(rel, "..") {
				key = filepath.ToSlash(rel) // already in the raw bucket
			}
		}
		if dry {
			sum, err := local.FileMD5(target)
			if err != nil {
				return workflow.FileRef{}, err
			}
			return workflow.FileRef{Bucket: local.RawBucket, Key: key, ETag: sum, Size: fi.Size()}, nil
		}
		obj, err := l.env.Upload(ctx, target, key)
		if err != nil {
			return workflow.FileRef{}, err
		}
		return workflow.FileRef{Bucket: local.RawBucket, Key: obj.Key, ETag: obj.ETag, Size: obj.Size}, nil
	} else if err == nil {
		return workflow.FileRef{}, fmt.Errorf("%s is not a file", target)
	}
	x, err := l.env.Engine.Describe(target)
	var none *engine.ExecutionDoesNotExistError
	if errors.As(err, &none) || (err == nil && x == nil) {
		return workflow.FileRef{}, fmt.Errorf("no file or execution named %s (see %s)", target, l.command("executions"))
	}
	if err != nil {
		return workflow.FileRef{}, err
	}
	f := execution(x).File
	obj, err := l.env.Raw.Head(ctx, f.Key)
	if errors.Is(err, store.ErrNotFound) {
		return workflow.FileRef{}, fmt.Errorf("the file of execution %s, %s, is no longer there", target, l.file(f))
	}
	if err != nil {
		return workflow.FileRef{}, err
	}
	return workflow.FileRef{Bucket: local.RawBucket, Key: obj.Key, ETag: obj.ETag, Size: obj.Size}, nil
}

func (l *localOperator) Reprocess(ctx context.Context, target string, o local.ReprocessOptions, dry bool) (action, error) {
	file, err := l.object(ctx, target, dry)
	if err != nil {
		return action{}, err
	}
	return l.reprocess(ctx, file, o, dry)
}

func (l *localOperator) reprocess(ctx context.Context, file workflow.FileRef, o local.ReprocessOptions, dry bool) (action, error) {
	a := action{Action: ops.Action{Execution: workflow.ExecutionName(file.ETag), File: file}}
	in := workflow.ExecutionInput{File: file, Replace: o.Replace, Policy: o.Policy}
	name, running, err := l.env.ReprocessName(file, o)
	if err != nil {
		return a, err
	}
	a.Target = name
	if running {
		a.Outcome, a.Note = string(workflow.Duplicate), "this file is being processed now"
		return a, nil
	}
	a.Outcome, a.Note = string(workflow.Started), ops.ReprocessNote(in)
	if dry {
		return a, nil
	}
	r, err := l.env.Reprocess(ctx, file, o)
	if err != nil {
		a.Outcome, a.Err = ops.Failed, err
		return a, err
	}
	a.result = &r
	return a, nil
}

func (l *localOperator) DLQList(ctx context.Context, queue string, max int) ([]ops.DLQMessage, error) {
	if err := l.queue(queue); err != nil {
		return nil, err
	}
	msgs, err := l.env.DLQMessages()
	if err != nil {
		return nil, err
	}
	var out []ops.DLQMessage
	for _, m := range msgs {
		if len(out) == max {
			break
		}
		out = append(out, l.message(m))
	}
	return out, nil
}

func (l *localOperator) message(m local.DLQMessage) ops.DLQMessage {
	d := ops.ParseMessage(ops.QueueFailed, m.ID, m.Body)
	d.Sent, d.Receives = m.Sent, 0
	return d
}

// queue checks a queue's name: locally only the failed-files DLQ exists.
func (l *localOperator) queue(q string) error {
	if q == "ingest" || q == ops.QueueIngestDLQ {
		return errNoIngestDLQ
	}
	return nil
}

var errNoIngestDLQ = errors.New("the local pipeline has no ingest dead-letter queue: settle run hands each file's event to the starter itself, and reports there what it could not start")

func (l *localOperator) DLQShow(ctx context.Context, id string) (ops.DLQMessage, error) {
	m, err := l.env.DLQMessage(id)
	if err != nil {
		return ops.DLQMessage{}, fmt.Errorf("%v; %s shows what is there", err, l.command("dlq list"))
	}
	return l.message(m), nil
}

func (l *localOperator) DLQRedriveIngest(ctx context.Context, dry bool) (ops.MoveTask, error) {
	return ops.MoveTask{}, errNoIngestDLQ
}

// DLQRedriveFailed restarts the file of each message (only ids, when given) as ops does on a stack, and
// deletes its messages once its execution ran: a rejected file gets a new -pN execution with its
// original input, under the configuration now in force; a file that failed for another reason is
// redriven.
func (l *localOperator) DLQRedriveFailed(ctx context.Context, ids []string, dry bool) ([]action, error) {
	msgs, err := l.env.DLQMessages()
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	found := map[string]bool{}
	groups := map[string][]local.DLQMessage{}
	var order []string
	for _, m := range msgs {
		if len(want) > 0 && !want[m.ID] {
			continue
		}
		found[m.ID] = true
		d := l.message(m)
		if d.Execution == "" {
			continue
		}
		if _, ok := groups[d.Execution]; !ok {
			order = append(order, d.Execution)
		}
		groups[d.Execution] = append(groups[d.Execution], m)
	}
	for _, id := range ids {
		if !found[id] {
			return nil, fmt.Errorf("no message %s in %s; %s shows what is there", id, filepath.Join(l.data, local.DLQDir), l.command("dlq list"))
		}
	}
	var out []action
	for _, name := range order {
		a := l.restartMessage(ctx, name, dry)
		if a.File == (workflow.FileRef{}) {
			a.File = l.message(groups[name][0]).File
		}
		if ok := a.Err == nil && a.Outcome != ops.Failed && a.Outcome != ops.Skipped; ok && !dry {
			for _, m := range groups[name] {
				if err := l.env.DeleteDLQMessage(m.ID); err != nil {
					a.Note += "; the message could not be deleted: " + err.Error()
				}
			}
		}
		out = append(out, a)
	}
	return out, nil
}

func (l *localOperator) restartMessage(ctx context.Context, name string, dry bool) action {
	x, err := l.env.Engine.Describe(name)
	var none *engine.ExecutionDoesNotExistError
	if errors.As(err, &none) {
		return action{Action: ops.Action{Execution: name, Outcome: ops.Skipped, Note: "the execution no longer exists; reprocess the file"}}
	}
	if err != nil {
		return action{Action: ops.Action{Execution: name, Outcome: ops.Failed, Err: err}}
	}
	e := execution(x)
	if !e.Failed() {
		return action{Action: ops.Action{Execution: name, File: e.File, Outcome: string(workflow.Duplicate), Target: name, Note: "already " + e.Status}}
	}
	if !workflow.IsDataError(e.Error) {
		return l.restart(ctx, e, dry, false)
	}
	if by := l.env.Successor(name); by != "" {
		return action{Action: ops.Action{Execution: name, File: e.File, Outcome: string(workflow.Duplicate), Target: by, Note: "processed since by " + by}}
	}
	a, err := l.reprocess(ctx, e.File, local.ReprocessOptions{Replace: e.Replace, Policy: e.Policy}, dry)
	a.Execution = name
	if err != nil {
		a.Outcome, a.Err = ops.Failed, err
	} else if a.Outcome == string(workflow.Started) {
		a.Note = strings.TrimPrefix(a.Note+"; ", "; ") + "rejected (" + e.Error + ") before: new execution of the same file"
	}
	return a
}

func (l *localOperator) Batches(ctx context.Context, merchant string) ([]ledger.Status, error) {
	return l.env.Batches(ctx, merchant)
}

func (l *localOperator) Acknowledge(ctx context.Context, provider, merchant string, a ledger.Ack) (bool, error) {
	return l.env.Acknowledge(ctx, provider, merchant, a)
}

func (l *localOperator) RebuildLedgers(ctx context.Context) (workflow.RebuildResult, error) {
	return l.env.RebuildLedgers(ctx)
}

func (l *localOperator) Verify(ctx context.Context, content workflow.ContentFunc) (*workflow.VerifyReport, error) {
	return l.env.Verify(ctx, content)
}
