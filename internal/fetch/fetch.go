// Package fetch downloads the reports Adyen announces into the raw bucket: streamed (memory does not grow
// with the report), bounded by the pipeline's largest file, from allowed hosts only (see Policy), with the
// report user's basic-auth credentials, retried with backoff on 5xx, throttling and timeouts. A 401, 403
// or 404, a refused URL and a report that is too large are final: the queue handler (Handler) puts them
// in the fetch dead-letter queue with a reason and what to do.
//
// A report lands under incoming/<merchant account>/<file name>, where S3's Object Created event starts
// the pipeline. The same notification twice stores the same bytes under the same key: the same ETag, so
// the starter counts a duplicate. A regenerated report under the same name becomes a new version of the
// object, and the pipeline's rule for a batch committed from other content applies.
package fetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/paysettle/settle/internal/store"
)

// Reason is why a fetch failed. Its values are few and fixed (a metric dimension).
type Reason string

// Reasons a fetch fails.
const (
	ReasonUnauthorized Reason = "unauthorized" // 401: the report user's credentials are wrong
	ReasonForbidden    Reason = "forbidden"    // 403: the report user may not read this report
	ReasonNotFound     Reason = "not-found"    // 404: no such report (or not yet, or no longer)
	ReasonRefused      Reason = "refused"      // the URL, a redirect or the address is outside the Policy
	ReasonTooLarge     Reason = "too-large"    // larger than the largest file the pipeline accepts
	ReasonStatus       Reason = "http-status"  // another 4xx answer
	ReasonMalformed    Reason = "malformed"    // the request itself cannot be used
	ReasonUnavailable  Reason = "unavailable"  // 5xx, throttling, timeouts or network errors outlasted the retries
)

// Error is a failed fetch.
type Error struct {
	Reason   Reason
	Status   int    // the HTTP status, when an answer came
	URL      string // host and path (a URL the policy allows carries no credentials)
	Attempts int
	Err      error
	// transient marks a failure worth another attempt.
	transient bool
}

