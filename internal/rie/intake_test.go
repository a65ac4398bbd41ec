//go:build linux

package rie

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/paysettle/settle/internal/cloud"
	"github.com/paysettle/settle/internal/fetch"
)

const (
	reportUser = "report_123456@Company.AcmeCo"
	reportPass = "report-user-password"
)

// intakeFakes are the services the webhook and fetch functions call, with the secrets events/env.json
// names: the example webhook secret (testdata/webhook/secret.json) and a report user.
func intakeFakes(t *testing.T) (*fakeSecretsSQS, map[string]map[string]string) {
	t.Helper()
	env := envFile(t)
	creds, _ := json.Marshal(map[string]string{"username": reportUser, "password": reportPass})
	return newFakeSecretsSQS(t, map[string]string{
		env["WebhookFunction"]["WEBHOOK_SECRET_ARN"]:   string(readFile(t, "testdata/webhook/secret.json")),
		env["FetchFunction"]["REPORT_USER_SECRET_ARN"]: string(creds),
	}), env
}

func withIntakeEndpoints(env map[string]string, f *fakeSecretsSQS) map[string]string {
	env["AWS_ENDPOINT_URL_SQS"] = f.url
	env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = f.url
	return env
}

// urlResponse decodes the webhook's answer, a function URL response.
func urlResponse(t *testing.T, body []byte) events.LambdaFunctionURLResponse {
	t.Helper()
	if fe, failed := asError(body); failed {
		t.Fatalf("the webhook failed: %s: %s", fe.ErrorType, fe.ErrorMessage)
	}
	var r events.LambdaFunctionURLResponse
	if err := json.Unmarshal(body, &r); err != nil || r.StatusCode == 0 {
		t.Fatalf("the webhook's answer is not a function URL response: %v: %s", err, body)
	}
	return r
}

