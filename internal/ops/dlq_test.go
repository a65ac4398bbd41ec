package ops_test

import (
	"strings"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/testkit/awsfake"
	"github.com/paysettle/settle/internal/workflow"
)

const (
	fetchURL57 = "https://ca-test.adyen.com/reports/download/MerchantAccount/AcmeShopNL/settlement_detail_report_batch_57.csv"
	fetchReq57 = `{"merchantAccount":"AcmeShopNL","fileName":"settlement_detail_report_batch_57.csv","url":"` + fetchURL57 + `","live":false}`
	// fetchLetter57 is the dead letter the fetch function sends for a 401.
	fetchLetter57 = `{"request":` + fetchReq57 + `,"key":"incoming/AcmeShopNL/settlement_detail_report_batch_57.csv","reason":"unauthorized","status":401,"error":"fetch ` + fetchURL57 + `: unauthorized (HTTP 401)","action":"check the report user's credentials","attempts":1,"time":"2024-05-07T08:00:00Z"}`
)

// The fetch DLQ is listed with the others: a dead letter names its report's key, the reason and what
// to do; a request the queue moved after its deliveries names its key.
func TestDLQListReadsTheFetchDLQ(t *testing.T) {
	w := awsfake.NewWorld(t, workflow.Config{})
	w.Fake.Send(w.Stack["FetchDeadLetterQueueUrl"], fetchLetter57)
	w.Clock.Advance(time.Second)
	w.Fake.Send(w.Stack["FetchDeadLetterQueueUrl"], `{"merchantAccount":"AcmeShopNL","fileName":"settlement_detail_report_batch_58.csv","url":"https://ca-test.adyen.com/reports/download/MerchantAccount/AcmeShopNL/settlement_detail_report_batch_58.csv"}`)
	o := connect(t, w)
	msgs, err := o.DLQList(t.Context(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 {
		t.Fatalf("DLQList = %+v, want the fetch DLQ's two messages", msgs)
	}
	m := msgs[0]
	if m.Queue != "fetch-dlq" || m.Kind != "fetch-failed" || m.File.Key != "incoming/AcmeShopNL/settlement_detail_report_batch_57.csv" || m.File.Bucket != w.Stack["RawBucket"] ||
		m.Error != "unauthorized" || m.Cause == "" || m.Action != "check the report user's credentials" {
		t.Errorf("dead letter: %+v", m)
	}
	if m := msgs[1]; m.Queue != "fetch-dlq" || m.Kind != "report-request" || m.File.Key != "incoming/AcmeShopNL/settlement_detail_report_batch_58.csv" {
		t.Errorf("moved request: %+v", m)
	}
	for _, q := range []string{"fetch", "fetch-dlq"} {
		if got, err := o.DLQList(t.Context(), q, 100); err != nil || len(got) != 2 {
			t.Errorf("DLQList(%s) = %d messages, %v", q, len(got), err)
		}
	}
	if got, err := o.DLQList(t.Context(), "failed", 100); err != nil || len(got) != 0 {
		t.Errorf("DLQList(failed) = %+v, %v", got, err)
	}
	if _, err := o.DLQShow(t.Context(), m.ID); err != nil {
		t.Errorf("DLQShow of a fetch dead letter: %v", err)
	}
}

// A redrive of the fetch DLQ sends the request inside each dead letter back to the webhook queue, as
// the receiver queued it, and deletes the message; only the messages named, when ids are given.
func TestDLQRedriveFetch(t *testing.T) {
	w := awsfake.NewWorld(t, workflow.Config{})
	first := w.Fake.Send(w.Stack["FetchDeadLetterQueueUrl"], fetchLetter57)
	w.Fake.Send(w.Stack["FetchDeadLetterQueueUrl"], strings.ReplaceAll(fetchLetter57, "batch_57", "batch_58"))
	o := connect(t, w)
	if _, err := o.DLQRedriveFetch(t.Context(), []string{"no-such-id"}, false); err == nil || !strings.Contains(err.Error(), "no message no-such-id in the fetch dead-letter queue") {
		t.Errorf("an unknown id: %v", err)
	}
	got, err := o.DLQRedriveFetch(t.Context(), nil, true)
	if err != nil || len(got) != 2 || got[0].Outcome != ops.FetchRequeued || len(w.Fake.Messages(w.Stack["WebhookQueueUrl"])) != 0 {
		t.Fatalf("dry run: %+v, %v; webhook queue %q", got, err, w.Fake.Messages(w.Stack["WebhookQueueUrl"]))
	}
	got, err = o.DLQRedriveFetch(t.Context(), []string{first}, false)
	if err != nil || len(got) != 1 || got[0].ID != first || got[0].Outcome != ops.FetchRequeued || got[0].Key != "incoming/AcmeShopNL/settlement_detail_report_batch_57.csv" {
		t.Fatalf("redrive %s: %+v, %v", first, got, err)
	}
	if q := w.Fake.Messages(w.Stack["WebhookQueueUrl"]); len(q) != 1 || q[0] != fetchReq57 {
		t.Errorf("webhook queue %q, want the request %s", q, fetchReq57)
	}
	if left := w.Fake.Messages(w.Stack["FetchDeadLetterQueueUrl"]); len(left) != 1 || !strings.Contains(left[0], "batch_58") {
		t.Errorf("left in the fetch DLQ: %q, want the message not named", left)
	}
}
