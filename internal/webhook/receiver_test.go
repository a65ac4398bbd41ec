package webhook_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/paysettle/settle/internal/adyen"
	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/obs"
	"github.com/paysettle/settle/internal/testkit/emftest"
	"github.com/paysettle/settle/internal/webhook"
)

// exampleSecret is testdata/webhook/secret.json, the example secret of the README and events/.
func exampleSecret(t *testing.T) webhook.Secret {
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

type memQueue struct {
	mu   sync.Mutex
	msgs []string
	fail error
}

func (q *memQueue) Send(_ context.Context, b []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail != nil {
		return q.fail
	}
	q.msgs = append(q.msgs, string(b))
	return nil
}

type env struct {
	recv    *webhook.Receiver
	queue   *memQueue
	secret  webhook.Secret
	logs    *bytes.Buffer
	metrics *bytes.Buffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{queue: &memQueue{}, secret: exampleSecret(t), logs: &bytes.Buffer{}, metrics: &bytes.Buffer{}}
	e.recv = &webhook.Receiver{
		Secret:  func(context.Context) (webhook.Secret, error) { return e.secret, nil },
		Queue:   e.queue,
		Log:     obs.NewLogger(e.logs, nil),
		Metrics: obs.NewMetrics(e.metrics, "Settle"),
	}
	return e
}

func key(t *testing.T, hex string) adyen.Key {
	t.Helper()
	k, err := adyen.ParseKey(hex)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

const file57 = "settlement_detail_report_batch_57.csv"

var report57 = adyen.Report{MerchantAccount: "AcmeShopNL", FileName: file57, EventDate: "2024-05-03T06:00:00+02:00",
	URL: "https://ca-test.adyen.com/reports/download/MerchantAccount/AcmeShopNL/" + file57}

func (e *env) post(t *testing.T, body []byte, user, pass string) webhook.Response {
	t.Helper()
	h := http.Header{}
	if user != "" || pass != "" {
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	}
	resp, err := e.recv.Receive(t.Context(), webhook.Request{Method: http.MethodPost, Header: h, Body: body})
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	return resp
}

func (e *env) postSigned(t *testing.T, body []byte) webhook.Response {
	t.Helper()
	return e.post(t, body, e.secret.Username, e.secret.Password)
}

// counts sums the receiver's metrics by name and reason.
func (e *env) counts(t *testing.T) map[string]float64 {
	t.Helper()
	docs, err := emftest.Collect(bytes.NewReader(e.metrics.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, d := range docs {
		for name, vs := range d.Values {
			reason, _ := d.Members[obs.DimReason].(string)
			for _, v := range vs {
				out[name+"/"+reason] += v
			}
		}
	}
	return out
}

// noSecretsLogged checks that the logs and metrics quote neither the credentials, the key nor a signature.
func (e *env) noSecretsLogged(t *testing.T, bodies ...[]byte) {
	t.Helper()
	out := e.logs.String() + e.metrics.String()
	secrets := []string{e.secret.Password, e.secret.HMACKey, base64.StdEncoding.EncodeToString([]byte(e.secret.Username + ":" + e.secret.Password))}
	for _, b := range bodies {
		var n struct {
			Items []struct {
				Item struct {
					AdditionalData map[string]string `json:"additionalData"`
				} `json:"NotificationRequestItem"`
			} `json:"notificationItems"`
		}
		_ = json.Unmarshal(b, &n)
		for _, it := range n.Items {
			if s := it.Item.AdditionalData["hmacSignature"]; s != "" {
				secrets = append(secrets, s)
			}
		}
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(out, s) {
			t.Errorf("the logs or metrics quote a secret (%.6s…)", s)
		}
	}
}

func TestSignedReportIsQueued(t *testing.T) {
	e := newEnv(t)
	body := webhook.ReportNotification(key(t, e.secret.HMACKey), report57)
	resp := e.postSigned(t, body)
	if resp.Status != 200 || resp.Body != webhook.Accepted {
		t.Fatalf("answer %d %q, want 200 [accepted]", resp.Status, resp.Body)
	}
	want, _ := json.Marshal(fetch.Request{MerchantAccount: "AcmeShopNL", FileName: file57, URL: report57.URL, EventDate: report57.EventDate})
	if !reflect.DeepEqual(e.queue.msgs, []string{string(want)}) {
		t.Errorf("queued %q, want %s", e.queue.msgs, want)
	}
	if c := e.counts(t); c[obs.ReportsQueued+"/"] != 1 || len(c) != 1 {
		t.Errorf("metrics %v, want one ReportsQueued", c)
	}
	e.noSecretsLogged(t, body)
}

// Refused requests: nothing is queued, each is counted by reason, and no secret reaches the logs.
func TestRefused(t *testing.T) {
	good := exampleSecret(t)
	signed := webhook.ReportNotification(key(t, good.HMACKey), report57)
	otherKey := webhook.ReportNotification(key(t, strings.Repeat("AB", 32)), report57)
	changedAmount := bytes.Replace(signed, []byte(`"value": 0`), []byte(`"value": 100000`), 1)
	if bytes.Equal(changedAmount, signed) {
		t.Fatal("the amount was not changed")
	}
	unsigned := bytes.Replace(signed, []byte(`"hmacSignature"`), []byte(`"unsigned"`), 1)
	for _, c := range []struct {
		name       string
		body       []byte
		user, pass string
		method     string
		status     int
		reason     webhook.Rejection
	}{
		{"wrong password", signed, good.Username, "guess", "", 401, webhook.RejectCredentials},
		{"wrong user", signed, "admin", good.Password, "", 401, webhook.RejectCredentials},
		{"no credentials", signed, "", "", "", 401, webhook.RejectCredentials},
		{"wrong HMAC key", otherKey, good.Username, good.Password, "", 403, webhook.RejectSignature},
		{"replayed with a changed amount", changedAmount, good.Username, good.Password, "", 403, webhook.RejectSignature},
		{"no signature", unsigned, good.Username, good.Password, "", 403, webhook.RejectSignature},
		{"not a notification", []byte(`{"hello":"world"}`), good.Username, good.Password, "", 400, webhook.RejectMalformed},
		{"a GET", nil, good.Username, good.Password, http.MethodGet, 405, webhook.RejectMethod},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			h := http.Header{}
			if c.user != "" || c.pass != "" {
				h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.user+":"+c.pass)))
			}
			method := c.method
			if method == "" {
				method = http.MethodPost
			}
			resp, err := e.recv.Receive(t.Context(), webhook.Request{Method: method, Header: h, Body: c.body})
			if err != nil || resp.Status != c.status || resp.Body == webhook.Accepted {
				t.Errorf("answer %d %q (%v), want %d", resp.Status, resp.Body, err, c.status)
			}
			if len(e.queue.msgs) != 0 {
				t.Errorf("queued %v", e.queue.msgs)
			}
			if got := e.counts(t); !reflect.DeepEqual(got, map[string]float64{obs.WebhookRejected + "/" + string(c.reason): 1}) {
				t.Errorf("metrics %v, want one WebhookRejected %s", got, c.reason)
			}
			e.noSecretsLogged(t, c.body)
		})
	}
}

