package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/paysettle/settle/internal/obs"
	"github.com/paysettle/settle/internal/states"
	"github.com/paysettle/settle/internal/store"
)

// ExecutionInfo is what the starter needs to know of an existing execution.
type ExecutionInfo struct {
	Name       string
	Status     string
	Redrivable bool   // Step Functions' redriveStatus is REDRIVABLE
	Error      string // the error a closed execution failed with
}

// ErrExecutionExists is returned (wrapped) by Executions.Start when the name is taken by a closed
// execution or by one with a different input.
var ErrExecutionExists = errors.New("execution already exists")

// Executions is the part of Step Functions the starter uses: the AWS client in Lambda, the local engine
// in `settle run`.
type Executions interface {
	Start(ctx context.Context, name string, input []byte) error
	Describe(ctx context.Context, name string) (ExecutionInfo, error)
	Redrive(ctx context.Context, name string) error
}

// Outcome is what the starter did with one queue message.
type Outcome string

// Outcomes of a message.
const (
	Started   Outcome = "started"   // a new execution
	Duplicate Outcome = "duplicate" // the content is already processed or being processed
	Redriven  Outcome = "redriven"  // a failed execution of this content was redriven
	Restarted Outcome = "restarted" // a failed, no longer redrivable execution got a -rN successor
	Ignored   Outcome = "ignored"   // not an S3 Object Created event of the raw bucket: acknowledged, not retried
	Retry     Outcome = "retry"     // a transient failure: the message goes back to the queue
	Deferred  Outcome = "deferred"  // not attempted before the invocation's deadline: back to the queue
	Rejected  Outcome = "rejected"  // the content was rejected for a data error: it stays rejected until reprocessed
)

// StartResult reports one message.
type StartResult struct {
	MessageID string
	Outcome   Outcome
	Execution string
	File      FileRef
	Err       error
}

// Starter is the SQS-triggered function: each message is an EventBridge "Object Created" event of the
// raw bucket; it starts one Step Functions execution per file content, named by the file's ETag.
type Starter struct {
	Raw  store.Bucket
	Exec Executions
	Log  *slog.Logger
	// OnResult, when set, is called for every message (the CLI prints them).
	OnResult func(StartResult)
	// Metrics counts the files started, the duplicate deliveries and the messages ignored, retried or
	// deferred (nil: none).
	Metrics *obs.Metrics
	// Now is the clock the invocation's deadline is compared with (nil: time.Now).
	Now func() time.Time
}

// maxRestarts bounds the -rN successors of a content's failed executions.
const maxRestarts = 50

// The starter's deadline budget. Lambda stops an invocation at its deadline and then retries the WHOLE
// batch, so the starter must return first. A message costs one or two S3 HEADs and a StartExecution,
// tens of milliseconds, but the SDK's own retries of a throttled call can take seconds: no message is
// begun with less than StartMargin left (the rest are deferred: reported as batch item failures without
// being attempted), and every call of a message is cut ResponseReserve before the deadline, so that a
// slow call makes its message a retry instead of timing out the batch.
const (
	StartMargin     = 5 * time.Second
	ResponseReserve = 1 * time.Second
)

// Handle processes a batch and reports the messages to retry (ReportBatchItemFailures): a transient
// failure of one message does not make the others run again, and the messages the invocation had no
// time for go back to the queue unattempted.
func (s *Starter) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	deadline, bounded := ctx.Deadline()
	for i, m := range ev.Records {
		if bounded && deadline.Sub(s.now()) < StartMargin {
			s.deferRest(ctx, ev.Records[i:], deadline, &resp)
			break
		}
		mctx, cancel := ctx, context.CancelFunc(func() {})
		if bounded {
			mctx, cancel = context.WithDeadline(ctx, deadline.Add(-ResponseReserve))
		}
		r := s.handleMessage(mctx, m)
		cancel()
		s.count(ctx, r)
		if r.Outcome == Retry {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
		if s.OnResult != nil {
			s.OnResult(r)
		}
	}
	return resp, nil
}

