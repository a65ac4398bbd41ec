// Package webhook is the receiver of Adyen's standard notification webhook: it checks the basic-auth
// credentials configured for the webhook and the HMAC signature of every notification item, answers
// "[accepted]" as soon as the reports are queued, and queues one fetch.Request per REPORT_AVAILABLE item
// of a report the file-name pattern selects, whose download URL is the one its signed merchant account
// and file name make on an allowed host. Every other item is acknowledged and counted, not fetched.
// A request with wrong credentials, an item with a wrong signature, a body that is not a notification
// or a report on the Adyen environment the stack does not download from is refused (and counted),
// without logging the payload's secrets; Adyen keeps a refused notification in its retry queue, so
// nothing is lost while a misconfiguration is fixed.
package webhook

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/paysettle/settle/internal/adyen"
	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/obs"
)

// Accepted is the body Adyen expects from a webhook endpoint that took the notification.
const Accepted = "[accepted]"

// MaxBody is the largest notification accepted (Lambda function URLs take at most 6 MB).
const MaxBody = 6 << 20

// Rejection is why a request was refused. Its values are few and fixed (a metric dimension).
type Rejection string

// Reasons to refuse a request.
const (
	RejectCredentials Rejection = "credentials" // missing or wrong basic-auth credentials
	RejectSignature   Rejection = "signature"   // an item without a valid HMAC signature
	RejectMalformed   Rejection = "malformed"   // not a standard notification
	RejectMethod      Rejection = "method"      // not a POST
	// RejectEnvironment: a report on one of Adyen's hosts this stack does not download from, the other
	// environment's Customer Area (the stack's AdyenEnvironment or ReportHosts is wrong). Refused rather
	// than acknowledged, so that Adyen keeps the notification until the stack is fixed.
	RejectEnvironment Rejection = "environment"
)

// Queue sends a message to the webhook queue.
type Queue interface {
	Send(ctx context.Context, body []byte) error
}

// SecretSource returns the webhook's secret (cached by the caller; it is asked on every request).
type SecretSource func(ctx context.Context) (Secret, error)

// Request is an HTTP request as the receiver needs it.
type Request struct {
	Method string
	Header http.Header
	Body   []byte
}

// Response is the receiver's answer.
type Response struct {
	Status int
	Body   string
	Header map[string]string
	// Queued are the reports queued (for the caller's display); Skipped the items acknowledged only.
	Queued  []fetch.Request
	Skipped map[adyen.Skip]int
}

// Receiver receives notifications.
type Receiver struct {
	Secret  SecretSource
	Queue   Queue
	Policy  fetch.Policy // a report from a host the fetcher would refuse is acknowledged, not queued
	Pattern string       // the reports to queue; empty: adyen.DefaultReportPattern
	Log     *slog.Logger
	Metrics *obs.Metrics
}

func (r *Receiver) log() *slog.Logger {
	l := r.Log
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return l.With(obs.KeyStep, "webhook")
}

