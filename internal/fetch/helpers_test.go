package fetch_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/store"
)

// fakeClock is the fetcher's clock in tests: Sleep records the wait and returns at once, moving the
// time on; timers fire when the test (or a server handler playing a slow Adyen) advances the time.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
	timers []*fakeTimer
	// armed gets a signal for every timer set, so that a handler playing a stalled host can let the
	// time pass exactly when the fetcher is waiting.
	armed chan struct{}
}

type fakeTimer struct {
	at      time.Time
	f       func()
	stopped bool
}

func newClock() *fakeClock {
	return &fakeClock{now: time.Date(2024, 5, 3, 6, 0, 0, 0, time.UTC), armed: make(chan struct{}, 1)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	c.Advance(d)
	return ctx.Err()
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	select {
	case c.armed <- struct{}{}:
	default:
	}
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !t.stopped
		t.stopped = true
		return was
	}
}

// Advance moves the time on by d and fires the timers due, in order.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	keep := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case !t.at.After(c.now):
			t.stopped = true
			due = append(due, t)
		default:
			keep = append(keep, t)
		}
	}
	c.timers = keep
	c.mu.Unlock()
	sort.Slice(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, t := range due {
		t.f()
	}
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// adyen is an httptest TLS server playing Adyen's report host: it serves reports behind basic auth, and
// its handler can be replaced per test to redirect, fail or stall. It counts the requests it gets.
type adyen struct {
	srv      *httptest.Server
	requests atomic.Int64
	mu       sync.Mutex
	handler  http.HandlerFunc
}

const (
	reportUser     = "report_123456@Company.AcmeCo"
	reportPassword = "correct horse battery staple"
)

func newAdyen(t *testing.T, reports map[string][]byte) *adyen {
	t.Helper()
	a := &adyen{}
	a.handler = func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != reportUser || p != reportPassword {
			w.Header().Set("WWW-Authenticate", `Basic realm="Adyen"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		body, ok := reports[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/csv")
		_, _ = w.Write(body)
	}
	a.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.requests.Add(1)
		a.mu.Lock()
		h := a.handler
		a.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *adyen) set(h http.HandlerFunc) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.handler = h
}

// host is the server's host:port, as the policy allows it.
func (a *adyen) host() string { u, _ := url.Parse(a.srv.URL); return u.Host }

func (a *adyen) url(path string) string { return a.srv.URL + path }

func (a *adyen) tls() *tls.Config {
	return a.srv.Client().Transport.(*http.Transport).TLSClientConfig
}

// loopback is the explicit test override of the private-address check: 127.0.0.1 and ::1 only.
func loopback(a netip.Addr) bool { return a.IsLoopback() }

// fetcher fetches from a into a folder bucket, with the fake clock and the loopback override.
func fetcher(t *testing.T, a *adyen, clock *fakeClock) (*fetch.Fetcher, store.Bucket) {
	t.Helper()
	raw, err := store.NewDir("raw", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &fetch.Fetcher{
		Raw:         raw,
		Policy:      fetch.Policy{Hosts: []string{a.host()}, AllowAddr: loopback},
		Credentials: func(context.Context) (string, string, error) { return reportUser, reportPassword, nil },
		MaxBytes:    1 << 20,
		TLS:         a.tls(),
		Clock:       clock,
		Rand:        func() float64 { return 1 }, // the backoff's ceiling, so the waits are predictable
	}, raw
}

const merchant = "AcmeShopNL"

func reportPath(file string) string {
	return "/reports/download/MerchantAccount/" + merchant + "/" + file
}

func request(a *adyen, file string) fetch.Request {
	return fetch.Request{MerchantAccount: merchant, FileName: file, URL: a.url(reportPath(file))}
}
