package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/paysettle/settle/internal/cloud"
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

// DataErrors are the errors the definition catches: the file is rejected, and a redrive re-enters the
// Fail state without running any step again.
var DataErrors = workflow.DataErrors

// IsDataError reports whether an execution error name is one of DataErrors.
func IsDataError(name string) bool { return workflow.IsDataError(name) }

func (o *Ops) executionARN(name string) string {
	return cloud.ExecutionARN(o.Stack.Out(OutStateMachineARN), name)
}

// NoExecutionError is returned for an unknown execution name.
type NoExecutionError struct{ Name, Machine string }

func (e *NoExecutionError) Error() string {
	return fmt.Sprintf("there is no execution named %q in %s; settle aws executions lists them", e.Name, e.Machine)
}

// Describe describes an execution by name.
func (o *Ops) Describe(ctx context.Context, name string) (Execution, error) {
	out, err := o.SFN.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(o.executionARN(name))})
	var dne *sfntypes.ExecutionDoesNotExist
	if errors.As(err, &dne) {
		return Execution{}, &NoExecutionError{Name: name, Machine: o.machineName()}
	}
	if err != nil {
		return Execution{}, explain("describe execution "+name, o.Stack.Region, err)
	}
	x := Execution{
		Name: aws.ToString(out.Name), ARN: aws.ToString(out.ExecutionArn), Status: string(out.Status),
		Start: aws.ToTime(out.StartDate), Stop: aws.ToTime(out.StopDate), Input: aws.ToString(out.Input), Output: aws.ToString(out.Output),
		Error: aws.ToString(out.Error), Cause: aws.ToString(out.Cause), RedriveCount: int(aws.ToInt32(out.RedriveCount)),
		RedriveStatus: string(out.RedriveStatus), RedriveReason: aws.ToString(out.RedriveStatusReason),
	}
	var in workflow.ExecutionInput
	if json.Unmarshal([]byte(x.Input), &in) == nil {
		x.File, x.Replace, x.Policy = in.File, in.Replace, in.Policy
	}
	return x, nil
}

func (o *Ops) machineName() string {
	arn := o.Stack.Out(OutStateMachineARN)
	return "state machine " + arn[strings.LastIndex(arn, ":")+1:]
}

// list lists the executions with a status ("" for all) started at or after since (zero: all), newest
// first, at most limit (0: no limit).
func (o *Ops) list(ctx context.Context, status string, since time.Time, limit int) ([]sfntypes.ExecutionListItem, error) {
	in := &sfn.ListExecutionsInput{StateMachineArn: aws.String(o.Stack.Out(OutStateMachineARN)), MaxResults: 100}
	if status != "" {
		in.StatusFilter = sfntypes.ExecutionStatus(status)
	}
	var out []sfntypes.ExecutionListItem
	p := sfn.NewListExecutionsPaginator(o.SFN, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, explain("list executions", o.Stack.Region, err)
		}
		for _, it := range page.Executions {
			// Newest first by start date: once past the window, the rest is older still. (A redrive keeps
			// the start date, so an execution started before the window is not listed even if redriven in it.)
			if !since.IsZero() && aws.ToTime(it.StartDate).Before(since) {
				return out, nil
			}
			out = append(out, it)
			if limit > 0 && len(out) >= limit {
				return out, nil
			}
		}
	}
	return out, nil
}