// Receive handles one request. It returns an error only for a failure of its own (the secret or the
// queue unreachable): the function then fails, Adyen gets no "[accepted]" and retries later.
func (r *Receiver) Receive(ctx context.Context, req Request) (Response, error) {
	log := r.log()
	if req.Method != http.MethodPost {
		return r.reject(ctx, log, RejectMethod, http.StatusMethodNotAllowed, "method "+req.Method), nil
	}
	sec, err := r.Secret(ctx)
	if err != nil {
		log.ErrorContext(ctx, "webhook secret unavailable; the notification is not accepted (Adyen retries it)", "error", err)
		return Response{}, fmt.Errorf("webhook secret: %w", err)
	}
	if sec.Username == "" || sec.Password == "" {
		log.ErrorContext(ctx, "the webhook secret has no username or password: every notification is refused until it has")
		return r.reject(ctx, log, RejectCredentials, http.StatusUnauthorized, "no credentials configured"), nil
	}
	user, pass, ok := basicAuth(req.Header.Get("Authorization"))
	// Both compared, whatever the first gives, in time independent of their contents.
	if okUser, okPass := equal(user, sec.Username), equal(pass, sec.Password); !ok || !okUser || !okPass {
		resp := r.reject(ctx, log, RejectCredentials, http.StatusUnauthorized, "wrong or missing basic-auth credentials")
		resp.Header["WWW-Authenticate"] = `Basic realm="settle webhook"`
		return resp, nil
	}
	if len(req.Body) > MaxBody {
		return r.reject(ctx, log, RejectMalformed, http.StatusRequestEntityTooLarge, fmt.Sprintf("body of %d bytes", len(req.Body))), nil
	}
	n, err := adyen.ParseNotification(req.Body)
	if err != nil {
		return r.reject(ctx, log, RejectMalformed, http.StatusBadRequest, err.Error()), nil
	}
	keys, err := sec.keys()
	if err != nil {
		log.ErrorContext(ctx, "the webhook secret's HMAC key is missing or not hexadecimal: every notification is refused until it is set", "error", err)
		return r.reject(ctx, log, RejectSignature, http.StatusForbidden, "no usable hmac key configured"), nil
	}
	for i, it := range n.Items {
		if !adyen.Verify(it, keys...) {
			return r.reject(ctx, log, RejectSignature, http.StatusForbidden,
				fmt.Sprintf("item %d (%s) has no valid HMAC signature", i+1, it.EventCode)), nil
		}
	}

	pattern := r.Pattern
	if pattern == "" {
		pattern = adyen.DefaultReportPattern
	}
	resp := Response{Status: http.StatusOK, Body: Accepted, Header: map[string]string{"Content-Type": "text/plain"}, Skipped: map[adyen.Skip]int{}}
	for i, it := range n.Items {
		rep, skip, detail := adyen.ReportOf(it, n.Live, pattern)
		if skip == "" {
			if _, err := r.Policy.CheckURL(rep.URL); err != nil {
				if u, _ := url.Parse(rep.URL); u != nil && fetch.IsAdyenHost(u) {
					// Adyen's own host, which this stack does not download from: a genuine notification for
					// the other environment, or one replayed with the other environment's URL.
					return r.reject(ctx, log, RejectEnvironment, http.StatusUnprocessableEntity,
						fmt.Sprintf("item %d (%s): %v; set the stack's AdyenEnvironment (or ReportHosts) to the environment whose webhook calls it", i+1, it.EventCode, err)), nil
				}
				skip, detail = adyen.SkipDisallowed, err.Error()
			}
		}
		if skip != "" {
			resp.Skipped[skip]++
			log.InfoContext(ctx, "notification item acknowledged, nothing to fetch", "event_code", it.EventCode, "reason", string(skip), "detail", detail, "psp_reference", it.PSPReference)
			r.Metrics.Entry().Dimensions([]string{}, []string{obs.DimReason}).Dimension(obs.DimReason, string(skip)).
				Put(obs.NotificationsSkipped, 1, obs.Count).Property("event_code", it.EventCode).Emit(ctx)
			continue
		}
		resp.Queued = append(resp.Queued, fetch.FromReport(rep))
	}
	for _, q := range resp.Queued {
		body, _ := json.Marshal(q)
		if err := r.Queue.Send(ctx, body); err != nil {
			log.ErrorContext(ctx, "webhook queue unavailable; the notification is not accepted (Adyen retries it)", "error", err, obs.KeyKey, q.Key())
			return Response{}, fmt.Errorf("queue report %s: %w", q.Key(), err)
		}
		host := ""
		if u, err := url.Parse(q.URL); err == nil {
			host = u.Host
		}
		log.InfoContext(ctx, "report queued for download", obs.KeyKey, q.Key(), obs.KeyMerchant, q.MerchantAccount, "host", host, "live", q.Live)
		r.Metrics.Entry().Put(obs.ReportsQueued, 1, obs.Count).Property(obs.KeyKey, q.Key()).Emit(ctx)
	}
	return resp, nil
}

// reject answers a refused request and counts it. detail names no secret.
func (r *Receiver) reject(ctx context.Context, log *slog.Logger, why Rejection, status int, detail string) Response {
	log.WarnContext(ctx, "webhook request refused", "reason", string(why), "status", status, "detail", detail)
	r.Metrics.Entry().Dimensions([]string{}, []string{obs.DimReason}).Dimension(obs.DimReason, string(why)).
		Put(obs.WebhookRejected, 1, obs.Count).Emit(ctx)
	return Response{Status: status, Body: http.StatusText(status), Header: map[string]string{"Content-Type": "text/plain"}}
}

// basicAuth reads an Authorization: Basic header.
func basicAuth(h string) (user, pass string, ok bool) {
	const prefix = "basic "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h[len(prefix):]))
	if err != nil {
		return "", "", false
	}
	user, pass, ok = strings.Cut(string(raw), ":")
	return user, pass, ok
}

// equal compares two strings in time that depends on neither (their hashes have one length).
func equal(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// HandleURL is the Lambda function URL handler.
func (r *Receiver) HandleURL(ctx context.Context, ev events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			resp := r.reject(ctx, r.log(), RejectMalformed, http.StatusBadRequest, "body is not base64")
			return events.LambdaFunctionURLResponse{StatusCode: resp.Status, Body: resp.Body, Headers: resp.Header}, nil
		}
		body = b
	}
	h := http.Header{}
	for k, v := range ev.Headers {
		h.Set(k, v)
	}
	resp, err := r.Receive(ctx, Request{Method: ev.RequestContext.HTTP.Method, Header: h, Body: body})
	if err != nil {
		return events.LambdaFunctionURLResponse{}, &UnavailableError{Err: err}
	}
	return events.LambdaFunctionURLResponse{StatusCode: resp.Status, Body: resp.Body, Headers: resp.Header}, nil
}

// UnavailableError is the receiver failing on its own account: the function URL answers 502, Adyen retries.
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string { return "webhook unavailable: " + e.Err.Error() }
func (e *UnavailableError) Unwrap() error { return e.Err }
