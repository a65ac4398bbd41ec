package fetch_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/store"
)

func sample(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "sample", "settlement_detail_report_batch_57.csv"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const file57 = "settlement_detail_report_batch_57.csv"

func fetchErr(t *testing.T, err error) *fetch.Error {
	t.Helper()
	var fe *fetch.Error
	if !errors.As(err, &fe) {
		t.Fatalf("error %v is not a *fetch.Error", err)
	}
	return fe
}

// assertNothingStored checks that no object, finished or not, is under incoming/.
func assertNothingStored(t *testing.T, raw store.Bucket) {
	t.Helper()
	objs, err := raw.List(t.Context(), fetch.RawPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 0 {
		t.Errorf("stored %v, want nothing", objs)
	}
}

func TestFetchStoresTheReport(t *testing.T) {
	body := sample(t)
	a := newAdyen(t, map[string][]byte{reportPath(file57): body})
	f, raw := fetcher(t, a, newClock())
	req := request(a, file57)
	res, err := f.Fetch(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(body)
	if res.Object.Key != "incoming/AcmeShopNL/"+file57 || res.Object.Size != int64(len(body)) || res.Object.ETag != hex.EncodeToString(sum[:]) || res.Attempts != 1 {
		t.Errorf("Fetch = %+v, want incoming/AcmeShopNL/%s, %d bytes, etag %x, 1 attempt", res, file57, len(body), sum)
	}
	rc, err := raw.Open(t.Context(), req.Key(), "")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, body) {
		t.Error("the stored bytes differ from the report")
	}

	// The same notification again: the same key and bytes, so the same ETag (the starter then counts a
	// duplicate), and still one object.
	again, err := f.Fetch(t.Context(), req)
	if err != nil || again.Object.ETag != res.Object.ETag {
		t.Errorf("second fetch: %+v, %v; want etag %s", again, err, res.Object.ETag)
	}
	if objs, _ := raw.List(t.Context(), fetch.RawPrefix); len(objs) != 1 {
		t.Errorf("objects after two fetches: %v", objs)
	}
}

func TestFetchFinalAnswers(t *testing.T) {
	a := newAdyen(t, map[string][]byte{reportPath(file57): sample(t)})
	for _, c := range []struct {
		name   string
		req    func() fetch.Request
		creds  *[2]string
		handle http.HandlerFunc
		reason fetch.Reason
		status int
		action string
	}{
		{name: "wrong basic auth", req: func() fetch.Request { return request(a, file57) }, creds: &[2]string{reportUser, "wrong"}, reason: fetch.ReasonUnauthorized, status: 401, action: "report user secret"},
		{name: "no credentials", req: func() fetch.Request { return request(a, file57) }, creds: &[2]string{"", ""}, reason: fetch.ReasonUnauthorized, status: 401},
		{name: "not found", req: func() fetch.Request { return request(a, "settlement_detail_report_batch_99.csv") }, reason: fetch.ReasonNotFound, status: 404, action: "Customer Area"},
		{name: "forbidden", req: func() fetch.Request { return request(a, file57) }, handle: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusForbidden) }, reason: fetch.ReasonForbidden, status: 403, action: "role"},
		{name: "gone", req: func() fetch.Request { return request(a, file57) }, handle: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "gone", http.StatusGone) }, reason: fetch.ReasonStatus, status: 410},
	} {
		t.Run(c.name, func(t *testing.T) {
			clock := newClock()
			f, raw := fetcher(t, a, clock)
			if c.creds != nil {
				f.Credentials = func(context.Context) (string, string, error) { return c.creds[0], c.creds[1], nil }
			}
			if c.handle != nil {
				old := a.handler
				a.set(c.handle)
				defer a.set(old)
			}
			before := a.requests.Load()
			_, err := f.Fetch(t.Context(), c.req())
			fe := fetchErr(t, err)
			if fe.Reason != c.reason || fe.Status != c.status || !fe.Permanent() || fe.Attempts != 1 {
				t.Errorf("%v: reason %s status %d permanent %v attempts %d; want %s %d, final after 1", err, fe.Reason, fe.Status, fe.Permanent(), fe.Attempts, c.reason, c.status)
			}
			if !strings.Contains(fe.Action(), c.action) {
				t.Errorf("action %q lacks %q", fe.Action(), c.action)
			}
			if n := a.requests.Load() - before; n != 1 || len(clock.Sleeps()) != 0 {
				t.Errorf("%d requests, waits %v; a final answer is not retried", n, clock.Sleeps())
			}
			if strings.Contains(err.Error(), reportPassword) || strings.Contains(err.Error(), "wrong") {
				t.Errorf("the error %q quotes the password", err)
			}
			assertNothingStored(t, raw)
		})
	}
}

