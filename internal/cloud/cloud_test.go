package cloud_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/paysettle/settle/internal/cloud"
	"github.com/paysettle/settle/internal/workflow"
)

// TestThrottledStartIsARetry: Step Functions' StartExecution throttling, as the SDK decodes it from the
// wire, is neither success nor "already exists": the starter retries that one message.
func TestThrottledStartIsARetry(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.Header.Get("X-Amz-Target") != "AWSStepFunctions.StartExecution" {
			t.Errorf("unexpected call %s", r.Header.Get("X-Amz-Target"))
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"__type":"com.amazon.coral.availability#ThrottlingException","message":"Rate exceeded"}`))
	}))
	defer srv.Close()
	client := sfn.New(sfn.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL), Retryer: aws.NopRetryer{},
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
	})
	x := cloud.Executions{Client: client, StateMachineARN: "arn:aws:states:eu-west-1:123456789012:stateMachine:settlement"}

	err := x.Start(context.Background(), "abc", []byte(`{}`))
	if err == nil || errors.Is(err, workflow.ErrExecutionExists) {
		t.Fatalf("Start = %v, want a throttling error that is not ErrExecutionExists", err)
	}
	out, name, err := workflow.Launch(context.Background(), x, "abc", []byte(`{}`), nil)
	if out != workflow.Retry || name != "abc" || err == nil {
		t.Errorf("Launch = %s %s %v, want retry", out, name, err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d calls, want 2 (no retries by the test's client)", n)
	}
}
