package fetch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/obs"
	"github.com/paysettle/settle/internal/testkit/emftest"
)

// queue is a dead-letter queue in memory; fail makes Send fail.
type queue struct {
	mu   sync.Mutex
	msgs [][]byte
	fail bool
}

func (q *queue) Send(_ context.Context, body []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail {
		return errors.New("sqs: service unavailable")
	}
	q.msgs = append(q.msgs, body)
	return nil
}

func (q *queue) letters(t *testing.T) []fetch.DeadLetter {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []fetch.DeadLetter
	for _, m := range q.msgs {
		var d fetch.DeadLetter
		if err := json.Unmarshal(m, &d); err != nil {
			t.Fatalf("dead letter %s: %v", m, err)
		}
		out = append(out, d)
	}
	return out
}

func sqsEvent(bodies ...string) events.SQSEvent {
	var ev events.SQSEvent
	for i, b := range bodies {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: "m" + string(rune('1'+i)), Body: b, EventSource: "aws:sqs"})
	}
	return ev
}

func body(t *testing.T, r fetch.Request) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHandler(t *testing.T) {
	a := newAdyen(t, map[string][]byte{reportPath(file57): sample(t)})
	f, raw := fetcher(t, a, newClock())
	f.Attempts = 2
	dlq := &queue{}
	var metrics, logs bytes.Buffer
	h := &fetch.Handler{Fetcher: f, DLQ: dlq, Metrics: obs.NewMetrics(&metrics, "Settle"), Log: obs.NewLogger(&logs, nil)}
	missing := request(a, "settlement_detail_report_batch_99.csv")
	flaky := request(a, "settlement_detail_report_batch_58.csv")
	a.set(func(base http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "_58.csv") {
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
			base(w, r)
		}
	}(a.handler))
	var outcomes []fetch.Outcome
	h.OnResult = func(o fetch.Outcome) { outcomes = append(outcomes, o) }

	resp, err := h.Handle(t.Context(), sqsEvent(body(t, request(a, file57)), body(t, missing), body(t, flaky), `{"not":"a request"}`))
	if err != nil {
		t.Fatal(err)
	}
	// Only the transient failure goes back to the queue.
	if got := resp.BatchItemFailures; len(got) != 1 || got[0].ItemIdentifier != "m3" {
		t.Errorf("batch item failures %+v, want [m3]", got)
	}
	if len(outcomes) != 4 || outcomes[0].Result.Object.Key != "incoming/AcmeShopNL/"+file57 || !outcomes[1].DeadLettered || !outcomes[2].Retry || !outcomes[3].DeadLettered {
		t.Errorf("outcomes %+v", outcomes)
	}
	letters := dlq.letters(t)
	if len(letters) != 2 {
		t.Fatalf("dead letters %+v, want the 404 and the malformed message", letters)
	}
	nf := letters[0]
	if nf.Reason != fetch.ReasonNotFound || nf.Status != 404 || nf.Request == nil || !reflect.DeepEqual(*nf.Request, missing) ||
		nf.Key != missing.Key() || !strings.Contains(nf.Action, "Customer Area") || nf.Time != "2024-05-03T06:00:00Z" {
		t.Errorf("404 dead letter %+v", nf)
	}
	if m := letters[1]; m.Reason != fetch.ReasonMalformed || m.Body != `{"not":"a request"}` || m.Request != nil {
		t.Errorf("malformed dead letter %+v", m)
	}
	if _, err := raw.Head(t.Context(), missing.Key()); err == nil {
		t.Error("the missing report was stored")
	}

	// Metrics: one report fetched, failures by reason.
	docs, err := emftest.Collect(&metrics)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]float64{}
	for _, d := range docs {
		for _, name := range []string{obs.ReportsFetched, obs.FetchFailed} {
			for _, v := range d.Values[name] {
				reason, _ := d.Members[obs.DimReason].(string)
				count[name+"/"+reason] += v
			}
		}
	}
	want := map[string]float64{obs.ReportsFetched + "/": 1, obs.FetchFailed + "/not-found": 1, obs.FetchFailed + "/unavailable": 1, obs.FetchFailed + "/malformed": 1}
	if !reflect.DeepEqual(count, want) {
		t.Errorf("metrics %v, want %v", count, want)
	}
	if strings.Contains(logs.String(), reportPassword) || strings.Contains(metrics.String(), reportPassword) {
		t.Error("the report user's password is in the logs")
	}
}

// When the dead-letter queue refuses the message too, the message goes back to the queue: never lost.
func TestHandlerKeepsTheMessageWhenTheDLQFails(t *testing.T) {
	a := newAdyen(t, nil)
	f, _ := fetcher(t, a, newClock())
	h := &fetch.Handler{Fetcher: f, DLQ: &queue{fail: true}}
	resp, _ := h.Handle(t.Context(), sqsEvent(body(t, request(a, file57))))
	if len(resp.BatchItemFailures) != 1 {
		t.Errorf("batch item failures %+v, want the message back in the queue", resp.BatchItemFailures)
	}
}