// Items that are not a selected report are acknowledged (Adyen must not retry them) and counted.
func TestAcknowledgedNotFetched(t *testing.T) {
	e := newEnv(t)
	k := key(t, e.secret.HMACKey)
	otherReport := report57
	otherReport.FileName = "payments_accounting_report_2024_05_03.csv"
	otherReport.URL = "https://ca-test.adyen.com/reports/download/MerchantAccount/AcmeShopNL/" + otherReport.FileName
	evilHost := report57
	evilHost.URL = "https://reports.evil.example/reports/download/MerchantAccount/AcmeShopNL/" + file57
	privateIP := report57
	privateIP.URL = "https://169.254.169.254/reports/download/MerchantAccount/AcmeShopNL/" + file57
	for _, c := range []struct {
		name string
		body []byte
		skip adyen.Skip
	}{
		{"another report", webhook.ReportNotification(k, otherReport), adyen.SkipPattern},
		{"a URL on another host", webhook.ReportNotification(k, evilHost), adyen.SkipDisallowed},
		{"a private address", webhook.ReportNotification(k, privateIP), adyen.SkipDisallowed},
		{"a payment event", signedItem(t, k, `{"eventCode":"AUTHORISATION","success":"true","pspReference":"7914073381342284","merchantAccountCode":"AcmeShopNL","merchantReference":"ORD-1","amount":{"value":1130,"currency":"EUR"}}`), adyen.SkipEvent},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			resp := e.postSigned(t, c.body)
			if resp.Status != 200 || resp.Body != webhook.Accepted || resp.Skipped[c.skip] != 1 {
				t.Errorf("answer %d %q skipped %v, want [accepted] with one %s", resp.Status, resp.Body, resp.Skipped, c.skip)
			}
			if len(e.queue.msgs) != 0 {
				t.Errorf("queued %v", e.queue.msgs)
			}
			if got := e.counts(t); !reflect.DeepEqual(got, map[string]float64{obs.NotificationsSkipped + "/" + string(c.skip): 1}) {
				t.Errorf("metrics %v", got)
			}
			e.noSecretsLogged(t, c.body)
		})
	}
}

