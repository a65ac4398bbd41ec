package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/states"
	"github.com/paysettle/settle/internal/workflow"
)

// Kinds of dead-letter messages.
const (
	KindObjectCreated = "object-created" // ingest DLQ: an S3 event the starter never turned into an execution
	KindRejected      = "rejected"       // failed-files DLQ: the definition's message for a rejected file
	KindStatusChange  = "status-change"  // failed-files DLQ: an execution failed, timed out or was aborted
	KindFetchFailed   = "fetch-failed"   // fetch DLQ: the fetch function's dead letter, a report request with why it failed
	KindReportRequest = "report-request" // fetch DLQ: a report request the webhook queue moved after its deliveries
	KindUnknown       = "unknown"
)

// DLQMessage is one message of a dead-letter queue, read without consuming it.
type DLQMessage struct {
	Queue     string // QueueIngestDLQ, QueueFailed or QueueFetchDLQ
	ID        string
	Sent      time.Time
	Receives  int
	Body      string
	Kind      string
	File      workflow.FileRef
	Execution string
	Status    string // status-change: FAILED, TIMED_OUT, ABORTED
	Step      string // rejected: the step that rejected the file
	Error     string
	Cause     string
	Action    string // rejected: what the definition advises
	Input     string // status-change: the execution's input
	// Request is the report request of a fetch DLQ message (fetch-failed, report-request): what a
	// redrive sends back to the webhook queue. Its File is the raw-bucket object it would become.
	Request *fetch.Request
	// Remedy is what would let a rejected file through (DLQShow, for a rejected file's message).
	Remedy workflow.Remedy

	handle string
}

// Message is the readable part of the cause.
func (m DLQMessage) Message() string { return states.CauseMessage(m.Cause) }

// peekTimeout is how long a listing keeps messages invisible before giving them back; each is made
// visible again as soon as it has been read.
const peekTimeout = 60 * time.Second

// QueueName is the name of a dead-letter queue as the commands take it (ingest, failed, fetch, or the
// names status prints), in the operator's terms.
func QueueName(q string) (string, error) {
	switch q {
	case "ingest", QueueIngestDLQ:
		return QueueIngestDLQ, nil
	case "failed", "failed-files":
		return QueueFailed, nil
	case "fetch", QueueFetchDLQ:
		return QueueFetchDLQ, nil
	}
	return "", fmt.Errorf("%q is not a dead-letter queue; name ingest, failed or fetch", q)
}

// receiveAll receives every message of a dead-letter queue (up to max), keeping them from other readers
// for hold, and reads each.
func (o *Operator) receiveAll(ctx context.Context, queue string, max int, hold time.Duration) ([]DLQMessage, error) {
	msgs, err := o.Queues.Receive(ctx, queue, max, hold)
	if err != nil {
		return nil, err
	}
	out := make([]DLQMessage, 0, len(msgs))
	for _, m := range msgs {
		d := ParseMessage(queue, m.ID, m.Body)
		d.Sent, d.Receives, d.handle = m.Sent, m.Receives, m.Handle
		if d.Request != nil {
			d.File.Bucket = o.RawBucket
		}
		out = append(out, d)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Sent.Before(out[j].Sent) })
	return out, nil
}

func (d DLQMessage) message() Message {
	return Message{ID: d.ID, Body: d.Body, Sent: d.Sent, Receives: d.Receives, Handle: d.handle}
}

// release gives messages back to their queues.
func (o *Operator) release(ctx context.Context, msgs []DLQMessage) {
	for _, m := range msgs {
		o.Queues.Release(ctx, m.Queue, []Message{m.message()})
	}
}

