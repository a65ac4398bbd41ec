package fetch_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/fetch"
)

// IPv6 forms that carry an IPv4 address are not public, whatever the IPv4 address: IPv4-compatible
// (::/96), IPv4-mapped (::ffff:0:0/96), IPv4-translated (::ffff:0:0:0/96) and NAT64 (64:ff9b::/96,
// 64:ff9b:1::/48). A gateway or a dual-stack host could reach the embedded address with them.
func TestPublicAddrRefusesEmbeddedIPv4(t *testing.T) {
	for _, s := range []string{
		"::7f00:1", "::a00:1", "::a9fe:a9fe", "::808:808", "::1.2.3.4", // IPv4-compatible
		"::ffff:8.8.8.8", "::ffff:52.95.110.1", // IPv4-mapped, even of a public address
		"::ffff:0:7f00:1", "::ffff:0:a00:1", "::ffff:0:808:808", // IPv4-translated
		"64:ff9b::808:808", "64:ff9b::7f00:1", "64:ff9b:1::a00:1", // NAT64
	} {
		if fetch.PublicAddr(netip.MustParseAddr(s)) {
			t.Errorf("PublicAddr(%s) = true: an IPv6 address embedding IPv4 is not public", s)
		}
	}
	for _, s := range []string{"2a05:d018::1", "2600:1f18::1", "52.95.110.1"} {
		if !fetch.PublicAddr(netip.MustParseAddr(s)) {
			t.Errorf("PublicAddr(%s) = false, want true", s)
		}
	}
}

// The download URL is not signed: a signed notification for one account pointed at another account's
// report, or at the right report through a path trick, is never fetched.
func TestFetchOnlyTheSignedAccountsReport(t *testing.T) {
	a := newAdyen(t, map[string][]byte{
		reportPath(file57): sample(t),
		"/reports/download/MerchantAccount/OtherShopDE/" + file57: sample(t),
	})
	good := request(a, file57)
	base := a.url("/reports/download/MerchantAccount/")
	for _, c := range []struct{ name, url string }{
		{"another account's report", base + "OtherShopDE/" + file57},
		{"a longer path", a.url("/x" + reportPath(file57))},
		{"a path above the account", a.url("/reports/download/" + file57)},
		{"a dot segment", base + "OtherShopDE/../AcmeShopNL/" + file57},
		{"an encoded slash", base + "OtherShopDE%2F..%2FAcmeShopNL/" + file57},
		{"an encoded letter", base + "%41cmeShopNL/" + file57},
		{"a double slash", base + "AcmeShopNL//" + file57},
		{"a query", good.URL + "?merchantAccount=OtherShopDE"},
		{"an empty query", good.URL + "?"},
		{"a fragment", good.URL + "#x"},
		{"another case", base + "acmeshopnl/" + file57},
		{"a trailing slash", good.URL + "/"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := good
			req.URL = c.url
			if err := req.Check(); err == nil {
				t.Errorf("Check(%s) = nil, want the URL refused", c.url)
			}
			f, raw := fetcher(t, a, newClock())
			before := a.requests.Load()
			_, err := f.Fetch(t.Context(), req)
			if fe := fetchErr(t, err); fe.Reason != fetch.ReasonMalformed || !fe.Permanent() || !strings.Contains(err.Error(), "download URL") {
				t.Errorf("%v, want malformed: the download URL", err)
			}
			if a.requests.Load() != before {
				t.Error("the URL was requested")
			}
			assertNothingStored(t, raw)
		})
	}
	if err := good.Check(); err != nil {
		t.Errorf("Check of the signed account's report: %v", err)
	}
}

