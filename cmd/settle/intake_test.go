package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/ops/awsfake"
	"github.com/paysettle/settle/internal/sfn"
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
		a, out, errOut := testApp(sfn.RealClock{}, false, "")
		code := execute(context.Background(), args, a)
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
