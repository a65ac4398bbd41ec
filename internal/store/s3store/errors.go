package s3store

import (
	"errors"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// transientCodes are S3 error codes worth another attempt that the SDK's own retry tables leave
// out, because they need a short wait (a concurrent writer, a refreshed credential) or describe
// bytes damaged in transit rather than the request itself.
var transientCodes = map[string]bool{
	"InternalError":              true,
	"ServiceUnavailable":         true,
	"OperationAborted":           true, // a conflicting operation on the same bucket or key is in progress
	"ConditionalRequestConflict": true, // a concurrent conditional write; the next attempt decides
	"RequestTimeTooSkewed":       true,
	"ExpiredToken":               true,
	"BadDigest":                  true, // the body was damaged on the way
	"IncompleteBody":             true,
}

// retryable reports whether an S3 or SDK failure is worth retrying later: 5xx and throttling
// (SlowDown), request timeouts, network failures, a garbled response and the SDK giving up after its
// own retries. Access denied, other 4xx and errors it does not recognize are not: a retry storm on a
// request that cannot succeed would only delay its report. (A context deadline is recognised by
// store.IsTransient itself.)
func retryable(err error) bool {
	var quota ratelimit.QuotaExceededError
	if errors.As(err, &quota) {
		return true // the client's retry budget ran dry because S3 kept failing
	}
	if v := retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err); v != aws.UnknownTernary {
		return v == aws.TrueTernary
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		code := status.HTTPStatusCode()
		if code >= 500 || code == http.StatusTooManyRequests {
			return true
		}
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return transientCodes[apiErr.ErrorCode()] || apiErr.ErrorFault() == smithy.FaultServer
	}
	var deser *smithy.DeserializationError
	return errors.As(err, &deser) // a garbled or truncated response, not a verdict on the request
}

// isS3NotFound recognizes a missing key: NoSuchKey from GET, NotFound from HEAD (which has no body,
// so the SDK names the error after the status, and a missing bucket looks the same there).
// NoSuchBucket and NoSuchUpload are not missing objects.
func isS3NotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var apiErr smithy.APIError
	return errors.As(err, &nsk) || errors.As(err, &nf) ||
		errors.As(err, &apiErr) && (apiErr.ErrorCode() == "NoSuchKey" || apiErr.ErrorCode() == "NotFound")
}

func isS3Code(err error, code string, status int) bool {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == code {
		return true
	}
	var st interface{ HTTPStatusCode() int }
	return errors.As(err, &st) && st.HTTPStatusCode() == status
}
