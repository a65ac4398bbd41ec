package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/engine"
	"github.com/paysettle/settle/internal/testkit/awsfake"
	"github.com/paysettle/settle/internal/workflow"
)

// A stand-in for Adyen's report host on loopback (plain http, as --dev-server allows), a notification
// signed with the example secret, replayed through the receiver: the batch is committed. Fetching the same
// URL again is a duplicate; without --dev-server the stand-in is refused.
func TestWebhookReplayAndFetch(t *testing.T) {
	sample, err := os.ReadFile(filepath.Join("..", "..", "testdata", "sample", "settlement_detail_report_batch_57.csv"))
	if err != nil {
		t.Fatal(err)
	}
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		if r.URL.Path != "/reports/download/MerchantAccount/AcmeShopNL/settlement_detail_report_batch_57.csv" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(sample)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	url := srv.URL + "/reports/download/MerchantAccount/AcmeShopNL/settlement_detail_report_batch_57.csv"
	secret := filepath.Join("..", "..", "testdata", "webhook", "secret.json")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	settle := func(args ...string) (string, string, int) {
		t.Helper()
		a, out, errOut := testApp(engine.RealClock{}, false, "")
		code := execute(t.Context(), args, a)
		return out.String(), errOut.String(), code
	}

	body, _, code := settle("webhook", "sign", "--secret", secret, "--date", "2024-05-03T06:00:00+02:00", url)
	if code != 0 || !strings.Contains(body, `"hmacSignature"`) || !strings.Contains(body, `"merchantAccountCode": "AcmeShopNL"`) {
		t.Fatalf("sign: %d %s", code, body)
	}
	notification := filepath.Join(dir, "notification.json")
	if err := os.WriteFile(notification, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}

	// Without --dev-server the loopback stand-in is not an allowed host: acknowledged, nothing fetched.
	out, errOut, code := settle("webhook", "replay", "--data", data, "--secret", secret, notification)
	if code != 0 || hits != 0 || !strings.Contains(errOut, "HTTP 200 [accepted]: 0 report(s) queued, items skipped: 1 disallowed") {
		t.Errorf("without --dev-server: %d %d hits\n%s%s", code, hits, out, errOut)
	}

	out, errOut, code = settle("webhook", "replay", "--data", data, "--secret", secret, "--dev-server", host, notification)
	if code != 0 || !strings.Contains(errOut, "HTTP 200 [accepted]: 1 report(s) queued") ||
		!strings.Contains(out, "incoming/AcmeShopNL/settlement_detail_report_batch_57.csv  SUCCEEDED") || !strings.Contains(out, "settlement_date=2024-05-03") {
		t.Errorf("replay: %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(data, "processed", "_manifests", "adyen", "AcmeShopNL", "57.json")); err != nil {
		t.Errorf("no manifest: %v", err)
	}

	out, errOut, code = settle("fetch", "--data", data, "--dev-server", host, url)
	if code != 0 || !strings.Contains(out, "DUPLICATE") {
		t.Errorf("fetch of the same report: %d\n%s%s", code, out, errOut)
	}

	// A tampered body is refused with exit status 1.
	tampered := filepath.Join(dir, "tampered.json")
	os.WriteFile(tampered, bytes.Replace([]byte(body), []byte(`"value": 0`), []byte(`"value": 1`), 1), 0o644)
	_, errOut, code = settle("webhook", "replay", "--data", data, "--secret", secret, "--dev-server", host, tampered)
	if code != 1 || !strings.Contains(errOut, "HTTP 403") {
		t.Errorf("tampered: %d %s", code, errOut)
	}
	if _, errOut, code := settle("fetch", "--data", data, "--dev-server", "10.0.0.1:80", url); code != 2 || !strings.Contains(errOut, "loopback") {
		t.Errorf("--dev-server on a private address: %d %s", code, errOut)
	}
}

// settle aws status shows the report intake's queues, and a report waiting in the fetch DLQ needs
// attention.
func TestAWSStatusShowsTheReportIntake(t *testing.T) {
	w := awsfake.NewWorld(t, workflow.Config{})
	w.Fake.Send(w.Stack["FetchDeadLetterQueueUrl"], `{"key":"incoming/AcmeShopNL/settlement_detail_report_batch_57.csv","reason":"unauthorized"}`)
	w.Fake.Send(w.Stack["WebhookQueueUrl"], `{"merchantAccount":"AcmeShopNL"}`)
	out, errOut, code := cli(w, "aws", "status")
	if code != 0 {
		t.Fatalf("status: %d %s", code, errOut)
	}
	for _, want := range []string{"webhook     1", "fetch-dlq   1", "Needs attention: 1 message in the fetch-dlq queue"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "in the webhook queue") {
		t.Errorf("a report waiting to be downloaded is not a problem:\n%s", out)
	}
}

// --dev-server allows plain http to the address and port it names, and to nothing else: not to Adyen's
// hosts (the report user's password would go in the clear), not to another port of the address.
func TestDevServerAllowsPlainHTTPToItsAddressOnly(t *testing.T) {
	const path = "/reports/download/MerchantAccount/AcmeShopNL/settlement_detail_report_batch_57.csv"
	o := intakeOptions{devServer: "127.0.0.1:8765"}
	p, err := o.policy()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8765" + path, true},
		{"https://ca-live.adyen.com" + path, true},
		{"https://ca-test.adyen.com" + path, true},
		{"http://ca-live.adyen.com" + path, false},
		{"http://ca-test.adyen.com" + path, false},
		{"http://ca-live.adyen.com:8765" + path, false},
		{"http://127.0.0.1:8766" + path, false},
		{"http://127.0.0.1" + path, false},
		{"http://localhost:8765" + path, false},
		{"http://[::1]:8765" + path, false},
	} {
		if _, err := p.CheckURL(c.url); (err == nil) != c.ok {
			t.Errorf("--dev-server 127.0.0.1:8765: CheckURL(%s) = %v, want allowed %v", c.url, err, c.ok)
		}
	}
}

