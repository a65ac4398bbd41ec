package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/paysettle/settle/internal/store"
)

func httpErr(status int, err error) error {
	return &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      err,
	}
}

// TestWrapMarksTransient: the failures wrap marks store.Transient are the ones worth retrying.
func TestWrapMarksTransient(t *testing.T) {
	b := New(nil, "raw")
	op := func(err error) error {
		return &smithy.OperationError{ServiceID: "S3", OperationName: "GetObject", Err: err}
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"not found", fmt.Errorf("head raw/k: %w", store.ErrNotFound), false},
		{"precondition", fmt.Errorf("get s3://raw/k: %w", store.ErrPreconditionFailed), false},
		{"invalid key", fmt.Errorf("put raw: %w", store.ErrInvalidKey), false},
		{"unknown", errors.New("something else"), false},
		{"canceled", fmt.Errorf("get: %w", context.Canceled), false},
		{"deadline", op(fmt.Errorf("retry backoff: %w", context.DeadlineExceeded)), true},
		// The SDK wraps the context's error in a type its own retry tables call final.
		{"SDK deadline", op(&aws.RequestCanceledError{Err: context.DeadlineExceeded}), true},
		{"SDK canceled", op(&aws.RequestCanceledError{Err: context.Canceled}), false},
		{"503", op(httpErr(503, &smithy.GenericAPIError{Code: "ServiceUnavailable"})), true},
		{"500 without code", op(httpErr(500, errors.New("boom"))), true},
		{"SlowDown", op(httpErr(503, &smithy.GenericAPIError{Code: "SlowDown"})), true},
		{"throttling code alone", &smithy.GenericAPIError{Code: "Throttling"}, true},
		{"RequestTimeout", op(httpErr(400, &smithy.GenericAPIError{Code: "RequestTimeout"})), true},
		{"server fault", &smithy.GenericAPIError{Code: "Whatever", Fault: smithy.FaultServer}, true},
		{"access denied", op(httpErr(403, &smithy.GenericAPIError{Code: "AccessDenied"})), false},
		{"no such bucket", op(httpErr(404, &smithy.GenericAPIError{Code: "NoSuchBucket"})), false},
		{"invalid argument", op(httpErr(400, &smithy.GenericAPIError{Code: "InvalidArgument"})), false},
		{"retries exhausted", op(&retry.MaxAttemptsError{Attempt: 3, Err: httpErr(500, errors.New("boom"))}), true},
		{"retry quota", op(errors.Join(httpErr(503, nil), fmt.Errorf("failed to get rate limit token, %w", ratelimit.QuotaExceededError{}))), true},
		{"dial", op(&smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}), true},
		{"connection reset", op(&net.OpError{Op: "read", Err: syscall.ECONNRESET}), true},
		{"deserialization", op(&smithy.DeserializationError{Err: io.ErrUnexpectedEOF}), true},
		{"bare unexpected EOF", io.ErrUnexpectedEOF, false}, // a parser's, about the data
	} {
		err := tc.err
		if err != nil {
			err = b.wrap("get", "k", err)
		}
		if got := store.IsTransient(err); got != tc.want {
			t.Errorf("IsTransient(wrap(%s: %v)) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
