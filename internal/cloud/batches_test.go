package cloud_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/paysettle/settle/internal/cloud"
	"github.com/paysettle/settle/internal/workflow"
)

// The batch check opens the table of record when it checks it, not when its function starts: an S3
// Tables table that cannot be reached then fails the table check only, and the ledgers' alerts still go.
func TestBatchesOpensTheTableAtTheCheck(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	for k, v := range map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_ENDPOINT_URL": srv.URL, "AWS_MAX_ATTEMPTS": "1", "AWS_EC2_METADATA_DISABLED": "true", "AWS_XRAY_SDK_DISABLED": "true"} {
		t.Setenv(k, v)
	}
	env := map[string]string{"PROCESSED_BUCKET": "processed", "ALERT_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:alerts",
		cloud.EnvTableBucketARN: "arn:aws:s3tables:eu-west-1:123456789012:bucket/settle-dev-123456789012"}
	opened := 0
	_, err := cloud.NewBatches(t.Context(), func(k string) string { return env[k] }, func(workflow.TableHome) workflow.TableReader {
		opened++
		return nil
	})
	if err != nil {
		t.Fatalf("the batches function did not start: %v", err)
	}
	if n := requests.Load(); n != 0 || opened != 0 {
		t.Errorf("starting the function made %d requests and opened the table %d times; want none", n, opened)
	}
}