// A flapping 503: retried with backoff (on the fake clock: no real waiting), honouring Retry-After,
// until the report comes.
func TestFetchRetriesFlapping503(t *testing.T) {
	body := sample(t)
	a := newAdyen(t, nil)
	fails := 2
	a.set(func(w http.ResponseWriter, r *http.Request) {
		if fails > 0 {
			fails--
			w.Header().Set("Retry-After", "3")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(body)
	})
	clock := newClock()
	f, raw := fetcher(t, a, clock)
	f.Rand = func() float64 { return 0.5 }
	res, err := f.Fetch(t.Context(), request(a, file57))
	if err != nil || res.Attempts != 3 {
		t.Fatalf("Fetch = %+v, %v; want stored on the third attempt", res, err)
	}
	// Full jitter at 0.5 of 1 s then 2 s, raised to the 3 s the server asked for.
	if got, want := clock.Sleeps(), []time.Duration{3 * time.Second, 3 * time.Second}; !reflect.DeepEqual(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}
	if _, err := raw.Head(t.Context(), res.Object.Key); err != nil {
		t.Errorf("not stored: %v", err)
	}
}

func TestFetchGivesUpOnPersistent5xx(t *testing.T) {
	a := newAdyen(t, nil)
	a.set(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusBadGateway) })
	clock := newClock()
	f, raw := fetcher(t, a, clock)
	f.Attempts = 5
	f.MaxBackoff = 5 * time.Second
	_, err := f.Fetch(t.Context(), request(a, file57))
	fe := fetchErr(t, err)
	if fe.Reason != fetch.ReasonUnavailable || fe.Permanent() || fe.Attempts != 5 || fe.Status != 502 {
		t.Errorf("%v: %+v, want unavailable after 5 attempts, not final", err, fe)
	}
	// Ceilings 1, 2, 4, then capped at 5 s (Rand returns 1: the ceiling itself).
	if got, want := clock.Sleeps(), []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second}; !reflect.DeepEqual(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}
	if a.requests.Load() != 5 {
		t.Errorf("%d requests, want 5", a.requests.Load())
	}
	assertNothingStored(t, raw)
}

// A host that does not answer: the header timeout (on the fake clock) ends the attempt, the next one
// gets the report.
func TestFetchTimesOut(t *testing.T) {
	body := sample(t)
	a := newAdyen(t, nil)
	clock := newClock()
	hung := false
	a.set(func(w http.ResponseWriter, r *http.Request) {
		if !hung {
			hung = true
			clock.Advance(fetch.DefaultHeaderTimeout) // the time passes while Adyen says nothing
			<-r.Context().Done()
			return
		}
		_, _ = w.Write(body)
	})
	f, raw := fetcher(t, a, clock)
	res, err := f.Fetch(t.Context(), request(a, file57))
	if err != nil || res.Attempts != 2 {
		t.Fatalf("Fetch = %+v, %v; want stored on the second attempt", res, err)
	}
	if obj, err := raw.Head(t.Context(), res.Object.Key); err != nil || obj.Size != int64(len(body)) {
		t.Errorf("stored %+v, %v", obj, err)
	}
}

// lateHeaderTimer is a clock whose first header timer fires at the moment it is stopped: the answer
// came just as the header timeout passed.
type lateHeaderTimer struct {
	*fakeClock
	fired bool
}

func (c *lateHeaderTimer) AfterFunc(d time.Duration, f func()) func() bool {
	if !c.fired && d == fetch.DefaultHeaderTimeout {
		c.fired = true
		return func() bool { f(); return false }
	}
	return c.fakeClock.AfterFunc(d, f)
}

// An answer that arrives as the header timeout passes: the attempt was canceled under it, and that is a
// timeout worth another attempt, not a final failure to store the report.
func TestFetchAnswerAtTheHeaderTimeout(t *testing.T) {
	body := sample(t)
	a := newAdyen(t, nil)
	a.set(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body) })
	clock := &lateHeaderTimer{fakeClock: newClock()}
	f, raw := fetcher(t, a, clock.fakeClock)
	f.Clock = clock
	res, err := f.Fetch(t.Context(), request(a, file57))
	if err != nil || res.Attempts != 2 {
		t.Fatalf("Fetch = %+v, %v; want stored on the second attempt", res, err)
	}
	if obj, err := raw.Head(t.Context(), res.Object.Key); err != nil || obj.Size != int64(len(body)) {
		t.Errorf("stored %+v, %v", obj, err)
	}
}