// ParseMessage reads a dead-letter message's body: which kind it is, and the file, execution, step,
// error and advice it names (the local pipeline's DLQ files are read with it too).
func ParseMessage(queue, id, body string) DLQMessage {
	d := DLQMessage{Queue: queue, ID: id, Body: body, Kind: KindUnknown}
	if queue == QueueFetchDLQ {
		return parseFetchDLQ(d)
	}
	var probe struct {
		DetailType string          `json:"detail-type"`
		Source     string          `json:"source"`
		Detail     json.RawMessage `json:"detail"`
		Execution  string          `json:"execution"`
	}
	if json.Unmarshal([]byte(d.Body), &probe) != nil {
		return d
	}
	switch {
	case probe.Source == "aws.s3" && probe.DetailType == "Object Created":
		var ev workflow.S3Event
		if json.Unmarshal([]byte(d.Body), &ev) == nil {
			d.Kind = KindObjectCreated
			d.File = workflow.FileRef{Bucket: ev.Detail.Bucket.Name, Key: ev.Detail.Object.Key, ETag: ev.Detail.Object.ETag, Size: ev.Detail.Object.Size}
			d.Execution = workflow.ExecutionName(ev.Detail.Object.ETag)
		}
	case probe.Source == "aws.states":
		var det struct {
			Name   string `json:"name"`
			Status string `json:"status"`
			Input  string `json:"input"`
			Error  string `json:"error"`
			Cause  string `json:"cause"`
		}
		if json.Unmarshal(probe.Detail, &det) == nil {
			d.Kind, d.Execution, d.Status, d.Error, d.Cause, d.Input = KindStatusChange, det.Name, det.Status, det.Error, det.Cause, det.Input
			var in workflow.ExecutionInput
			if json.Unmarshal([]byte(det.Input), &in) == nil {
				d.File = in.File
			}
		}
	case probe.Execution != "":
		var f struct {
			Execution string           `json:"execution"`
			File      workflow.FileRef `json:"file"`
			Step      string           `json:"step"`
			Error     string           `json:"error"`
			Cause     string           `json:"cause"`
			Action    string           `json:"action"`
		}
		if json.Unmarshal([]byte(d.Body), &f) == nil {
			d.Kind, d.Execution, d.File, d.Step, d.Error, d.Cause, d.Action = KindRejected, f.Execution, f.File, f.Step, f.Error, f.Cause, f.Action
		}
	}
	return d
}

// parseFetchDLQ reads a message of the fetch DLQ: the fetch function's dead letter (the request, the
// reason, the error and what to do), or a request the webhook queue moved there after its deliveries
// (transient failures that outlasted them). A dead letter of a malformed message carries no request.
func parseFetchDLQ(d DLQMessage) DLQMessage {
	var req fetch.Request
	if strictJSON(d.Body, &req) == nil && req.URL != "" {
		d.Kind, d.Request, d.File = KindReportRequest, &req, workflow.FileRef{Key: req.Key()}
		d.Error, d.Action = "undelivered", "the fetch function failed on it at every delivery (report host or AWS unavailable): redrive it once the cause is gone"
		return d
	}
	var dl fetch.DeadLetter
	if strictJSON(d.Body, &dl) != nil || dl.Reason == "" {
		return d
	}
	d.Kind, d.Error, d.Cause, d.Action = KindFetchFailed, string(dl.Reason), dl.Error, dl.Action
	if dl.Request != nil && dl.Request.URL != "" {
		d.Request, d.File = dl.Request, workflow.FileRef{Key: dl.Request.Key()}
	}
	return d
}

