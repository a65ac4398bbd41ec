package fetch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/paysettle/settle/internal/obs"
)

// Sender sends a message to a queue: the fetch dead-letter queue.
type Sender interface {
	Send(ctx context.Context, body []byte) error
}

// DeadLetter is the message the handler puts in the fetch dead-letter queue for a report it will not
// try again: the request (or the body, when it was not one), why, and what to do.
type DeadLetter struct {
	Request  *Request `json:"request,omitempty"`
	Body     string   `json:"body,omitempty"`
	Key      string   `json:"key,omitempty"`
	Reason   Reason   `json:"reason"`
	Status   int      `json:"status,omitempty"`
	Error    string   `json:"error"`
	Action   string   `json:"action"`
	Attempts int      `json:"attempts,omitempty"`
	Time     string   `json:"time"`
}

// Outcome is what the handler did with one message.
type Outcome struct {
	MessageID    string
	Request      Request
	Result       Result // when stored
	Err          *Error // when not
	DeadLettered bool   // sent to the dead-letter queue
	Retry        bool   // left to the queue to deliver again
	NotYet       bool   // a speculative request the report host answered 404: acknowledged, no dead letter
}

// Handler is the queue-driven fetch function: each message is a Request. A report stored, or a final
// failure sent to the dead-letter queue with its reason, acknowledges the message; a transient failure
// that outlasted the fetcher's retries returns it to the queue (ReportBatchItemFailures), which delivers
// it again after the visibility timeout and moves it to the dead-letter queue after its maxReceiveCount.
type Handler struct {
	Fetcher *Fetcher
	DLQ     Sender
	Log     *slog.Logger
	Metrics *obs.Metrics
	// OnResult, when set, is called for every message (the CLI delivers the stored object with it).
	OnResult func(Outcome)
}

// Handle processes a batch and reports the messages to deliver again.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	for _, m := range ev.Records {
		o := h.handle(ctx, m)
		if o.Retry {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
		if h.OnResult != nil {
			h.OnResult(o)
		}
	}
	return resp, nil
}

func (h *Handler) log() *slog.Logger {
	l := h.Log
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return l.With(obs.KeyStep, "fetch")
}

func (h *Handler) handle(ctx context.Context, m events.SQSMessage) Outcome {
	o := Outcome{MessageID: m.MessageId}
	log := h.log().With("message_id", m.MessageId)
	redriven, err := readRequest([]byte(m.Body), &o.Request)
	if err != nil {
		o.Err = &Error{Reason: ReasonMalformed, Err: errors.New("the message is not a report request: " + err.Error())}
		return h.deadLetter(ctx, log, o, m.Body)
	}
	if redriven {
		log.InfoContext(ctx, "a dead letter moved back to the queue as it is: fetching its request again")
	}
	log = log.With(obs.KeyKey, o.Request.Key(), obs.KeyMerchant, o.Request.MerchantAccount)
	res, err := h.Fetcher.Fetch(ctx, o.Request)
	if err == nil {
		o.Result = res
		log.InfoContext(ctx, "report stored", obs.KeyETag, res.Object.ETag, "bytes", res.Object.Size, "attempts", res.Attempts)
		h.Metrics.Entry().Put(obs.ReportsFetched, 1, obs.Count).Put(obs.ReportBytes, float64(res.Object.Size), obs.Bytes).
			Property(obs.KeyKey, o.Request.Key()).Property(obs.KeyETag, res.Object.ETag).Emit(ctx)
		return o
	}
	var fe *Error
	if !errors.As(err, &fe) {
		fe = &Error{Reason: ReasonUnavailable, Err: err}
	}
	o.Err = fe
	if fe.Reason == ReasonNotFound && o.Request.Speculative {
		log.InfoContext(ctx, "report not generated yet (a batch asked for speculatively): acknowledged without a dead letter", "status", fe.Status)
		h.Metrics.Entry().Put(obs.RepairNotFound, 1, obs.Count).Property(obs.KeyKey, o.Request.Key()).Emit(ctx)
		o.NotYet = true
		return o
	}
	if !fe.Permanent() {
		log.WarnContext(ctx, "report not fetched; the queue will deliver it again", "reason", fe.Reason, "status", fe.Status, "attempts", fe.Attempts, "error", fe.Error())
		h.failed(ctx, fe)
		o.Retry = true
		return o
	}
	return h.deadLetter(ctx, log, o, "")
}

// deadLetter sends a final failure to the dead-letter queue; when that fails too, the message goes back
// to the queue rather than being lost.
func (h *Handler) deadLetter(ctx context.Context, log *slog.Logger, o Outcome, body string) Outcome {
	dl := DeadLetter{Reason: o.Err.Reason, Status: o.Err.Status, Error: o.Err.Error(), Action: o.Err.Action(), Attempts: o.Err.Attempts,
		Time: h.Fetcher.clock().Now().UTC().Format(time.RFC3339)}
	if body != "" {
		dl.Body = body
	} else {
		r := o.Request
		dl.Request, dl.Key = &r, r.Key()
	}
	b, _ := json.Marshal(dl)
	if err := h.DLQ.Send(ctx, b); err != nil {
		log.ErrorContext(ctx, "report not fetched, and the dead-letter queue refused it; the queue will deliver it again", "reason", o.Err.Reason, "error", err)
		o.Retry = true
		return o
	}
	log.ErrorContext(ctx, "report not fetched: sent to the fetch dead-letter queue", "reason", o.Err.Reason, "status", o.Err.Status, "error", o.Err.Error(), "action", dl.Action)
	h.failed(ctx, o.Err)
	o.DeadLettered = true
	return o
}

func (h *Handler) failed(ctx context.Context, e *Error) {
	h.Metrics.Entry().Dimensions([]string{}, []string{obs.DimReason}).Dimension(obs.DimReason, string(e.Reason)).
		Put(obs.FetchFailed, 1, obs.Count).Property("status", e.Status).Emit(ctx)
}

// readRequest reads a message: a Request, or a DeadLetter that carries one (a message of the fetch
// dead-letter queue moved back to the webhook queue as it is, as SQS's redrive does), which is its
// request again (redriven). A dead letter without a request (of a malformed message) is not a request.
func readRequest(b []byte, r *Request) (redriven bool, err error) {
	if err = strictUnmarshal(b, r); err == nil {
		return false, nil
	}
	*r = Request{}
	var dl DeadLetter
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if dec.Decode(&dl) != nil || dl.Request == nil || dl.Reason == "" || dl.Request.URL == "" {
		return false, err
	}
	*r = *dl.Request
	return true, nil
}

// strictUnmarshal refuses unknown fields and a request without a URL.
func strictUnmarshal(b []byte, r *Request) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(r); err != nil {
		return err
	}
	if r.URL == "" {
		return errors.New("no url")
	}
	return nil
}