// A body that stalls halfway: the idle timeout ends the attempt, the half report is never visible,
// and the next attempt stores the whole one.
func TestFetchStalledBodyLeavesNothingHalfWritten(t *testing.T) {
	body := sample(t)
	a := newAdyen(t, nil)
	clock := newClock()
	stalls := 1
	a.set(func(w http.ResponseWriter, r *http.Request) {
		if stalls > 0 {
			stalls--
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			_, _ = w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
			for { // the time passes while the fetcher waits for the rest
				select {
				case <-r.Context().Done():
					return
				case <-clock.armed:
					clock.Advance(fetch.DefaultIdleTimeout + time.Second)
				}
			}
		}
		_, _ = w.Write(body)
	})
	f, raw := fetcher(t, a, clock)
	f.Attempts = 1
	_, err := f.Fetch(t.Context(), request(a, file57))
	if fe := fetchErr(t, err); fe.Reason != fetch.ReasonUnavailable || fe.Permanent() {
		t.Fatalf("stalled: %v, want unavailable, not final", err)
	}
	assertNothingStored(t, raw)
	f.Clock = newClock() // the stalled handler may still be letting the first clock's time pass
	res, err := f.Fetch(t.Context(), request(a, file57))
	if err != nil || res.Object.Size != int64(len(body)) {
		t.Errorf("after the stall: %+v, %v", res, err)
	}
}

// URLs the policy refuses are never requested.
func TestFetchRefusesURLs(t *testing.T) {
	a := newAdyen(t, map[string][]byte{reportPath(file57): sample(t)})
	other := newAdyen(t, map[string][]byte{reportPath(file57): sample(t)})
	for _, c := range []struct {
		name, url, want string
	}{
		{"another host", other.url(reportPath(file57)), "not one of the allowed hosts"},
		{"plain http", strings.Replace(a.url(reportPath(file57)), "https://", "http://", 1), `scheme "http"`},
		{"credentials in the URL", strings.Replace(a.url(reportPath(file57)), "https://", "https://u:p@", 1), "carries credentials"},
		{"instance metadata", "https://169.254.169.254/latest/" + file57, "not one of the allowed hosts"},
		{"a look-alike host", "https://ca-test.adyen.com.evil.example/" + file57, "not one of the allowed hosts"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, raw := fetcher(t, a, newClock())
			req := request(a, file57)
			req.URL = c.url
			_, err := f.Fetch(t.Context(), req)
			fe := fetchErr(t, err)
			if fe.Reason != fetch.ReasonRefused || !fe.Permanent() || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v, want refused: %s", err, c.want)
			}
			if a.requests.Load()+other.requests.Load() != 0 {
				t.Errorf("the refused URL was requested")
			}
			assertNothingStored(t, raw)
		})
	}
}

// Without the tests' loopback override, the allowed host's address (127.0.0.1) is refused when dialled:
// the check is on the address, whatever the name.
func TestFetchRefusesPrivateAddressWithoutOverride(t *testing.T) {
	a := newAdyen(t, map[string][]byte{reportPath(file57): sample(t)})
	f, raw := fetcher(t, a, newClock())
	f.Policy.AllowAddr = nil // the production check
	_, err := f.Fetch(t.Context(), request(a, file57))
	fe := fetchErr(t, err)
	if fe.Reason != fetch.ReasonRefused || !fe.Permanent() || !strings.Contains(err.Error(), "address 127.0.0.1 is not public") {
		t.Errorf("%v, want refused: address 127.0.0.1 is not public", err)
	}
	if a.requests.Load() != 0 {
		t.Error("the loopback server was reached")
	}
	assertNothingStored(t, raw)

	// The same with a name that resolves to loopback (localhost), as DNS rebinding would arrange.
	f2, _ := fetcher(t, a, newClock())
	f2.Policy = fetch.Policy{Hosts: []string{"localhost:" + a.srv.URL[strings.LastIndex(a.srv.URL, ":")+1:]}}
	req := request(a, file57)
	req.URL = strings.Replace(req.URL, "127.0.0.1", "localhost", 1)
	if _, err := f2.Fetch(t.Context(), req); !strings.Contains(errString(err), "is not public") {
		t.Errorf("localhost: %v, want refused as not public", err)
	}
	if a.requests.Load() != 0 {
		t.Error("the loopback server was reached through localhost")
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestFetchRedirects(t *testing.T) {
	body := sample(t)
	a := newAdyen(t, map[string][]byte{"/moved/" + file57: body})
	other := newAdyen(t, map[string][]byte{reportPath(file57): body})
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body) }))
	t.Cleanup(plain.Close)
	base := a.handler
	for _, c := range []struct {
		name, location string
		ok             bool
	}{
		{"same host", "/moved/" + file57, true},
		{"another host", other.url(reportPath(file57)), false},
		{"a private address over http", plain.URL + "/" + file57, false},
		{"instance metadata", "http://169.254.169.254/latest/meta-data/", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			a.set(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == reportPath(file57) {
					http.Redirect(w, r, c.location, http.StatusFound)
					return
				}
				base(w, r)
			})
			f, raw := fetcher(t, a, newClock())
			res, err := f.Fetch(t.Context(), request(a, file57))
			if c.ok {
				if err != nil || res.Object.Size != int64(len(body)) {
					t.Errorf("Fetch = %+v, %v; want the report", res, err)
				}
				return
			}
			fe := fetchErr(t, err)
			if fe.Reason != fetch.ReasonRefused || !strings.Contains(err.Error(), "redirect to another host") {
				t.Errorf("%v, want refused: a redirect to another host", err)
			}
			if other.requests.Load() != 0 {
				t.Error("the other host was reached")
			}
			assertNothingStored(t, raw)
		})
	}
}