// settle aws dlq list reads the fetch DLQ too, and dlq redrive fetch sends each report request back to
// the webhook queue the fetch function reads (the request, not the dead letter around it), deletes its
// message, and keeps a message that carries no request.
func TestAWSDLQFetch(t *testing.T) {
	w := awsfake.NewWorld(t, workflow.Config{})
	const url57 = "https://ca-test.adyen.com/reports/download/MerchantAccount/AcmeShopNL/settlement_detail_report_batch_57.csv"
	req57 := `{"merchantAccount":"AcmeShopNL","fileName":"settlement_detail_report_batch_57.csv","url":"` + url57 + `","live":false}`
	w.Fake.Send(w.Stack["FetchDeadLetterQueueUrl"], `{"request":`+req57+`,"key":"incoming/AcmeShopNL/settlement_detail_report_batch_57.csv","reason":"unauthorized","status":401,"error":"fetch `+url57+`: unauthorized (HTTP 401)","action":"check the report user's username and password","attempts":1,"time":"2024-05-07T08:00:00Z"}`)
	req58 := strings.ReplaceAll(req57, "57", "58")
	w.Fake.Send(w.Stack["FetchDeadLetterQueueUrl"], req58) // moved by the queue after three deliveries
	w.Fake.Send(w.Stack["FetchDeadLetterQueueUrl"], `{"body":"{\"not\":\"a request\"}","reason":"malformed","error":"x","action":"y","time":"2024-05-07T08:00:00Z"}`)

	out, errOut, code := cli(w, "aws", "dlq", "list")
	if code != 0 || strings.Count(out, "fetch-dlq") != 3 || !strings.Contains(out, "incoming/AcmeShopNL/settlement_detail_report_batch_57.csv") ||
		!strings.Contains(out, "unauthorized") || !strings.Contains(out, "incoming/AcmeShopNL/settlement_detail_report_batch_58.csv") {
		t.Errorf("dlq list: %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = cli(w, "aws", "dlq", "list", "fetch")
	if code != 0 || strings.Count(out, "fetch-dlq") != 3 {
		t.Errorf("dlq list fetch: %d\n%s%s", code, out, errOut)
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[1]
	out, errOut, code = cli(w, "aws", "dlq", "show", id)
	if code != 0 || !strings.Contains(out, "(fetch-dlq queue, fetch-failed)") || !strings.Contains(out, "unauthorized (HTTP 401)") ||
		!strings.Contains(out, "check the report user's username and password") {
		t.Errorf("dlq show %s: %d\n%s%s", id, code, out, errOut)
	}
	if out, code := localCLI("dlq", "list", "fetch", "--data", t.TempDir()); code != 2 || !strings.Contains(out, "fetch-dlq/") {
		t.Errorf("settle dlq list fetch: %d %s", code, out)
	}

	out, errOut, code = cli(w, "aws", "dlq", "redrive", "fetch", "--dry-run")
	if code != 0 || len(w.Fake.Messages(w.Stack["WebhookQueueUrl"])) != 0 || len(w.Fake.Messages(w.Stack["FetchDeadLetterQueueUrl"])) != 3 {
		t.Errorf("dlq redrive fetch --dry-run changed the queues: %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = cli(w, "aws", "dlq", "redrive", "fetch", "--yes")
	if code != 0 || !strings.Contains(out, "incoming/AcmeShopNL/settlement_detail_report_batch_57.csv  requeued") ||
		!strings.Contains(out, "skipped") || !strings.Contains(out, "2 report requests back in the webhook queue") {
		t.Errorf("dlq redrive fetch: %d\n%s%s", code, out, errOut)
	}
	if got := w.Fake.Messages(w.Stack["WebhookQueueUrl"]); len(got) != 2 || got[0] != req57 || got[1] != req58 {
		t.Errorf("webhook queue after the redrive: %q, want the two requests as the receiver queues them", got)
	}
	if left := w.Fake.Messages(w.Stack["FetchDeadLetterQueueUrl"]); len(left) != 1 || !strings.Contains(left[0], `"reason":"malformed"`) {
		t.Errorf("fetch DLQ after the redrive: %q, want only the message without a request", left)
	}
}
