package webhook_test

import (
	"reflect"
	"testing"

	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/obs"
	"github.com/paysettle/settle/internal/webhook"
)

// A signed notification for one merchant account pointed at another account's report (the URL is not
// signed) is acknowledged and skipped: nothing is queued.
func TestAnotherAccountsReportIsNotQueued(t *testing.T) {
	e := newEnv(t)
	other := report57
	other.URL = "https://ca-test.adyen.com/reports/download/MerchantAccount/OtherShopDE/" + file57
	body := webhook.ReportNotification(key(t, e.secret.HMACKey), other)
	resp := e.postSigned(t, body)
	if resp.Status != 200 || len(e.queue.msgs) != 0 || resp.Skipped["malformed"] != 1 {
		t.Errorf("answer %d, skipped %v, queued %v; want [accepted], one malformed, nothing queued", resp.Status, resp.Skipped, e.queue.msgs)
	}
}

// A stack downloads from its own Adyen environment only. A report on the other environment's Customer
// Area is refused, not acknowledged: Adyen keeps the notification and retries it, so that a stack
// deployed with the wrong AdyenEnvironment loses nothing once it is fixed, and the refusal is alarmed on.
func TestTheOtherEnvironmentsHostIsRefused(t *testing.T) {
	for _, c := range []struct {
		name  string
		hosts []string // as REPORT_HOSTS gives them on the stack
		url   string
	}{
		{"a test report on a live stack", []string{"ca-live.adyen.com"}, "https://ca-test.adyen.com/reports/download/MerchantAccount/AcmeShopNL/" + file57},
		{"a live report on a test stack", []string{"ca-test.adyen.com"}, "https://ca-live.adyen.com/reports/download/MerchantAccount/AcmeShopNL/" + file57},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.recv.Policy = fetch.Policy{Hosts: c.hosts}
			r := report57
			r.URL = c.url
			body := webhook.ReportNotification(key(t, e.secret.HMACKey), r)
			resp := e.postSigned(t, body)
			if resp.Status < 400 || resp.Body == webhook.Accepted || len(e.queue.msgs) != 0 {
				t.Errorf("answer %d %q, queued %v; want a refusal Adyen retries, nothing queued", resp.Status, resp.Body, e.queue.msgs)
			}
			if got := e.counts(t); !reflect.DeepEqual(got, map[string]float64{obs.WebhookRejected + "/environment": 1}) {
				t.Errorf("metrics %v, want one WebhookRejected environment", got)
			}
			e.noSecretsLogged(t, body)
		})
	}
	// Its own environment's report is queued.
	e := newEnv(t)
	e.recv.Policy = fetch.Policy{Hosts: []string{"ca-test.adyen.com"}}
	if resp := e.postSigned(t, webhook.ReportNotification(key(t, e.secret.HMACKey), report57)); resp.Status != 200 || len(e.queue.msgs) != 1 {
		t.Errorf("a test report on a test stack: %d, queued %v", resp.Status, e.queue.msgs)
	}
}