func (e *Error) Error() string {
	msg := "fetch " + e.URL + ": " + string(e.Reason)
	if e.Status != 0 {
		msg += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.Attempts > 1 {
		msg += fmt.Sprintf(" after %d attempts", e.Attempts)
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent reports whether another attempt would fail the same way.
func (e *Error) Permanent() bool { return !e.transient && e.Reason != ReasonUnavailable }

// Action says what an operator should do about the failure.
func (e *Error) Action() string {
	switch e.Reason {
	case ReasonUnauthorized:
		return "check the report user's username and password in the report user secret (Customer Area: Developers > API credentials, the report_… user), then redrive this message to the webhook queue"
	case ReasonForbidden:
		return "give the report user the Merchant Report Download role for this merchant account, then redrive this message to the webhook queue"
	case ReasonNotFound:
		return "check that the report exists in the Customer Area (Reports); download it there and upload it under incoming/ if it is not served at this URL"
	case ReasonRefused:
		return "the URL is not on an allowed host (REPORT_HOSTS) or leads to a private address: if the host is Adyen's, add it to the ReportHosts parameter and redrive; otherwise ignore the message"
	case ReasonTooLarge:
		return "raise the MaxFileBytes parameter if the report is genuine, then redrive; or split the report"
	case ReasonMalformed:
		return "the message is not a report request; nothing to fetch"
	case ReasonUnavailable:
		return "Adyen's report host kept failing; redrive this message to the webhook queue once it answers"
	}
	return "read the error, fix the cause, then redrive this message to the webhook queue"
}

// Result is a report stored in the raw bucket.
type Result struct {
	Object   store.Object
	Attempts int
}

// Credentials returns the report user's username and password; an empty username sends no credentials.
type Credentials func(ctx context.Context) (username, password string, err error)

// Clock is the fetcher's time: waits between attempts and the timeouts. Tests use a fake one and never
// wait for real time.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done.
	Sleep(ctx context.Context, d time.Duration) error
	// AfterFunc calls f once d has passed, unless stop is called first.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// RealClock is the wall clock.
type RealClock struct{}

// Now is time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// Sleep waits for d or ctx.
func (RealClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// AfterFunc is time.AfterFunc.
func (RealClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// Defaults of a Fetcher.
const (
	DefaultAttempts      = 4
	DefaultBackoff       = time.Second
	DefaultMaxBackoff    = 30 * time.Second
	DefaultHeaderTimeout = 30 * time.Second
	DefaultIdleTimeout   = 60 * time.Second
	maxRedirects         = 5
	copyBuffer           = 256 << 10
)

// Fetcher downloads reports into a bucket. Its zero values take the defaults above.
type Fetcher struct {
	Raw         store.Bucket
	Policy      Policy
	Credentials Credentials // nil: none
	MaxBytes    int64       // the largest report (MAX_FILE_BYTES); 0: no limit
	Attempts    int         // attempts per fetch, the first included
	Backoff     time.Duration
	MaxBackoff  time.Duration
	// HeaderTimeout bounds the wait for the answer's headers; IdleTimeout a pause in its body.
	HeaderTimeout, IdleTimeout time.Duration
	// TLS is the client's TLS configuration (tests trust their server's certificate with it); nil: the system's.
	TLS   *tls.Config
	Clock Clock          // nil: RealClock
	Rand  func() float64 // the backoff's full jitter, in [0,1); nil: math/rand
	Log   *slog.Logger

	once   sync.Once
	client *http.Client
}

func (f *Fetcher) clock() Clock {
	if f.Clock == nil {
		return RealClock{}
	}
	return f.Clock
}

func (f *Fetcher) log() *slog.Logger {
	if f.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return f.Log
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// httpClient is built once: the transport dials through the policy's address check and never uses a
// proxy (a proxy would resolve the name itself, out of the check's reach); redirects are followed only
// to the same scheme and host.
func (f *Fetcher) httpClient() *http.Client {
	f.once.Do(func() {
		dialer := &net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second, Control: f.Policy.control}
		tr := &http.Transport{
			Proxy:               nil,
			DialContext:         dialer.DialContext,
			TLSHandshakeTimeout: 15 * time.Second,
			ForceAttemptHTTP2:   true,
			MaxIdleConns:        4,
			IdleConnTimeout:     90 * time.Second,
		}
		if f.TLS != nil {
			tr.TLSClientConfig = f.TLS.Clone()
		}
		f.client = &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
			first := via[0].URL
			switch {
			case len(via) >= maxRedirects:
				return &RefusedError{Reason: fmt.Sprintf("more than %d redirects", maxRedirects)}
			case req.URL.Scheme != first.Scheme || req.URL.Host != first.Host:
				return &RefusedError{Reason: "a redirect to another host: " + req.URL.Scheme + "://" + req.URL.Host}
			}
			_, err := f.Policy.CheckURL(req.URL.String())
			return err
		}}
	})
	return f.client
}

// Fetch downloads req's report into the raw bucket under req.Key(), retrying transient failures. It
// returns an *Error when it fails.
func (f *Fetcher) Fetch(ctx context.Context, req Request) (Result, error) {
	where := redact(req.URL)
	u, err := f.Policy.CheckURL(req.URL)
	if err != nil {
		return Result{}, &Error{Reason: ReasonRefused, URL: where, Err: err}
	}
	if err := req.Check(); err != nil {
		return Result{}, &Error{Reason: ReasonMalformed, URL: where, Err: err}
	}
	var user, pass string
	if f.Credentials != nil {
		if user, pass, err = f.Credentials(ctx); err != nil {
			return Result{}, &Error{Reason: ReasonUnavailable, URL: where, Err: fmt.Errorf("report user credentials: %w", err), transient: true}
		}
	}
	attempts := orDefault(f.Attempts, DefaultAttempts)
	log := f.log().With("key", req.Key(), "host", u.Host)
	var last *Error
	for n := 1; n <= attempts; n++ {
		if n > 1 {
			wait := f.wait(n-1, last)
			log.WarnContext(ctx, "report fetch failed; retrying", "attempt", n-1, "reason", last.Reason, "status", last.Status, "error", errString(last.Err), "wait", wait.String())
			if err := f.clock().Sleep(ctx, wait); err != nil {
				last.Attempts = n - 1
				return Result{}, last
			}
		}
		obj, err := f.try(ctx, u, req.Key(), user, pass)
		if err == nil {
			return Result{Object: obj, Attempts: n}, nil
		}
		err.URL, err.Attempts = where, n
		if !err.transient {
			return Result{}, err
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	last.Reason, last.transient = ReasonUnavailable, false
	return Result{}, last
}

// wait is the backoff before attempt n+1: full jitter up to Backoff × 2^(n-1), at most MaxBackoff, and no
// less than a Retry-After the server asked for (when it is not beyond MaxBackoff).
func (f *Fetcher) wait(n int, last *Error) time.Duration {
	ceiling := orDefault(f.Backoff, DefaultBackoff) << min(n-1, 20)
	ceiling = min(ceiling, orDefault(f.MaxBackoff, DefaultMaxBackoff))
	r := rand.Float64
	if f.Rand != nil {
		r = f.Rand
	}
	d := time.Duration(r() * float64(ceiling))
	var ra retryAfterError
	if errors.As(last, &ra) && ra.after <= orDefault(f.MaxBackoff, DefaultMaxBackoff) {
		d = max(d, ra.after)
	}
	return d
}

// Why an attempt's context was canceled.
var (
	errHeaderTimeout = errors.New("no answer within the header timeout")
	errIdleTimeout   = errors.New("the body stalled beyond the idle timeout")
)

// retryAfterError carries a Retry-After the server sent with a 429 or 503.
type retryAfterError struct {
	status int
	after  time.Duration
}

func (e retryAfterError) Error() string {
	return fmt.Sprintf("HTTP %d, retry after %s", e.status, e.after)
}

// try is one attempt: a GET, and the body streamed into a new upload of key, committed only when the
// whole body arrived within the size limit.
func (f *Fetcher) try(ctx context.Context, u *url.URL, key, user, pass string) (store.Object, *Error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := f.clock().AfterFunc(orDefault(f.HeaderTimeout, DefaultHeaderTimeout), func() { cancel(errHeaderTimeout) })
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		stop()
		return store.Object{}, &Error{Reason: ReasonMalformed, Err: err}
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	req.Header.Set("User-Agent", "settle-report-fetcher")
	resp, err := f.httpClient().Do(req)
	if !stop() && err == nil {
		// The header timeout passed as the answer came: the attempt's context is canceled, so nothing can
		// be stored under it, and that is the timeout's failure (worth another attempt), not the store's.
		resp.Body.Close()
		return store.Object{}, &Error{Reason: ReasonUnavailable, Err: errHeaderTimeout, transient: true}
	}
	if err != nil {
		return store.Object{}, classify(ctx, err)
	}
	defer resp.Body.Close()
	if e := statusError(resp); e != nil {
		return store.Object{}, e
	}
	if f.MaxBytes > 0 && resp.ContentLength > f.MaxBytes {
		return store.Object{}, &Error{Reason: ReasonTooLarge, Status: resp.StatusCode,
			Err: fmt.Errorf("the answer announces %d bytes, more than the %d allowed (MAX_FILE_BYTES)", resp.ContentLength, f.MaxBytes)}
	}
	up, err := f.Raw.Create(ctx, key)
	if err != nil {
		return store.Object{}, &Error{Reason: ReasonUnavailable, Err: err, transient: store.IsTransient(err)}
	}
	body := &idleReader{r: resp.Body, clock: f.clock(), timeout: orDefault(f.IdleTimeout, DefaultIdleTimeout), cancel: cancel}
	defer body.stop()
	var src io.Reader = body
	if f.MaxBytes > 0 {
		src = io.LimitReader(body, f.MaxBytes+1)
	}
	n, err := io.CopyBuffer(&writeTagger{w: up}, src, make([]byte, copyBuffer))
	if err == nil && f.MaxBytes > 0 && n > f.MaxBytes {
		_ = up.Abort()
		return store.Object{}, &Error{Reason: ReasonTooLarge, Status: resp.StatusCode,
			Err: fmt.Errorf("the body is longer than the %d bytes allowed (MAX_FILE_BYTES); the upload was aborted", f.MaxBytes)}
	}
	if err != nil {
		_ = up.Abort()
		var we *writeError
		if errors.As(err, &we) {
			return store.Object{}, &Error{Reason: ReasonUnavailable, Err: we.err, transient: store.IsTransient(we.err)}
		}
		return store.Object{}, classify(ctx, err)
	}
	obj, err := up.Commit()
	if err != nil {
		return store.Object{}, &Error{Reason: ReasonUnavailable, Err: err, transient: store.IsTransient(err)}
	}
	return obj, nil
}

// statusError maps a non-200 answer: 401, 403 and 404 are final, so is any other 4xx but 408 and 429;
// 5xx, 408 and 429 are worth another attempt.
func statusError(resp *http.Response) *Error {
	code := resp.StatusCode
	switch {
	case code == http.StatusOK:
		return nil
	case code == http.StatusUnauthorized:
		return &Error{Reason: ReasonUnauthorized, Status: code, Err: errors.New("the report host refused the report user's credentials")}
	case code == http.StatusForbidden:
		return &Error{Reason: ReasonForbidden, Status: code, Err: errors.New("the report user may not download this report")}
	case code == http.StatusNotFound:
		return &Error{Reason: ReasonNotFound, Status: code, Err: errors.New("no report at this URL")}
	case code >= 500, code == http.StatusTooManyRequests, code == http.StatusRequestTimeout:
		e := &Error{Reason: ReasonUnavailable, Status: code, Err: fmt.Errorf("HTTP %d from the report host", code), transient: true}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			e.Err = retryAfterError{status: code, after: time.Duration(s) * time.Second}
		}
		return e
	case code >= 300 && code < 400:
		return &Error{Reason: ReasonRefused, Status: code, Err: errors.New("a redirect without a usable Location")}
	}
	return &Error{Reason: ReasonStatus, Status: code, Err: fmt.Errorf("HTTP %d from the report host", code)}
}

// classify maps a request or body error: a refusal by the policy and a certificate the system does not
// trust are final; timeouts, resets and other network errors are worth another attempt.
func classify(ctx context.Context, err error) *Error {
	var refused *RefusedError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch cause := context.Cause(ctx); {
	case errors.As(err, &refused):
		return &Error{Reason: ReasonRefused, Err: refused}
	case errors.Is(cause, errHeaderTimeout), errors.Is(cause, errIdleTimeout):
		return &Error{Reason: ReasonUnavailable, Err: cause, transient: true}
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid):
		return &Error{Reason: ReasonRefused, Err: fmt.Errorf("the report host's TLS certificate is not trusted: %w", err)}
	case ctx.Err() != nil && cause != nil && errors.Is(cause, context.Canceled):
		return &Error{Reason: ReasonUnavailable, Err: err}
	}
	return &Error{Reason: ReasonUnavailable, Err: unwrapURL(err), transient: true}
}

// unwrapURL drops url.Error's "Get \"…\":" prefix: the Error already names the URL.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// redact is a URL for messages: scheme, host and path, no query.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unreadable URL)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// writeError marks a failure of the upload, to keep it apart from a failure reading the answer.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }

type writeTagger struct{ w io.Writer }

func (t *writeTagger) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if err != nil {
		return n, &writeError{err}
	}
	return n, nil
}

// idleReader cancels the attempt when no byte arrives for timeout: a stalled connection must not hold
// the function until Lambda's own timeout.
type idleReader struct {
	r       io.Reader
	clock   Clock
	timeout time.Duration
	cancel  context.CancelCauseFunc
	mu      sync.Mutex
	disarm  func() bool
}

// Read arms the timer for the read only: time spent writing what was read (an upload waiting for a
// part to go out) is not the sender's stall.
func (r *idleReader) Read(p []byte) (int, error) {
	r.arm()
	n, err := r.r.Read(p)
	r.stop()
	return n, err
}

func (r *idleReader) arm() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.disarm != nil {
		r.disarm()
	}
	r.disarm = r.clock.AfterFunc(r.timeout, func() { r.cancel(errIdleTimeout) })
}

func (r *idleReader) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.disarm != nil {
		r.disarm()
	}
}
