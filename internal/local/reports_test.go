package local_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/paysettle/settle/internal/adyen"
	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/webhook"
	"github.com/paysettle/settle/internal/workflow"
)

const (
	reportUser = "report_123456@Company.AcmeCo"
	reportPass = "report-user-password"
)

// adyenStandIn is an httptest TLS server playing Adyen's report host: it serves the reports it holds
// behind the report user's basic auth. The tests change what it serves.
type adyenStandIn struct {
	srv     *httptest.Server
	mu      sync.Mutex
	reports map[string][]byte
	hits    int
}

func newAdyenStandIn(t *testing.T) *adyenStandIn {
	t.Helper()
	a := &adyenStandIn{reports: map[string][]byte{}}
	a.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.hits++
		if u, p, ok := r.BasicAuth(); !ok || u != reportUser || p != reportPass {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		b, ok := a.reports[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *adyenStandIn) serve(path string, body []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reports[path] = body
}

func (a *adyenStandIn) report(file string) adyen.Report {
	return adyen.Report{MerchantAccount: "AcmeShopNL", FileName: file, EventDate: "2024-05-03T06:00:00+02:00",
		URL: a.srv.URL + "/reports/download/MerchantAccount/AcmeShopNL/" + file}
}

func webhookSecret(t *testing.T) webhook.Secret {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "webhook", "secret.json"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := webhook.ParseSecret(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// intake is a data folder with the report intake pointed at the stand-in: its host allowed, loopback
// allowed explicitly (the production check refuses it), its certificate trusted.
func intake(t *testing.T, a *adyenStandIn) (*local.Env, *local.Intake, webhook.Secret) {
	t.Helper()
	env, err := local.Open(t.TempDir(), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(a.srv.URL)
	sec := webhookSecret(t)
	in := env.NewIntake(local.IntakeOptions{
		Secret:      sec,
		Policy:      fetch.Policy{Hosts: []string{u.Host}, AllowAddr: func(a netip.Addr) bool { return a.IsLoopback() }},
		Credentials: func(context.Context) (string, string, error) { return reportUser, reportPass, nil },
		TLS:         a.srv.Client().Transport.(*http.Transport).TLSClientConfig,
	})
	return env, in, sec
}

func post(t *testing.T, in *local.Intake, sec webhook.Secret, body []byte) (webhook.Response, []local.FileResult) {
	t.Helper()
	h := http.Header{}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(sec.Username+":"+sec.Password)))
	resp, results, err := in.Receive(t.Context(), webhook.Request{Method: "POST", Header: h, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	return resp, results
}

func sign(t *testing.T, sec webhook.Secret, r adyen.Report) []byte {
	t.Helper()
	k, err := adyen.ParseKey(sec.HMACKey)
	if err != nil {
		t.Fatal(err)
	}
	return webhook.ReportNotification(k, r)
}

// A signed REPORT_AVAILABLE webhook: the report is downloaded behind basic auth into the raw bucket under
// incoming/<merchant>/<file>, the pipeline commits its batch; the same notification again is a
// duplicate; a regenerated report under the same name is a conflict with the committed batch.
func TestSignedWebhookCommitsTheBatch(t *testing.T) {
	a := newAdyenStandIn(t)
	sample, err := os.ReadFile(filepath.Join("..", "..", "testdata", "sample", "settlement_detail_report_batch_57.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rep := a.report("settlement_detail_report_batch_57.csv")
	a.serve("/reports/download/MerchantAccount/AcmeShopNL/settlement_detail_report_batch_57.csv", sample)
	env, in, sec := intake(t, a)
	body := sign(t, sec, rep)

	resp, results := post(t, in, sec, body)
	if resp.Status != 200 || resp.Body != "[accepted]" {
		t.Fatalf("answer %d %s", resp.Status, resp.Body)
	}
	if len(results) != 1 || results[0].Status != local.Succeeded || results[0].File != "incoming/AcmeShopNL/settlement_detail_report_batch_57.csv" || results[0].RowsWritten != 11 {
		t.Fatalf("results %+v, want the batch committed from incoming/AcmeShopNL/…", results)
	}
	b, _, err := env.Processed.Get(t.Context(), workflow.ManifestPrefix+"adyen/AcmeShopNL/57.json")
	var m workflow.Manifest
	if err != nil || json.Unmarshal(b, &m) != nil || m.Source.Key != results[0].File || m.Counts.RowsWritten != 11 {
		t.Errorf("manifest %s: %v", b, err)
	}
	raw, _, err := env.Raw.Get(t.Context(), results[0].File)
	if err != nil || !bytes.Equal(raw, sample) {
		t.Errorf("the raw bucket holds %d bytes (%v), want the report", len(raw), err)
	}

	// Adyen delivers the same notification again: same bytes, same ETag, a duplicate.
	_, again := post(t, in, sec, body)
	if len(again) != 1 || again[0].Status != local.Duplicate || again[0].ETag != results[0].ETag {
		t.Errorf("redelivery: %+v, want DUPLICATE of etag %s", again, results[0].ETag)
	}

	// Adyen regenerates the report under the same name with other content for the same batch.
	var regen bytes.Buffer
	if _, err := gen.Write(&regen, gen.Config{Rows: 40, Seed: 3, Merchant: "AcmeShopNL", Batch: 57, SettlementDate: "2024-05-03"}); err != nil {
		t.Fatal(err)
	}
	a.serve("/reports/download/MerchantAccount/AcmeShopNL/settlement_detail_report_batch_57.csv", regen.Bytes())
	_, conflict := post(t, in, sec, body)
	if len(conflict) != 1 || conflict[0].Status != local.Failed || !strings.HasPrefix(conflict[0].Error, "ConflictError") || conflict[0].ETag == results[0].ETag {
		t.Errorf("regenerated report: %+v, want a ConflictError with a new etag", conflict)
	}
}

// What must not be fetched is not: a wrong signature, a wrong password, a URL on another host; a 404
// and a wrong report user end in the fetch dead-letter queue with their reason.
func TestWebhookRefusalsFetchNothing(t *testing.T) {
	a := newAdyenStandIn(t)
	a.serve("/reports/download/MerchantAccount/AcmeShopNL/settlement_detail_report_batch_57.csv", []byte("x"))
	env, in, sec := intake(t, a)
	rep := a.report("settlement_detail_report_batch_57.csv")

	other := sec
	other.HMACKey = strings.Repeat("0F", 32)
	if resp, results := post(t, in, sec, sign(t, other, rep)); resp.Status != 403 || len(results) != 0 {
		t.Errorf("wrong HMAC: %d %v", resp.Status, results)
	}
	wrong := sec
	wrong.Password = "guess"
	if resp, results := post(t, in, wrong, sign(t, sec, rep)); resp.Status != 401 || len(results) != 0 {
		t.Errorf("wrong basic auth: %d %v", resp.Status, results)
	}
	evil := rep
	evil.URL = "https://reports.evil.example/reports/download/MerchantAccount/AcmeShopNL/settlement_detail_report_batch_57.csv"
	if resp, results := post(t, in, sec, sign(t, sec, evil)); resp.Status != 200 || len(results) != 0 || resp.Skipped[adyen.SkipDisallowed] != 1 {
		t.Errorf("another host: %d %v %v", resp.Status, results, resp.Skipped)
	}
	if a.hits != 0 {
		t.Errorf("the report host was called %d times", a.hits)
	}
	if objs, _ := env.Raw.List(t.Context(), ""); len(objs) != 0 {
		t.Errorf("raw bucket: %v", objs)
	}

	missing := a.report("settlement_detail_report_batch_58.csv")
	_, results := post(t, in, sec, sign(t, sec, missing))
	if len(results) != 1 || results[0].Status != local.Failed || !strings.Contains(results[0].Error, "not-found") {
		t.Errorf("404: %+v", results)
	}
	files, _ := filepath.Glob(filepath.Join(env.Dir, local.FetchDLQDir, "*.json"))
	if len(files) != 1 {
		t.Fatalf("fetch DLQ: %v", files)
	}
	b, _ := os.ReadFile(files[0])
	var dl fetch.DeadLetter
	if json.Unmarshal(b, &dl) != nil || dl.Reason != fetch.ReasonNotFound || dl.Key != "incoming/AcmeShopNL/settlement_detail_report_batch_58.csv" || dl.Action == "" {
		t.Errorf("dead letter %s", b)
	}
	if strings.Contains(string(b), reportPass) {
		t.Error("the dead letter quotes the report user's password")
	}
}