// deferRest hands back the messages there is no time left for, unattempted.
func (s *Starter) deferRest(ctx context.Context, rest []events.SQSMessage, deadline time.Time, resp *events.SQSEventResponse) {
	ids := make([]string, 0, len(rest))
	for _, m := range rest {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		ids = append(ids, m.MessageId)
		if s.OnResult != nil {
			s.OnResult(StartResult{MessageID: m.MessageId, Outcome: Deferred})
		}
	}
	s.log().WarnContext(ctx, "deadline near: messages deferred to a later invocation", "deferred", len(rest),
		"remaining_ms", deadline.Sub(s.now()).Milliseconds(), "message_ids", ids)
	s.Metrics.Entry().Put(obs.DeferredMessages, float64(len(rest)), obs.Count).Emit(ctx)
}

func (s *Starter) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Starter) log() *slog.Logger {
	l := s.Log
	if l == nil {
		l = slog.Default()
	}
	return l.With(obs.KeyStep, "starter")
}

// count emits the starter's metrics for one message.
func (s *Starter) count(ctx context.Context, r StartResult) {
	var e *obs.Entry
	switch r.Outcome {
	case Started, Restarted, Redriven:
		e = s.Metrics.Entry().Put(obs.FilesStarted, 1, obs.Count)
	case Duplicate, Rejected:
		e = s.Metrics.Entry().Put(obs.DuplicateDeliveries, 1, obs.Count)
	case Ignored:
		e = s.Metrics.Entry().Put(obs.IgnoredMessages, 1, obs.Count)
	case Retry:
		e = s.Metrics.Entry().Put(obs.RetriedMessages, 1, obs.Count)
	default:
		return
	}
	e.Property("outcome", string(r.Outcome)).Property("message_id", r.MessageID).Property(obs.KeyExecution, r.Execution).Property(obs.KeyETag, r.File.ETag).Emit(ctx)
}

// S3Event is the EventBridge event S3 sends for an object created in a bucket with EventBridge
// notifications on.
type S3Event struct {
	Version    string    `json:"version"`
	ID         string    `json:"id"`
	DetailType string    `json:"detail-type"`
	Source     string    `json:"source"`
	Account    string    `json:"account"`
	Time       time.Time `json:"time"`
	Region     string    `json:"region"`
	Resources  []string  `json:"resources"`
	Detail     S3Detail  `json:"detail"`
}

// S3Detail is the detail of an S3 "Object Created" event.
type S3Detail struct {
	Version string `json:"version"`
	Bucket  struct {
		Name string `json:"name"`
	} `json:"bucket"`
	Object struct {
		Key       string `json:"key"`
		Size      int64  `json:"size"`
		ETag      string `json:"etag"`
		VersionID string `json:"version-id,omitempty"`
		Sequencer string `json:"sequencer"`
	} `json:"object"`
	RequestID       string `json:"request-id"`
	Requester       string `json:"requester"`
	SourceIPAddress string `json:"source-ip-address,omitempty"`
	Reason          string `json:"reason"`
}

func (s *Starter) handleMessage(ctx context.Context, m events.SQSMessage) StartResult {
	r := StartResult{MessageID: m.MessageId}
	log := s.log().With("message_id", m.MessageId)
	var ev S3Event
	if err := json.Unmarshal([]byte(m.Body), &ev); err != nil || ev.Source != "aws.s3" || ev.DetailType != "Object Created" || ev.Detail.Object.Key == "" {
		log.WarnContext(ctx, "message ignored: not an S3 Object Created event", "detail_type", ev.DetailType, "source", ev.Source, "body_bytes", len(m.Body))
		r.Outcome = Ignored
		return r
	}
	if ev.Detail.Bucket.Name != s.Raw.Name() {
		log.WarnContext(ctx, "message ignored: event of another bucket", "bucket", ev.Detail.Bucket.Name)
		r.Outcome = Ignored
		return r
	}
	key, obj, err := s.resolveKey(ctx, ev.Detail.Object.Key)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		log.WarnContext(ctx, "object lookup failed; the message will be retried", "error", err)
		r.Outcome, r.Err = Retry, err
		return r
	}
	etag := store.UnquoteETag(ev.Detail.Object.ETag)
	if etag == "" {
		etag = obj.ETag
	}
	size := ev.Detail.Object.Size
	if size == 0 && obj.Size > 0 {
		size = obj.Size
	}
	r.File = FileRef{Bucket: ev.Detail.Bucket.Name, Key: key, ETag: etag, Size: size, VersionID: ev.Detail.Object.VersionID}
	log = log.With(obs.KeyBucket, r.File.Bucket, obs.KeyKey, r.File.Key, obs.KeyETag, etag)
	if errors.Is(err, store.ErrNotFound) {
		// Start anyway: the check step fails it as InvalidFileError, which reaches the DLQ and the topic,
		// where a human learns that a file arrived and vanished.
		log.WarnContext(ctx, "object not found under the delivered key or its form-decoded variant")
	}
	input, _ := json.Marshal(ExecutionInput{File: r.File})
	name := ExecutionName(etag)
	r.Execution = name
	r.Outcome, r.Execution, r.Err = Launch(ctx, s.Exec, name, input, log)
	return r
}