func TestFetchTooLargeByContentLength(t *testing.T) {
	a := newAdyen(t, nil)
	a.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.FormatInt(10<<30, 10))
		w.WriteHeader(http.StatusOK) // 10 GB announced; nothing sent before the client gives up
	})
	f, raw := fetcher(t, a, newClock())
	_, err := f.Fetch(t.Context(), request(a, file57))
	fe := fetchErr(t, err)
	if fe.Reason != fetch.ReasonTooLarge || !fe.Permanent() || fe.Attempts != 1 {
		t.Errorf("%v, want too-large, final", err)
	}
	assertNothingStored(t, raw)
}

func TestPublicAddr(t *testing.T) {
	for s, want := range map[string]bool{
		"52.95.110.1": true, "2a05:d018::1": true, "8.8.8.8": true,
		"127.0.0.1": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "fd00:ec2::254": false, "0.0.0.0": false, "::": false,
		"100.64.0.1": false, "224.0.0.1": false, "255.255.255.255": false, "::ffff:127.0.0.1": false,
		"::ffff:10.0.0.1": false, "64:ff9b::a00:1": false, "2002:a00:1::": false, "2001:0:a00:1::": false,
		"198.18.0.1": false, "192.0.2.1": false,
	} {
		if got := fetch.PublicAddr(netip.MustParseAddr(s)); got != want {
			t.Errorf("PublicAddr(%s) = %v, want %v", s, got, want)
		}
	}
}

func TestCheckURL(t *testing.T) {
	def := fetch.Policy{}
	for _, c := range []struct {
		p   fetch.Policy
		url string
		ok  bool
	}{
		{def, "https://ca-test.adyen.com/reports/download/MerchantAccount/M/r.csv", true},
		{def, "https://CA-LIVE.adyen.com/reports/download/MerchantAccount/M/r.csv", true},
		{def, "https://ca-live.adyen.com:443/r.csv", true},
		{def, "https://ca-live.adyen.com:8443/r.csv", false},
		{def, "http://ca-live.adyen.com/r.csv", false},
		{def, "https://adyen.com/r.csv", false},
		{def, "https://ca-test.adyen.com.evil.example/r.csv", false},
		{def, "https://evil.example#@ca-test.adyen.com/r.csv", false},
		{def, "//ca-test.adyen.com/r.csv", false},
		{def, "file:///etc/passwd", false},
		{fetch.Policy{Hosts: []string{"127.0.0.1:8443"}}, "https://127.0.0.1:8443/r.csv", true},
		{fetch.Policy{Hosts: []string{"127.0.0.1:8443"}}, "https://127.0.0.1/r.csv", false},
		{fetch.Policy{DevServer: netip.MustParseAddrPort("127.0.0.1:8000")}, "http://127.0.0.1:8000/r.csv", true},
		{fetch.Policy{DevServer: netip.MustParseAddrPort("127.0.0.1:8000")}, "https://127.0.0.1:8000/r.csv", true},
		{fetch.Policy{DevServer: netip.MustParseAddrPort("127.0.0.1:8000")}, "http://ca-live.adyen.com/r.csv", false},
		{fetch.Policy{DevServer: netip.MustParseAddrPort("127.0.0.1:8000")}, "http://127.0.0.1:8001/r.csv", false},
		{fetch.Policy{DevServer: netip.MustParseAddrPort("127.0.0.1:80")}, "http://127.0.0.1/r.csv", true},
		{fetch.Policy{DevServer: netip.MustParseAddrPort("127.0.0.1:8000")}, "http://localhost:8000/r.csv", false},
		{fetch.Policy{DevServer: netip.MustParseAddrPort("[::1]:8000")}, "http://[::1]:8000/r.csv", true},
		{fetch.Policy{DevServer: netip.MustParseAddrPort("10.0.0.1:8000")}, "http://10.0.0.1:8000/r.csv", false}, // not loopback
		{fetch.Policy{Hosts: []string{"127.0.0.1:8000"}}, "http://127.0.0.1:8000/r.csv", false},
	} {
		_, err := c.p.CheckURL(c.url)
		if (err == nil) != c.ok {
			t.Errorf("%+v CheckURL(%q) = %v, want ok %v", c.p.Hosts, c.url, err, c.ok)
		}
	}
	if h, err := fetch.ParseHosts(" ca-test.adyen.com , Reports.Example.com:8443 "); err != nil || !reflect.DeepEqual(h, []string{"ca-test.adyen.com", "reports.example.com:8443"}) {
		t.Errorf("ParseHosts = %v, %v", h, err)
	}
	if h, _ := fetch.ParseHosts(""); !reflect.DeepEqual(h, fetch.DefaultHosts) {
		t.Errorf("ParseHosts(\"\") = %v", h)
	}
	if _, err := fetch.ParseHosts("https://x/"); err == nil {
		t.Error("ParseHosts accepted a URL")
	}
}