func strictJSON(body string, v any) error {
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// DLQList lists the messages of one dead-letter queue ("" for all), oldest first, without consuming
// them: each is made visible again once read.
func (o *Operator) DLQList(ctx context.Context, queue string, max int) ([]DLQMessage, error) {
	queues := o.Queues.DeadLetterQueues()
	if queue != "" {
		q, err := QueueName(queue)
		if err != nil {
			return nil, err
		}
		queues = []string{q}
	}
	var out []DLQMessage
	for _, q := range queues {
		msgs, err := o.receiveAll(ctx, q, max, peekTimeout)
		o.release(ctx, msgs)
		if err != nil {
			return nil, err
		}
		out = append(out, msgs...)
	}
	return out, nil
}

// DLQShow finds one message by id in either dead-letter queue.
func (o *Operator) DLQShow(ctx context.Context, id string) (DLQMessage, error) {
	msgs, err := o.DLQList(ctx, "", 1000)
	if err != nil {
		return DLQMessage{}, err
	}
	for _, m := range msgs {
		if m.ID == id {
			if m.Kind == KindRejected {
				m.Remedy = o.remedy(ctx, m.Error, m.File)
			}
			return m, nil
		}
	}
	return DLQMessage{}, fmt.Errorf("no message %s in the dead-letter queues (it may have been redriven or deleted); %s shows what is there", id, o.command("dlq list"))
}

// FetchRedrive is what a redrive of the fetch DLQ did with one message.
type FetchRedrive struct {
	ID      string // the message
	Key     string // the raw-bucket key of its report ("" for a message without a request)
	Outcome string // FetchRequeued, Skipped or Failed
	Note    string
	Err     error
}

// FetchRequeued is the outcome of a fetch DLQ message whose request went back to the webhook queue.
const FetchRequeued = "requeued"

// DLQRedriveFetch sends the report request of each message of the fetch DLQ (only the messages ids,
// when given) back to the webhook queue, where the fetch function downloads it again, then deletes the
// message. It sends the request, not the dead letter around it. A message without a request (the dead
// letter of a malformed message) is skipped and stays; a message whose send fails stays too. Run it
// once the cause is fixed: the report user's credentials or role, MaxFileBytes, Adyen answering again.
func (o *Operator) DLQRedriveFetch(ctx context.Context, ids []string, dry bool) ([]FetchRedrive, error) {
	msgs, err := o.receiveAll(ctx, QueueFetchDLQ, 1000, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var keep []DLQMessage
	defer func() { o.release(ctx, keep) }()
	var out []FetchRedrive
	for _, m := range msgs {
		if len(want) > 0 && !want[m.ID] {
			keep = append(keep, m)
			continue
		}
		r := FetchRedrive{ID: m.ID, Key: m.File.Key}
		switch {
		case m.Request == nil:
			r.Outcome, r.Note = Skipped, "no report request in the message (a malformed message's dead letter): nothing to fetch; it stays in the queue"
			keep = append(keep, m)
		case dry:
			r.Outcome = FetchRequeued
			keep = append(keep, m)
		default:
			body, _ := json.Marshal(m.Request)
			if err := o.Queues.Send(ctx, QueueWebhook, body); err != nil {
				r.Outcome, r.Err = Failed, o.explain("send the request back to the webhook queue", err)
				keep = append(keep, m)
				break
			}
			r.Outcome = FetchRequeued
			if err := o.Queues.Delete(ctx, QueueFetchDLQ, m.message()); err != nil {
				r.Note = "the message could not be deleted (the report is fetched again if it is redriven again): " + oneLine(err)
			}
		}
		out = append(out, r)
	}
	for _, id := range ids {
		found := false
		for _, m := range msgs {
			found = found || m.ID == id
		}
		if !found {
			return out, fmt.Errorf("no message %s in the fetch dead-letter queue; %s shows what is there", id, o.command("dlq list fetch"))
		}
	}
	return out, nil
}

// MoveTask is a started SQS message move.
type MoveTask struct {
	Handle   string
	Messages int64 // waiting in the DLQ when it started
	From, To string
}

// DLQRedriveIngest moves every message of the ingest DLQ back to the ingest queue, where the starter
// handles each as a new delivery.
func (o *Operator) DLQRedriveIngest(ctx context.Context, dry bool) (MoveTask, error) {
	return o.Queues.MoveAll(ctx, QueueIngestDLQ, QueueIngest, dry)
}

// DLQRedriveFailed restarts the execution of each file in the failed-files DLQ (only the messages ids,
// when given), then deletes its messages; a message whose restart fails stays. A file that failed for
// an infrastructure reason is redriven (or restarted as -rN); a rejected file gets a new "-pN"
// execution of the same object and input, since its redrive would re-enter the Fail state: run this
// once its cause is fixed (a raised MAX_REJECTED_ROWS, a time-zone mapping, a corrected template).
func (o *Operator) DLQRedriveFailed(ctx context.Context, ids []string, dry bool) ([]Action, error) {
	msgs, err := o.receiveAll(ctx, QueueFailed, 1000, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	// One restart per execution: a rejected file may have both the definition's message and a status
	// change event.
	groups := map[string][]DLQMessage{}
	var order []string
	var keep []DLQMessage
	for _, m := range msgs {
		if len(want) > 0 && !want[m.ID] || m.Execution == "" {
			keep = append(keep, m)
			continue
		}
		if _, ok := groups[m.Execution]; !ok {
			order = append(order, m.Execution)
		}
		groups[m.Execution] = append(groups[m.Execution], m)
	}
	defer func() { o.release(ctx, keep) }()
	var out []Action
	for _, name := range order {
		a := o.restartMessage(ctx, name, dry)
		if a.File == (workflow.FileRef{}) {
			a.File = groups[name][0].File // the execution is gone: the message still names the file
		}
		ok := a.Err == nil && a.Outcome != Failed && a.Outcome != Skipped
		if ok && !dry {
			for _, m := range groups[name] {
				if err := o.Queues.Delete(ctx, m.Queue, m.message()); err != nil {
					a.Note += "; the message could not be deleted: " + oneLine(err)
				}
			}
		} else {
			keep = append(keep, groups[name]...)
		}
		out = append(out, a)
	}
	for id := range want {
		found := false
		for _, m := range msgs {
			found = found || m.ID == id
		}
		if !found {
			return out, fmt.Errorf("no message %s in the failed-files queue; %s shows what is there", id, o.command("dlq list failed"))
		}
	}
	return out, nil
}

// restartMessage restarts the file of a failed-files message's execution.
func (o *Operator) restartMessage(ctx context.Context, name string, dry bool) Action {
	x, err := o.Describe(ctx, name)
	if errors.Is(err, ErrNoExecution) {
		return Action{Execution: name, Outcome: Skipped, Note: "the execution no longer exists; reprocess the file"}
	}
	if err != nil {
		return Action{Execution: name, Outcome: Failed, Err: err}
	}
	if !x.Failed() {
		return Action{Execution: name, File: x.File, Outcome: string(workflow.Duplicate), Target: name, Note: "already " + x.Status}
	}
	if !IsDataError(x.Error) {
		return o.restart(ctx, x, dry, false)
	}
	if by, err := o.processedBy(ctx, x); err != nil {
		return Action{Execution: name, File: x.File, Outcome: Failed, Err: err}
	} else if by != "" {
		return Action{Execution: name, File: x.File, Outcome: string(workflow.Duplicate), Target: by, Note: "processed since by " + by}
	}
	a, err := o.fresh(ctx, x.File, []byte(x.Input), false, dry)
	a.Execution = name
	if err != nil {
		a.Outcome, a.Err = Failed, err
	} else if a.Outcome == string(workflow.Started) {
		a.Note = strings.TrimPrefix(a.Note+"; ", "; ") + "rejected (" + x.Error + ") before: new execution of the same file"
	}
	return a
}

// processedBy is a later execution of x's content (an operator's reprocess, -pN) that succeeded, or
// "": the file x rejected is committed, and nothing is left to run for its message.
func (o *Operator) processedBy(ctx context.Context, x Execution) (string, error) {
	items, err := o.Machine.List(ctx, states.Succeeded, x.Start, 0)
	if err != nil {
		return "", err
	}
	for _, it := range items {
		if n := it.Name; n != x.Name && ContentName(n) == ContentName(x.Name) {
			return n, nil
		}
	}
	return "", nil
}