// signedItem wraps one item's JSON in a notification with its signature.
func signedItem(t *testing.T, k adyen.Key, itemJSON string) []byte {
	t.Helper()
	n, err := adyen.ParseNotification([]byte(`{"live":"false","notificationItems":[{"NotificationRequestItem":` + itemJSON + `}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal([]byte(itemJSON), &m)
	m["additionalData"] = map[string]string{"hmacSignature": adyen.Sign(k, adyen.SigningString(n.Items[0]))}
	b, _ := json.Marshal(map[string]any{"live": "false", "notificationItems": []any{map[string]any{"NotificationRequestItem": m}}})
	return b
}

func TestKeyRotationAndMisconfiguration(t *testing.T) {
	e := newEnv(t)
	old := e.secret.HMACKey
	e.secret.HMACKey, e.secret.PreviousHMACKey = strings.Repeat("CD", 32), old
	if resp := e.postSigned(t, webhook.ReportNotification(key(t, old), report57)); resp.Status != 200 {
		t.Errorf("signed with the previous key: %d, want accepted", resp.Status)
	}
	e.secret.PreviousHMACKey = ""
	if resp := e.postSigned(t, webhook.ReportNotification(key(t, old), report57)); resp.Status != 403 {
		t.Errorf("signed with a key no longer configured: %d, want 403", resp.Status)
	}
	e.secret.HMACKey = ""
	if resp := e.postSigned(t, webhook.ReportNotification(key(t, old), report57)); resp.Status != 403 || !strings.Contains(e.logs.String(), "hmac key is missing") && !strings.Contains(e.logs.String(), "HMAC key is missing") {
		t.Errorf("no key configured: %d, logs %s", resp.Status, e.logs)
	}
	e.secret = webhook.Secret{HMACKey: old}
	if resp := e.post(t, webhook.ReportNotification(key(t, old), report57), "", ""); resp.Status != 401 {
		t.Errorf("no credentials configured, none sent: %d, want 401", resp.Status)
	}
}

// The receiver's own failures (secret or queue unreachable) are errors: no [accepted], Adyen retries.
func TestUnavailable(t *testing.T) {
	e := newEnv(t)
	body := webhook.ReportNotification(key(t, e.secret.HMACKey), report57)
	e.queue.fail = errors.New("sqs down")
	if _, err := e.recv.Receive(t.Context(), webhook.Request{Method: "POST", Header: authHeader(e.secret), Body: body}); err == nil {
		t.Error("queue down: accepted")
	}
	e.queue.fail = nil
	e.recv.Secret = func(context.Context) (webhook.Secret, error) {
		return webhook.Secret{}, errors.New("secrets manager down")
	}
	if _, err := e.recv.Receive(t.Context(), webhook.Request{Method: "POST", Header: authHeader(e.secret), Body: body}); err == nil {
		t.Error("secret unavailable: accepted")
	}
}

func authHeader(s webhook.Secret) http.Header {
	h := http.Header{}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(s.Username+":"+s.Password)))
	return h
}

// The function URL adapter: lower-case headers, a base64 body, and a failure as the function's error.
func TestHandleURL(t *testing.T) {
	e := newEnv(t)
	body := webhook.ReportNotification(key(t, e.secret.HMACKey), report57)
	ev := events.LambdaFunctionURLRequest{
		Headers:         map[string]string{"authorization": authHeader(e.secret).Get("Authorization"), "content-type": "application/json"},
		Body:            base64.StdEncoding.EncodeToString(body),
		IsBase64Encoded: true,
	}
	ev.RequestContext.HTTP.Method = "POST"
	resp, err := e.recv.HandleURL(t.Context(), ev)
	if err != nil || resp.StatusCode != 200 || resp.Body != webhook.Accepted || len(e.queue.msgs) != 1 {
		t.Errorf("HandleURL = %+v, %v; queued %d", resp, err, len(e.queue.msgs))
	}
	e.queue.fail = errors.New("down")
	_, err = e.recv.HandleURL(t.Context(), ev)
	var ue *webhook.UnavailableError
	if !errors.As(err, &ue) {
		t.Errorf("queue down: %v, want an UnavailableError", err)
	}
}

func TestParseSecret(t *testing.T) {
	s, err := webhook.ParseSecret(`{"username":"u","password":"p","hmacKey":"AB","previousHmacKey":"CD"}`)
	if err != nil || s != (webhook.Secret{Username: "u", Password: "p", HMACKey: "AB", PreviousHMACKey: "CD"}) {
		t.Errorf("ParseSecret = %+v, %v", s, err)
	}
	for _, bad := range []string{`hunter2`, `{"username":"u","password":5}`, `{"user":"u"}`} {
		_, err := webhook.ParseSecret(bad)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseSecret(%q) = %v", bad, err)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	env := map[string]string{"WEBHOOK_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:1:secret:w", "WEBHOOK_QUEUE_URL": "https://sqs/q"}
	c, err := webhook.LoadConfig(func(k string) string { return env[k] })
	if err != nil || c.Pattern != adyen.DefaultReportPattern || !reflect.DeepEqual(c.Hosts, fetch.DefaultHosts) || c.SecretID == "" || c.QueueURL == "" {
		t.Errorf("LoadConfig = %+v, %v", c, err)
	}
	env["REPORT_FILE_PATTERN"] = "["
	if _, err := webhook.LoadConfig(func(k string) string { return env[k] }); err == nil {
		t.Error("a bad pattern was accepted")
	}
}
