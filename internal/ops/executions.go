package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/paysettle/settle/internal/states"
	"github.com/paysettle/settle/internal/workflow"
)

// Execution is one execution of the state machine, with the file it processes.
type Execution struct {
	Name          string
	ARN           string
	Status        string
	Start, Stop   time.Time
	Input         string
	File          workflow.FileRef
	Replace       bool
	Policy        *workflow.PolicyOverride // the input's policy override: an operator's reprocess
	Output        string                   // SUCCEEDED: the state machine's output
	Error         string
	Cause         string // as Step Functions keeps it (for a Lambda error, JSON with errorMessage)
	RedriveCount  int
	RedriveStatus string // REDRIVABLE, NOT_REDRIVABLE, …
	RedriveReason string
}

// Message is the readable part of Cause: a Lambda error's errorMessage, or the cause as it is.
func (x Execution) Message() string { return states.CauseMessage(x.Cause) }

// Failed reports whether the execution ended FAILED, TIMED_OUT or ABORTED.
func (x Execution) Failed() bool { return isFailed(x.Status) }

func isFailed(status string) bool { return states.Unsuccessful(status) }

// fileOf fills an execution's file, replace and policy from its input.
func (x *Execution) fileOf() {
	var in workflow.ExecutionInput
	if json.Unmarshal([]byte(x.Input), &in) == nil {
		x.File, x.Replace, x.Policy = in.File, in.Replace, in.Policy
	}
}

// DataErrors are the errors the definition catches: the file is rejected, and a redrive re-enters the
// Fail state without running any step again.
var DataErrors = workflow.DataErrors

// IsDataError reports whether an execution error name is one of DataErrors.
func IsDataError(name string) bool { return workflow.IsDataError(name) }

// QueueDepth is a queue's message counts.
type QueueDepth struct {
	Name     string
	URL      string
	Visible  int64 // waiting to be received
	InFlight int64 // received, not yet deleted
	Delayed  int64
}

// Status is the stack at a glance.
type Status struct {
	Stack   Stack
	At      time.Time
	Since   time.Time
	Queues  []QueueDepth
	Counts  map[string]int // executions started since Since, by status (RUNNING: all running now)
	Running []Execution    // all running executions, oldest first (the oldest file still waiting)
	Failed  []Execution    // failed, timed out or aborted since Since, newest first
	// Resolved maps a failed execution to the later execution of the same content (its -rN or -pN
	// successor) that succeeded: nothing is left to do for it.
	Resolved map[string]string
}

// Unresolved counts the failed executions without a successful successor.
func (s *Status) Unresolved() int {
	n := 0
	for _, st := range []string{states.Failed, states.TimedOut, states.Aborted} {
		n += s.Counts[st]
	}
	return n - len(s.Resolved)
}

// ContentName is the name of a content's first execution: name without -rN and -pN suffixes.
func ContentName(name string) string { return workflow.ContentName(name) }

// Queue names, as the commands take them.
const (
	QueueIngest    = "ingest"
	QueueIngestDLQ = "ingest-dlq"
	QueueFailed    = "failed"
	// The report intake's queues: reports announced by Adyen waiting to be downloaded, and those that
	// could not be.
	QueueWebhook  = "webhook"
	QueueFetchDLQ = "fetch-dlq"
)

// Describe describes an execution by name, with the file its input names.
func (o *Operator) Describe(ctx context.Context, name string) (Execution, error) {
	x, err := o.Machine.Describe(ctx, name)
	if err != nil {
		return Execution{}, err
	}
	x.fileOf()
	return x, nil
}