// resolveKey finds the object an event names. S3's classic notifications form-encode keys (space as
// '+'); for EventBridge no source says either way, so the key is used as delivered when that object
// exists, else its form-decoded variant.
func (s *Starter) resolveKey(ctx context.Context, key string) (string, store.Object, error) {
	obj, err := s.Raw.Head(ctx, key)
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return key, obj, err
	}
	decoded, derr := url.QueryUnescape(key)
	if derr != nil || decoded == key {
		return key, obj, err
	}
	obj2, err2 := s.Raw.Head(ctx, decoded)
	if err2 == nil {
		return decoded, obj2, nil
	}
	if !errors.Is(err2, store.ErrNotFound) {
		return key, obj, err2
	}
	return key, obj, err
}

// Launch starts the execution of one file content, as the starter does for every delivery and
// `settle aws redrive` does for an operator. An existing execution of the same name is a duplicate
// delivery while it runs or once it succeeded; one that failed on a data error (DataErrors) leaves the
// content Rejected, untouched: the same bytes would be rejected again, and only an operator's reprocess
// runs them again; any other failed one is redriven, or succeeded by "<name>-rN" when Step Functions no
// longer redrives it. It returns what it did and the execution's name; the outcome is Retry, with the
// error, when a call failed.
func Launch(ctx context.Context, exec Executions, name string, input []byte, log *slog.Logger) (Outcome, string, error) {
	if log == nil {
		log = obs.Discard()
	}
	for n := 0; n <= maxRestarts; n++ {
		try := name
		if n > 0 {
			try = name + "-r" + strconv.Itoa(n)
		}
		err := exec.Start(ctx, try, input)
		if err == nil {
			out := Started
			if n > 0 {
				out = Restarted
			}
			log.InfoContext(ctx, "execution started", "execution", try, "outcome", out)
			return out, try, nil
		}
		if !errors.Is(err, ErrExecutionExists) {
			log.WarnContext(ctx, "start failed; the message will be retried", "execution", try, "error", err)
			return Retry, try, err
		}
		info, err := exec.Describe(ctx, try)
		if err != nil {
			log.WarnContext(ctx, "describe failed; the message will be retried", "execution", try, "error", err)
			return Retry, try, err
		}
		switch info.Status {
		case states.Running, states.Succeeded:
			log.InfoContext(ctx, "duplicate delivery", "execution", try, "status", info.Status)
			return Duplicate, try, nil
		case states.Failed, states.TimedOut, states.Aborted:
			if IsDataError(info.Error) {
				log.InfoContext(ctx, "content already rejected; not redriven (reprocess it to run it again)", "execution", try, "error_type", info.Error)
				return Rejected, try, nil
			}
			if info.Redrivable {
				if err := exec.Redrive(ctx, try); err != nil {
					log.WarnContext(ctx, "redrive failed; the message will be retried", "execution", try, "error", err)
					return Retry, try, err
				}
				log.InfoContext(ctx, "failed execution redriven", "execution", try)
				return Redriven, try, nil
			}
			continue // not redrivable: try the next -rN name
		default:
			return Retry, try, fmt.Errorf("execution %s has unknown status %q", try, info.Status)
		}
	}
	return Retry, name, fmt.Errorf("execution %s: more than %d failed executions of this content", name, maxRestarts)
}