func TestRequestForURL(t *testing.T) {
	r, err := fetch.RequestForURL("https://ca-test.adyen.com/reports/download/MerchantAccount/AcmeShopNL/"+file57, "")
	if err != nil || r.MerchantAccount != "AcmeShopNL" || r.FileName != file57 || r.Key() != "incoming/AcmeShopNL/"+file57 {
		t.Errorf("RequestForURL = %+v, %v", r, err)
	}
	if r, err := fetch.RequestForURL("http://127.0.0.1:8000/reports/download/MerchantAccount/AcmeShopNL/"+file57, "AcmeShopNL"); err != nil || r.Key() != "incoming/AcmeShopNL/"+file57 {
		t.Errorf("with --merchant: %+v, %v", r, err)
	}
	for _, bad := range []string{"http://127.0.0.1:8000/" + file57, "not a url", "https://h/reports/download/MerchantAccount/../x.csv",
		"https://h/x/reports/download/MerchantAccount/AcmeShopNL/" + file57, "https://h/reports/download/MerchantAccount/AcmeShopNL/" + file57 + "?x=1"} {
		if _, err := fetch.RequestForURL(bad, ""); err == nil {
			t.Errorf("RequestForURL(%q) accepted", bad)
		}
	}
	// A merchant account given apart from the URL must be the URL's: the URL names the report.
	for _, bad := range []string{"http://127.0.0.1:8000/" + file57, "https://h/reports/download/MerchantAccount/OtherShopDE/" + file57} {
		if _, err := fetch.RequestForURL(bad, "AcmeShopNL"); err == nil {
			t.Errorf("RequestForURL(%q, AcmeShopNL) accepted", bad)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	env := map[string]string{"REPORT_USER_SECRET_ARN": "arn:s", "FETCH_DLQ_URL": "https://sqs/dlq"}
	c, err := fetch.LoadConfig(func(k string) string { return env[k] })
	if err != nil || c.Attempts != fetch.DefaultAttempts || !reflect.DeepEqual(c.Hosts, fetch.DefaultHosts) || c.SecretID != "arn:s" || c.DLQURL != "https://sqs/dlq" {
		t.Errorf("LoadConfig = %+v, %v", c, err)
	}
	for _, bad := range []map[string]string{{"FETCH_ATTEMPTS": "0"}, {"FETCH_ATTEMPTS": "x"}, {"REPORT_HOSTS": "https://h/"}} {
		if _, err := fetch.LoadConfig(func(k string) string { return bad[k] }); err == nil {
			t.Errorf("LoadConfig(%v) accepted", bad)
		}
	}
	if u, p, err := fetch.ParseCredentials(`{"username":"report_1@Company.A","password":"pw"}`); err != nil || u != "report_1@Company.A" || p != "pw" {
		t.Errorf("ParseCredentials = %s %s %v", u, p, err)
	}
	if _, _, err := fetch.ParseCredentials(`{"user":"hunter2"}`); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("ParseCredentials of a wrong secret: %v", err)
	}
}