// Executions lists executions (status "" for all) started since, newest first, with their files and
// errors.
func (o *Operator) Executions(ctx context.Context, status string, since time.Time, limit int) ([]Execution, error) {
	if status != "" && !slices.Contains(states.Statuses, status) {
		return nil, fmt.Errorf("--status %s is not an execution status; use one of %s", status, strings.Join(states.Statuses, ", "))
	}
	items, err := o.Machine.List(ctx, status, since, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Execution, 0, len(items))
	for _, it := range items {
		x, err := o.Describe(ctx, it.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

// Status reports queue depths, executions since since by status, and the running ones.
func (o *Operator) Status(ctx context.Context, since time.Time) (*Status, error) {
	st := &Status{Stack: o.Stack, At: o.clock(), Since: since, Counts: map[string]int{}, Resolved: map[string]string{}}
	qs, err := o.Queues.Depths(ctx)
	if err != nil {
		return nil, err
	}
	st.Queues = qs
	items, err := o.Machine.List(ctx, "", since, 0)
	if err != nil {
		return nil, err
	}
	succeeded := map[string]Execution{} // the latest success of each content
	for _, it := range items {
		if it.Status == states.Succeeded {
			if _, ok := succeeded[ContentName(it.Name)]; !ok {
				succeeded[ContentName(it.Name)] = it
			}
		}
	}
	for _, it := range items {
		st.Counts[it.Status]++
		if !isFailed(it.Status) {
			continue
		}
		if ok, found := succeeded[ContentName(it.Name)]; found && ok.Start.After(it.Start) {
			st.Resolved[it.Name] = ok.Name
		}
		if len(st.Failed) < 10 {
			x, err := o.Describe(ctx, it.Name)
			if err != nil {
				return nil, err
			}
			st.Failed = append(st.Failed, x)
		}
	}
	running, err := o.Machine.List(ctx, states.Running, time.Time{}, 0)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(running, func(i, j int) bool { return running[i].Start.Before(running[j].Start) })
	for i, it := range running {
		if i == 5 { // the oldest few say enough
			break
		}
		x, err := o.Describe(ctx, it.Name)
		if err != nil {
			return nil, err
		}
		st.Running = append(st.Running, x)
	}
	st.Counts[states.Running] = len(running)
	return st, nil
}

// Show describes an execution with its full history, the step that failed and, for a success, the
// manifest it committed.
func (o *Operator) Show(ctx context.Context, name string) (*Detail, error) {
	x, err := o.Describe(ctx, name)
	if err != nil {
		return nil, err
	}
	events, err := o.Machine.History(ctx, name)
	if err != nil {
		return nil, err
	}
	d := &Detail{Execution: x, Events: events}
	for i := range d.Events {
		ev := &d.Events[i]
		if ev.Error == "" && ev.Cause == "" {
			continue
		}
		ev.Message = states.CauseMessage(ev.Cause)
		ev.Detail = ev.Error
		if ev.Message != "" {
			if ev.Detail != "" {
				ev.Detail += ": "
			}
			ev.Detail += ev.Message
		}
	}
	d.FailedStep = Annotate(d.Events)
	if x.Failed() {
		d.Remedy = o.remedy(ctx, x.Error, x.File)
	}
	if key := ManifestKey(x.Output); key != "" {
		if b, err := o.Processed(); err == nil {
			d.Manifest, _ = workflow.ReadManifest(ctx, b, key)
			if d.Manifest != nil && o.Table != nil {
				if tv, err := workflow.TableVersionOf(d.Manifest); err == nil {
					d.Snapshot, _ = o.Table(b).SnapshotOf(ctx, *tv)
				}
			}
		}
	}
	return d, nil
}

// Event is one history event, reduced to what the console's event list shows.
type Event struct {
	ID      int64
	Time    time.Time
	Type    string
	State   string // the state the event belongs to
	Detail  string // resource, error and cause, or redrive count
	Error   string
	Message string // the readable cause of a failure event
	Cause   string // a failure event's cause as the history keeps it
	// Input is a StateEntered event's input, Output a StateExited event's output (JSON texts, as the
	// history keeps them: Step Functions truncates neither below 256 KiB).
	Input, Output string
}

// Detail is an execution with its history and diagnosis.
type Detail struct {
	Execution
	Events     []Event
	FailedStep string // the task whose failure ended the execution (for a rejected file: the step that rejected it)
	// Manifest is the commit marker of the batch a SUCCEEDED execution committed (nil for a duplicate,
	// or when it cannot be read); it may since have been replaced by another file's.
	Manifest *workflow.Manifest
	// Snapshot is the Iceberg snapshot that added the manifest's version to the table (nil when the table
	// does not hold it, or its snapshot has expired).
	Snapshot *workflow.TableSnapshot
	// Remedy is what would let a rejected file through (for a data error).
	Remedy workflow.Remedy
}

// ManifestKey is the manifest a SUCCEEDED execution's output names ("" for a duplicate, which wrote
// none).
func ManifestKey(output string) string {
	var out struct {
		Write *workflow.WriteResult `json:"write"`
	}
	if json.Unmarshal([]byte(output), &out) != nil || out.Write == nil {
		return ""
	}
	return out.Write.ManifestKey
}

// Annotate gives each event of a history the state it belongs to (the events of a task carry none of
// their own), and returns the task state whose failure ended the execution: for a rejected file, the
// step that rejected it rather than the Fail state.
func Annotate(events []Event) (failedStep string) {
	state, ended := "", ""
	for i := range events {
		ev := &events[i]
		if ev.State != "" && strings.HasSuffix(ev.Type, "StateEntered") {
			state = ev.State
		}
		if ev.State == "" {
			ev.State = state
		}
		if ev.Error != "" && (strings.HasPrefix(ev.Type, "LambdaFunction") || strings.HasPrefix(ev.Type, "Task")) {
			failedStep = state
		}
		switch ev.Type {
		case "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut":
			ended = state
		}
	}
	if failedStep == "" { // stopped, timed out or failed with no task error: where it was
		failedStep = ended
	}
	return failedStep
}

// historyJSON is what the operator reads of a history event, whichever API gave it: Step Functions'
// GetExecutionHistory (the SDK's types.HistoryEvent) and the local engine's history have the same
// fields, and encoding/json matches their names without regard to case.
type historyJSON struct {
	ID        int64     `json:"id"`
	Timestamp time.Time `json:"timestamp"`
	Type      string    `json:"type"`

	StateEnteredEventDetails *struct{ Name, Input string }
	StateExitedEventDetails  *struct{ Name, Output string }

	LambdaFunctionScheduledEventDetails *struct{ Resource string }
	TaskScheduledEventDetails           *struct{ Resource, ResourceType string }

	LambdaFunctionFailedEventDetails, LambdaFunctionTimedOutEventDetails, TaskFailedEventDetails, TaskTimedOutEventDetails,
	ExecutionFailedEventDetails, ExecutionTimedOutEventDetails, ExecutionAbortedEventDetails *struct{ Error, Cause string }

	ExecutionRedrivenEventDetails *struct{ RedriveCount int }
}

// EventOf reads a history event of either API (any value whose JSON has GetExecutionHistory's fields):
// its state, resource or redrive count, and a failure's error and cause. The operator writes Detail and
// Message from them (Show).
func EventOf(h any) (Event, error) {
	b, err := json.Marshal(h)
	if err != nil {
		return Event{}, err
	}
	var j historyJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return Event{}, fmt.Errorf("read a history event: %w", err)
	}
	ev := Event{ID: j.ID, Time: j.Timestamp, Type: j.Type}
	if d := j.StateEnteredEventDetails; d != nil {
		ev.State, ev.Input = d.Name, d.Input
	}
	if d := j.StateExitedEventDetails; d != nil {
		ev.State, ev.Output = d.Name, d.Output
	}
	if d := j.LambdaFunctionScheduledEventDetails; d != nil {
		ev.Detail = d.Resource
	}
	if d := j.TaskScheduledEventDetails; d != nil {
		ev.Detail = d.ResourceType + ":" + d.Resource
	}
	for _, d := range []*struct{ Error, Cause string }{j.LambdaFunctionFailedEventDetails, j.LambdaFunctionTimedOutEventDetails,
		j.TaskFailedEventDetails, j.TaskTimedOutEventDetails, j.ExecutionFailedEventDetails, j.ExecutionTimedOutEventDetails, j.ExecutionAbortedEventDetails} {
		if d != nil {
			ev.Error, ev.Cause = d.Error, d.Cause
		}
	}
	if d := j.ExecutionRedrivenEventDetails; d != nil {
		ev.Detail = fmt.Sprintf("redrive %d", d.RedriveCount)
	}
	return ev, nil
}