// TestWebhook runs the webhook bootstrap on events/webhook.json: it reads its secret, answers
// [accepted] and queues exactly the message events/fetch.json carries; a tampered body and wrong
// credentials are refused and queue nothing; with the queue down the invocation fails, so Adyen retries.
func TestWebhook(t *testing.T) {
	fakes, env := intakeFakes(t)
	vars := env["WebhookFunction"]
	queue := vars["WEBHOOK_QUEUE_URL"]
	e := startEmulator(t, "webhook", withIntakeEndpoints(functionEnv(t, "WebhookFunction", "http://127.0.0.1:1", ""), fakes))
	t.Cleanup(func() { checkMetrics(t, e.out.String(), vars["METRICS_NAMESPACE"]) })
	event := readFile(t, "events/webhook.json")

	if r := urlResponse(t, e.invoke(t, event)); r.StatusCode != 200 || r.Body != "[accepted]" {
		t.Errorf("events/webhook.json: %d %q, want 200 [accepted]", r.StatusCode, r.Body)
	}
	var fetchEvent events.SQSEvent
	if err := json.Unmarshal(readFile(t, "events/fetch.json"), &fetchEvent); err != nil {
		t.Fatal(err)
	}
	if got := fakes.messages(queue); len(got) != 1 || got[0] != fetchEvent.Records[0].Body {
		t.Errorf("queued %q, want events/fetch.json's body %s", got, fetchEvent.Records[0].Body)
	}

	var ev events.LambdaFunctionURLRequest
	_ = json.Unmarshal(event, &ev)
	tampered := ev
	tampered.Body = strings.Replace(ev.Body, `"value": 0`, `"value": 100`, 1)
	if tampered.Body == ev.Body {
		t.Fatal("the amount was not changed")
	}
	if r := urlResponse(t, e.invoke(t, mustJSON(tampered))); r.StatusCode != 403 {
		t.Errorf("a replayed body with a changed amount: %d, want 403", r.StatusCode)
	}
	wrongAuth := ev
	wrongAuth.Headers = map[string]string{"authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("adyen-webhook:guess"))}
	if r := urlResponse(t, e.invoke(t, mustJSON(wrongAuth))); r.StatusCode != 401 {
		t.Errorf("wrong basic auth: %d, want 401", r.StatusCode)
	}
	if n := len(fakes.messages(queue)); n != 1 {
		t.Errorf("refused requests queued messages: %d in the queue", n)
	}

	fakes.set(func(f *fakeSecretsSQS) { f.sqsDown = true })
	fe, failed := asError(e.invoke(t, event))
	if !failed || fe.ErrorType != "UnavailableError" {
		t.Errorf("queue down: %+v, want errorType UnavailableError (no [accepted]: Adyen retries)", fe)
	}
	if strings.Contains(e.out.String(), "example-password-for-local-tries-only") || strings.Contains(e.out.String(), "1RQmSsJlQVcTRAP3DtwQy") {
		t.Error("the function's output quotes the webhook password or an HMAC signature")
	}
	fakes.set(func(f *fakeSecretsSQS) {
		if f.reads != 1 {
			t.Errorf("the secret was read %d times for 4 invocations; the cache should read it once", f.reads)
		}
	})
}

// TestFetch runs the fetch bootstrap. Reports cannot reach it from a test: its address check refuses
// every non-public address, loopback included, and the tests use no other network. So it proves the
// refusals in the real binary: events/fetch.json's Adyen URL on a host outside REPORT_HOSTS, and an
// allowed host whose address is loopback (refused when dialled: the stand-in is never reached) both end
// in the fetch DLQ with their reason; a malformed message too; with the DLQ down the message goes back
// to the queue. The download itself runs through the same handler in TestFetchWiring.
func TestFetch(t *testing.T) {
	fakes, env := intakeFakes(t)
	vars := env["FetchFunction"]
	dlq := vars["FETCH_DLQ_URL"]
	var hits atomic.Int64
	adyen := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1); _, _ = w.Write([]byte("x")) }))
	t.Cleanup(adyen.Close)
	standIn, _ := url.Parse(adyen.URL)
	raw := newFakeS3(t, vars["RAW_BUCKET"])
	fnEnv := withIntakeEndpoints(functionEnv(t, "FetchFunction", raw.url, ""), fakes)
	fnEnv["REPORT_HOSTS"] = standIn.Host // nothing in the tests may look up Adyen's real hosts
	e := startEmulator(t, "fetch", fnEnv)
	t.Cleanup(func() { checkMetrics(t, e.out.String(), vars["METRICS_NAMESPACE"]) })

	event := readFile(t, "events/fetch.json")
	var sqs events.SQSEvent
	_ = json.Unmarshal(event, &sqs)
	failures := func(body []byte) []string {
		t.Helper()
		if fe, failed := asError(body); failed {
			t.Fatalf("the fetch function failed the whole batch: %s: %s", fe.ErrorType, fe.ErrorMessage)
		}
		var resp events.SQSEventResponse
		if err := json.Unmarshal(body, &resp); err != nil {
			t.Fatalf("not an events.SQSEventResponse: %s", body)
		}
		var ids []string
		for _, f := range resp.BatchItemFailures {
			ids = append(ids, f.ItemIdentifier)
		}
		return ids
	}
	lastLetter := func() fetch.DeadLetter {
		t.Helper()
		msgs := fakes.messages(dlq)
		if len(msgs) == 0 {
			t.Fatal("nothing in the fetch DLQ")
		}
		var d fetch.DeadLetter
		if err := json.Unmarshal([]byte(msgs[len(msgs)-1]), &d); err != nil {
			t.Fatal(err)
		}
		return d
	}

	if ids := failures(e.invoke(t, event)); len(ids) != 0 {
		t.Errorf("events/fetch.json: retry %v, want the message handled", ids)
	}
	if d := lastLetter(); d.Reason != fetch.ReasonRefused || !strings.Contains(d.Error, "not one of the allowed hosts") || d.Key != "incoming/AcmeShopNL/settlement_detail_report_batch_57.csv" {
		t.Errorf("events/fetch.json's dead letter: %+v", d)
	}

	var req fetch.Request
	_ = json.Unmarshal([]byte(sqs.Records[0].Body), &req)
	req.URL = adyen.URL + "/reports/download/MerchantAccount/AcmeShopNL/settlement_detail_report_batch_57.csv"
	toLoopback := sqs
	toLoopback.Records = []events.SQSMessage{sqs.Records[0]}
	toLoopback.Records[0].Body = string(mustJSON(req))
	if ids := failures(e.invoke(t, mustJSON(toLoopback))); len(ids) != 0 {
		t.Errorf("loopback: retry %v", ids)
	}
	if d := lastLetter(); d.Reason != fetch.ReasonRefused || !strings.Contains(d.Error, "address 127.0.0.1 is not public") {
		t.Errorf("loopback dead letter: %+v, want refused: address 127.0.0.1 is not public", d)
	}
	if hits.Load() != 0 {
		t.Errorf("the loopback stand-in was reached %d times", hits.Load())
	}

	malformed := toLoopback
	malformed.Records = []events.SQSMessage{sqs.Records[0]}
	malformed.Records[0].Body = `{"hello":"world"}`
	failures(e.invoke(t, mustJSON(malformed)))
	if d := lastLetter(); d.Reason != fetch.ReasonMalformed || d.Body != `{"hello":"world"}` {
		t.Errorf("malformed dead letter: %+v", d)
	}

	fakes.set(func(f *fakeSecretsSQS) { f.sqsDown = true })
	if ids := failures(e.invoke(t, event)); len(ids) != 1 || ids[0] != sqs.Records[0].MessageId {
		t.Errorf("DLQ down: retry %v, want [%s]", ids, sqs.Records[0].MessageId)
	}
	if objs, err := raw.client.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(vars["RAW_BUCKET"])}); err != nil || len(objs.Contents) != 0 {
		t.Errorf("the raw bucket holds %v (%v), want nothing", objs, err)
	}
	if strings.Contains(e.out.String(), reportPass) {
		t.Error("the function's output quotes the report user's password")
	}
}

