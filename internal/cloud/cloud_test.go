package cloud_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

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

	err := x.Start(t.Context(), "abc", []byte(`{}`))
	if err == nil || errors.Is(err, workflow.ErrExecutionExists) {
		t.Fatalf("Start = %v, want a throttling error that is not ErrExecutionExists", err)
	}
	out, name, err := workflow.Launch(t.Context(), x, "abc", []byte(`{}`), nil)
	if out != workflow.Retry || name != "abc" || err == nil {
		t.Errorf("Launch = %s %s %v, want retry", out, name, err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d calls, want 2 (no retries by the test's client)", n)
	}
}

// TestRepeatStartOfARunningExecutionIsADuplicate: StartExecution answers a start with the name and
// input of a running execution with that execution, as a success; the start date it returns, older than
// the response, tells the repeat from a new start, and Launch reports it as a duplicate delivery.
func TestRepeatStartOfARunningExecutionIsADuplicate(t *testing.T) {
	served := time.Date(2024, 5, 7, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		started time.Time
		want    workflow.Outcome
	}{
		{"new", served.Add(400 * time.Millisecond), workflow.Started}, // the Date header has whole seconds
		{"new, slow answer", served.Add(-1500 * time.Millisecond), workflow.Started},
		{"repeat", served.Add(-3 * time.Minute), workflow.Duplicate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/x-amz-json-1.0")
				w.Header().Set("Date", served.Format(http.TimeFormat))
				switch target := r.Header.Get("X-Amz-Target"); target {
				case "AWSStepFunctions.StartExecution":
					fmt.Fprintf(w, `{"executionArn":"arn:aws:states:eu-west-1:123456789012:execution:settlement:abc","startDate":%.3f}`, float64(tc.started.UnixMilli())/1000)
				case "AWSStepFunctions.DescribeExecution":
					fmt.Fprintf(w, `{"executionArn":"arn:aws:states:eu-west-1:123456789012:execution:settlement:abc","name":"abc","status":"RUNNING","startDate":%.3f}`, float64(tc.started.UnixMilli())/1000)
				default:
					t.Errorf("unexpected call %s", target)
				}
			}))
			defer srv.Close()
			client := sfn.New(sfn.Options{
				Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL), Retryer: aws.NopRetryer{},
				Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
			})
			x := cloud.Executions{Client: client, StateMachineARN: "arn:aws:states:eu-west-1:123456789012:stateMachine:settlement"}
			out, name, err := workflow.Launch(t.Context(), x, "abc", []byte(`{}`), nil)
			if out != tc.want || name != "abc" || err != nil {
				t.Errorf("Launch = %s %s %v, want %s", out, name, err, tc.want)
			}
		})
	}
}