// Executions lists executions (status "" for all) started since, newest first, with their files and
// errors.
func (o *Ops) Executions(ctx context.Context, status string, since time.Time, limit int) ([]Execution, error) {
	if status != "" && !slices.Contains(states.Statuses, status) {
		return nil, fmt.Errorf("--status %s is not an execution status; use one of %s", status, strings.Join(states.Statuses, ", "))
	}
	items, err := o.list(ctx, status, since, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Execution, 0, len(items))
	for _, it := range items {
		x, err := o.Describe(ctx, aws.ToString(it.Name))
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

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

// Status reports queue depths, executions since since by status, and the running ones.
func (o *Ops) Status(ctx context.Context, since time.Time) (*Status, error) {
	st := &Status{Stack: o.Stack, At: o.clock(), Since: since, Counts: map[string]int{}, Resolved: map[string]string{}}
	for _, q := range []struct{ name, url string }{
		{QueueIngest, o.Stack.Out(OutIngestQueueURL)},
		{QueueIngestDLQ, o.Stack.Out(OutIngestDeadLetterQueueURL)},
		{QueueFailed, o.Stack.Out(OutFailedFilesQueueURL)},
		{QueueWebhook, o.Stack.Out(OutWebhookQueueURL)},
		{QueueFetchDLQ, o.Stack.Out(OutFetchDeadLetterQueueURL)},
	} {
		if q.url == "" && (q.name == QueueWebhook || q.name == QueueFetchDLQ) {
			continue // a stack deployed without the report intake
		}
		d, err := o.depth(ctx, q.name, q.url)
		if err != nil {
			return nil, err
		}
		st.Queues = append(st.Queues, d)
	}
	items, err := o.list(ctx, "", since, 0)
	if err != nil {
		return nil, err
	}
	succeeded := map[string]sfntypes.ExecutionListItem{} // the latest success of each content
	for _, it := range items {
		if it.Status == sfntypes.ExecutionStatusSucceeded {
			c := ContentName(aws.ToString(it.Name))
			if _, ok := succeeded[c]; !ok {
				succeeded[c] = it
			}
		}
	}
	for _, it := range items {
		st.Counts[string(it.Status)]++
		if ok, found := succeeded[ContentName(aws.ToString(it.Name))]; found && isFailed(string(it.Status)) && aws.ToTime(ok.StartDate).After(aws.ToTime(it.StartDate)) {
			st.Resolved[aws.ToString(it.Name)] = aws.ToString(ok.Name)
		}
		if isFailed(string(it.Status)) && len(st.Failed) < 10 {
			x, err := o.Describe(ctx, aws.ToString(it.Name))
			if err != nil {
				return nil, err
			}
			st.Failed = append(st.Failed, x)
		}
	}
	running, err := o.list(ctx, states.Running, time.Time{}, 0)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(running, func(i, j int) bool { return aws.ToTime(running[i].StartDate).Before(aws.ToTime(running[j].StartDate)) })
	for i, it := range running {
		if i == 5 { // the oldest few say enough
			break
		}
		x, err := o.Describe(ctx, aws.ToString(it.Name))
		if err != nil {
			return nil, err
		}
		st.Running = append(st.Running, x)
	}
	st.Counts[states.Running] = len(running)
	return st, nil
}

func (o *Ops) depth(ctx context.Context, name, url string) (QueueDepth, error) {
	out, err := o.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{
		sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
	if err != nil {
		return QueueDepth{}, explain("read the "+name+" queue's depth", o.Stack.Region, err)
	}
	n := func(k sqstypes.QueueAttributeName) int64 {
		v, _ := strconv.ParseInt(out.Attributes[string(k)], 10, 64)
		return v
	}
	return QueueDepth{Name: name, URL: url, Visible: n(sqstypes.QueueAttributeNameApproximateNumberOfMessages),
		InFlight: n(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible), Delayed: n(sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed)}, nil
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
}

// Detail is an execution with its history and diagnosis.
type Detail struct {
	Execution
	Events     []Event
	FailedStep string // the task whose failure ended the execution (for a rejected file: the step that rejected it)
	// Manifest is the commit marker of the batch a SUCCEEDED execution committed (nil for a duplicate,
	// or when it cannot be read); it may since have been replaced by another file's.
	Manifest *workflow.Manifest
}

// Show describes an execution with its full history, the step that failed and, for a success, the
// manifest it committed.
func (o *Ops) Show(ctx context.Context, name string) (*Detail, error) {
	x, err := o.Describe(ctx, name)
	if err != nil {
		return nil, err
	}
	d := &Detail{Execution: x}
	p := sfn.NewGetExecutionHistoryPaginator(o.SFN, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(x.ARN), MaxResults: 1000})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, explain("read the history of "+name, o.Stack.Region, err)
		}
		for _, h := range page.Events {
			d.Events = append(d.Events, historyEvent(h))
		}
	}
	d.FailedStep = Annotate(d.Events)
	if key := ManifestKey(x.Output); key != "" {
		if b, err := o.processed(); err == nil {
			d.Manifest, _ = workflow.ReadManifest(ctx, b, key)
		}
	}
	return d, nil
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

// historyEvent reads the details of a history event.
func historyEvent(h sfntypes.HistoryEvent) Event {
	ev := Event{ID: h.Id, Time: aws.ToTime(h.Timestamp), Type: string(h.Type)}
	fail := func(e, c *string) {
		ev.Error = aws.ToString(e)
		ev.Message = states.CauseMessage(aws.ToString(c))
		ev.Detail = ev.Error
		if ev.Message != "" {
			ev.Detail += ": " + ev.Message
		}
	}
	switch {
	case h.StateEnteredEventDetails != nil:
		ev.State = aws.ToString(h.StateEnteredEventDetails.Name)
	case h.StateExitedEventDetails != nil:
		ev.State = aws.ToString(h.StateExitedEventDetails.Name)
	case h.LambdaFunctionScheduledEventDetails != nil:
		ev.Detail = aws.ToString(h.LambdaFunctionScheduledEventDetails.Resource)
	case h.LambdaFunctionFailedEventDetails != nil:
		fail(h.LambdaFunctionFailedEventDetails.Error, h.LambdaFunctionFailedEventDetails.Cause)
	case h.LambdaFunctionTimedOutEventDetails != nil:
		fail(h.LambdaFunctionTimedOutEventDetails.Error, h.LambdaFunctionTimedOutEventDetails.Cause)
	case h.TaskScheduledEventDetails != nil:
		ev.Detail = aws.ToString(h.TaskScheduledEventDetails.ResourceType) + ":" + aws.ToString(h.TaskScheduledEventDetails.Resource)
	case h.TaskFailedEventDetails != nil:
		fail(h.TaskFailedEventDetails.Error, h.TaskFailedEventDetails.Cause)
	case h.TaskTimedOutEventDetails != nil:
		fail(h.TaskTimedOutEventDetails.Error, h.TaskTimedOutEventDetails.Cause)
	case h.ExecutionFailedEventDetails != nil:
		fail(h.ExecutionFailedEventDetails.Error, h.ExecutionFailedEventDetails.Cause)
	case h.ExecutionTimedOutEventDetails != nil:
		fail(h.ExecutionTimedOutEventDetails.Error, h.ExecutionTimedOutEventDetails.Cause)
	case h.ExecutionAbortedEventDetails != nil:
		fail(h.ExecutionAbortedEventDetails.Error, h.ExecutionAbortedEventDetails.Cause)
	case h.ExecutionRedrivenEventDetails != nil:
		ev.Detail = fmt.Sprintf("redrive %d", aws.ToInt32(h.ExecutionRedrivenEventDetails.RedriveCount))
	}
	return ev
}