// A message of the fetch dead-letter queue moved back to the webhook queue as it is (SQS's redrive)
// is its request again, not a malformed message.
func TestHandlerTakesBackADeadLetter(t *testing.T) {
	a := newAdyen(t, map[string][]byte{reportPath(file57): sample(t)})
	f, raw := fetcher(t, a, newClock())
	dlq := &queue{}
	h := &fetch.Handler{Fetcher: f, DLQ: dlq}
	req := request(a, file57)
	letter, _ := json.Marshal(fetch.DeadLetter{Request: &req, Key: req.Key(), Reason: fetch.ReasonUnauthorized, Status: 401,
		Error: "fetch …: unauthorized", Action: "…", Attempts: 1, Time: "2024-05-03T06:00:00Z"})
	var out fetch.Outcome
	h.OnResult = func(o fetch.Outcome) { out = o }
	resp, _ := h.Handle(t.Context(), sqsEvent(string(letter)))
	if len(resp.BatchItemFailures) != 0 || out.Err != nil || out.Result.Object.Key != req.Key() {
		t.Fatalf("a dead letter redriven as it is: %+v, %+v; want its report stored", resp, out)
	}
	if _, err := raw.Head(t.Context(), req.Key()); err != nil {
		t.Errorf("not stored: %v", err)
	}
	if len(dlq.msgs) != 0 {
		t.Errorf("dead-lettered again: %s", dlq.msgs)
	}
	// A dead letter of a malformed message carries no request: it stays malformed.
	bodyOnly, _ := json.Marshal(fetch.DeadLetter{Body: `{"not":"a request"}`, Reason: fetch.ReasonMalformed, Error: "x", Action: "y", Time: "t"})
	h.Handle(t.Context(), sqsEvent(string(bodyOnly)))
	if out.Err == nil || out.Err.Reason != fetch.ReasonMalformed || !out.DeadLettered {
		t.Errorf("a dead letter without a request: %+v, want malformed", out)
	}
}

// A dev server (settle fetch --dev-server) is reached over plain http at its address and port, without
// the tests' loopback override; the password goes over plain http to nothing else, and another port of
// the same address is not dialled.
func TestDevServerOnly(t *testing.T) {
	body := sample(t)
	var hits int
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		if u, p, ok := r.BasicAuth(); !ok || u != reportUser || p != reportPassword || r.URL.Path != reportPath(file57) {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(plain.Close)
	dev := netip.MustParseAddrPort(strings.TrimPrefix(plain.URL, "http://"))
	a := newAdyen(t, map[string][]byte{reportPath(file57): body})

	f, raw := fetcher(t, a, newClock())
	f.Policy = fetch.Policy{DevServer: dev} // the production address check otherwise
	req := fetch.Request{MerchantAccount: merchant, FileName: file57, URL: plain.URL + reportPath(file57)}
	if res, err := f.Fetch(t.Context(), req); err != nil || res.Object.Size != int64(len(body)) {
		t.Fatalf("from the dev server: %+v, %v", res, err)
	}
	if _, err := raw.Head(t.Context(), req.Key()); err != nil {
		t.Errorf("not stored: %v", err)
	}

	// The TLS stand-in on another port of the same address, its host allowed: the address is loopback,
	// and only the dev server's port of it may be dialled.
	f2, _ := fetcher(t, a, newClock())
	f2.Policy = fetch.Policy{Hosts: []string{a.host()}, DevServer: dev}
	if _, err := f2.Fetch(t.Context(), request(a, file57)); !strings.Contains(errString(err), "is not public") {
		t.Errorf("another port of the dev server's address: %v, want refused as not public", err)
	}
	if a.requests.Load() != 0 {
		t.Error("the other port was reached")
	}

	// Plain http to an allowed host that is not the dev server is refused before anything is sent.
	f3, _ := fetcher(t, a, newClock())
	f3.Policy = fetch.Policy{Hosts: []string{"ca-live.adyen.com", a.host()}, DevServer: dev, AllowAddr: loopback}
	for _, u := range []string{"http://ca-live.adyen.com" + reportPath(file57), "http://" + a.host() + reportPath(file57)} {
		r := req
		r.URL = u
		_, err := f3.Fetch(t.Context(), r)
		if fe := fetchErr(t, err); fe.Reason != fetch.ReasonRefused || !strings.Contains(err.Error(), `scheme "http": only https is allowed, and plain http to the dev server `+dev.String()+" only") {
			t.Errorf("%s: %v, want refused: plain http to the dev server only", u, err)
		}
	}
	if hits != 1 || a.requests.Load() != 0 {
		t.Errorf("requests: dev server %d, TLS stand-in %d; want 1 and 0", hits, a.requests.Load())
	}
}