// TestFetchWiring builds the fetch function's handler exactly as its main does (cloud.NewFetchHandler,
// with events/env.json and the real SDK clients pointed at the fakes), allows the loopback stand-in for
// Adyen explicitly, and runs events/fetch.json's message against it: the report, served behind the
// report user's basic auth read from Secrets Manager, lands in the raw bucket (S3, through the SDK).
func TestFetchWiring(t *testing.T) {
	fakes, env := intakeFakes(t)
	vars := env["FetchFunction"]
	report := readFile(t, sampleReport)
	adyen := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != reportUser || p != reportPass {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write(report)
	}))
	t.Cleanup(adyen.Close)
	standIn, _ := url.Parse(adyen.URL)
	raw := newFakeS3(t, vars["RAW_BUCKET"])
	for k, v := range withIntakeEndpoints(functionEnv(t, "FetchFunction", raw.url, ""), fakes) {
		t.Setenv(k, v)
	}
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "") // no X-Ray outside Lambda
	t.Setenv("REPORT_HOSTS", standIn.Host)
	h, err := cloud.NewFetchHandler(t.Context(), os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	h.Fetcher.Policy.AllowAddr = func(a netip.Addr) bool { return a.IsLoopback() } // the test's explicit override
	h.Fetcher.TLS = adyen.Client().Transport.(*http.Transport).TLSClientConfig

	var sqs events.SQSEvent
	_ = json.Unmarshal(readFile(t, "events/fetch.json"), &sqs)
	var req fetch.Request
	_ = json.Unmarshal([]byte(sqs.Records[0].Body), &req)
	req.URL = adyen.URL + "/reports/download/MerchantAccount/AcmeShopNL/settlement_detail_report_batch_57.csv"
	sqs.Records[0].Body = string(mustJSON(req))
	resp, err := h.Handle(t.Context(), sqs)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle = %+v, %v", resp, err)
	}
	got, ok := raw.get(t, vars["RAW_BUCKET"], req.Key())
	if !ok || !bytes.Equal(got, report) {
		t.Errorf("s3://%s/%s holds %d bytes, want the %d of the report", vars["RAW_BUCKET"], req.Key(), len(got), len(report))
	}
	if n := len(fakes.messages(vars["FETCH_DLQ_URL"])); n != 0 {
		t.Errorf("%d dead letters", n)
	}
}
