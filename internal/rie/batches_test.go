//go:build linux

package rie

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/workflow"
)

// fakeSNS speaks the part of SNS's query protocol the batches function uses: Publish.
type fakeSNS struct {
	url string
	mu  sync.Mutex
	// published holds the topic, subject and message of each Publish.
	published []url.Values
}

func newFakeSNS(t *testing.T) *fakeSNS {
	t.Helper()
	f := &fakeSNS{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *fakeSNS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, err := url.ParseQuery(string(body))
	w.Header().Set("Content-Type", "text/xml")
	if err != nil || form.Get("Action") != "Publish" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>the fake serves Publish</Message></Error><RequestId>fake</RequestId></ErrorResponse>`)
		return
	}
	f.mu.Lock()
	f.published = append(f.published, form)
	n := len(f.published)
	f.mu.Unlock()
	fmt.Fprintf(w, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>fake-%d</MessageId></PublishResult><ResponseMetadata><RequestId>fake</RequestId></ResponseMetadata></PublishResponse>`, n)
}

func (f *fakeSNS) take() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.published
	f.published = nil
	return out
}

// putLedger stores a ledger of batches arrived in 2024: at the emulator's real clock, any gap is long
// past its grace period.
func putLedger(t *testing.T, s3 *fakeS3, bucket, merchant string, numbers ...int64) {
	t.Helper()
	l := ledger.New("adyen", merchant)
	for _, n := range numbers {
		l.Record(ledger.Batch{Number: n, SettlementDate: "2024-05-01", Arrived: time.Date(2024, 5, 2, 6, 0, 0, 0, time.UTC),
			Source: ledger.Source{Bucket: "raw", Key: fmt.Sprintf("incoming/%d.csv", n), ETag: fmt.Sprint(n)}, Rows: 10})
	}
	b, _ := json.Marshal(l)
	s3.put(t, bucket, workflow.LedgerKey("adyen", merchant), b)
}

// TestBatches runs the scheduled batches function under the emulator with its events/ file: a ledger
// with a gap gets one alert on the fake SNS topic, and the batch's report is asked for on the webhook
// queue; the same event again publishes and asks nothing; once the batch is in the ledger, one
// resolution and one "repaired".
func TestBatches(t *testing.T) {
	vars := envFile(t)["BatchesFunction"]
	processed := vars["PROCESSED_BUCKET"]
	s3 := newFakeS3(t, processed)
	sns := newFakeSNS(t)
	putLedger(t, s3, processed, "AcmeShopNL", 56, 58)
	sqs := newFakeSecretsSQS(t, nil)
	env := functionEnv(t, "BatchesFunction", s3.url, "")
	env["AWS_ENDPOINT_URL_SNS"] = sns.url
	env["AWS_ENDPOINT_URL_SQS"] = sqs.url
	e := startEmulator(t, "batches", env)
	t.Cleanup(func() { checkMetrics(t, e.out.String(), vars["METRICS_NAMESPACE"]) })
	event := readFile(t, "events/batches.json")

	result := func(body []byte) workflow.BatchCheckResult {
		t.Helper()
		if fe, failed := asError(body); failed {
			t.Fatalf("the batch check failed: %s: %s", fe.ErrorType, fe.ErrorMessage)
		}
		var r workflow.BatchCheckResult
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("the answer is not a workflow.BatchCheckResult: %v: %s", err, body)
		}
		return r
	}
	r := result(e.invoke(t, event))
	msgs := sns.take()
	if r.Accounts != 1 || r.MissingBatches != 1 || r.Alerts != 1 || len(msgs) != 1 {
		t.Fatalf("a ledger with batch 57 missing: %+v, %d published", r, len(msgs))
	}
	m := msgs[0]
	if m.Get("TopicArn") != vars["ALERT_TOPIC_ARN"] || m.Get("Subject") != "settle: batch 57 of adyen/AcmeShopNL missing" ||
		!strings.Contains(m.Get("Message"), "settle aws batches ack --merchant AcmeShopNL --batch 57") {
		t.Errorf("published %v", m)
	}
	// The gap's batch is asked for on the webhook queue, from the test Customer Area (AdyenEnvironment).
	queued := sqs.messages(vars["WEBHOOK_QUEUE_URL"])
	if r.RepairsQueued != 1 || len(queued) != 1 || !strings.Contains(queued[0], `"url":"https://ca-test.adyen.com/reports/download/MerchantAccount/AcmeShopNL/settlement_detail_report_batch_57.csv"`) ||
		!strings.Contains(queued[0], `"speculative":true`) {
		t.Errorf("repair requests: %+v %v", r, queued)
	}
	if !strings.Contains(m.Get("Message"), "asked the report host for it by itself: batch 57 1 time") {
		t.Errorf("the alert does not name the request:\n%s", m.Get("Message"))
	}
	alerts, ok := s3.get(t, processed, workflow.AlertsKey("adyen", "AcmeShopNL"))
	if !ok || !strings.Contains(string(alerts), `"state":"open"`) {
		t.Errorf("alert state %s", alerts)
	}

	// The schedule fires again: nothing new to say.
	if r := result(e.invoke(t, event)); r.Alerts != 0 || r.Resolutions != 0 || len(sns.take()) != 0 || len(sqs.messages(vars["WEBHOOK_QUEUE_URL"])) != 1 {
		t.Errorf("the same event again: %+v", r)
	}

	// Batch 57 arrives (Write records it): one resolution.
	putLedger(t, s3, processed, "AcmeShopNL", 56, 57, 58)
	r = result(e.invoke(t, event))
	msgs = sns.take()
	if r.MissingBatches != 0 || r.Resolutions != 1 || r.Repaired != 1 || len(msgs) != 2 ||
		!strings.HasPrefix(msgs[0].Get("Subject"), "settle: repaired: batch 57") || !strings.HasPrefix(msgs[1].Get("Subject"), "settle: resolved: batch 57") {
		t.Errorf("after batch 57: %+v, published %v", r, msgs)
	}
}

// TestBatchesWithoutItsEnvironment: the function's main refuses to start without its topic.
func TestBatchesWithoutItsEnvironment(t *testing.T) {
	env := functionEnv(t, "BatchesFunction", "http://127.0.0.1:1", "")
	delete(env, "ALERT_TOPIC_ARN")
	e := startEmulator(t, "batches", env)
	status, body := e.post(t, readFile(t, "events/batches.json"))
	if status != http.StatusBadGateway || !strings.Contains(e.out.String(), "PROCESSED_BUCKET and ALERT_TOPIC_ARN must be set") {
		t.Errorf("batches without ALERT_TOPIC_ARN: HTTP %d %s, want a failed init naming it:\n%s", status, body, e.out)
	}
}
