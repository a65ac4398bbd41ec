//go:build linux

package rie

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// fakeS3 is an in-process S3-compatible server, reached by the functions through AWS_ENDPOINT_URL_S3
// with path-style addressing (S3_FORCE_PATH_STYLE=true), and by the test through client.
type fakeS3 struct {
	url    string
	client *s3.Client
}

func newFakeS3(t *testing.T, buckets ...string) *fakeS3 {
	t.Helper()
	backend := s3mem.New()
	for _, b := range buckets {
		if err := backend.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	client := s3.New(s3.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	return &fakeS3{url: srv.URL, client: client}
}

// put stores an object and returns its ETag, unquoted.
func (f *fakeS3) put(t *testing.T, bucket, key string, body []byte) string {
	t.Helper()
	out, err := f.client.PutObject(t.Context(), &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Trim(aws.ToString(out.ETag), `"`)
}

// get reads an object; ok is false when it does not exist.
func (f *fakeS3) get(t *testing.T, bucket, key string) ([]byte, bool) {
	t.Helper()
	out, err := f.client.GetObject(t.Context(), &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return nil, false
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b, true
}

// fakeSFN speaks the part of the Step Functions API (JSON 1.0: POST /, X-Amz-Target) the starter
// uses. Executions keep the status the test gives them; a taken name is ExecutionAlreadyExists.
type fakeSFN struct {
	url string
	mu  sync.Mutex
	// failWith, when set, is the error type every call answers with HTTP 500 (a service outage).
	failWith   string
	executions map[string]*fakeExecution
	calls      []string
}

type fakeExecution struct {
	StateMachineArn, Name, Input, Status string
}

func newFakeSFN(t *testing.T) *fakeSFN {
	t.Helper()
	f := &fakeSFN{executions: map[string]*fakeExecution{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *fakeSFN) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AWSStepFunctions.")
	f.calls = append(f.calls, op)
	var in struct {
		StateMachineArn string `json:"stateMachineArn"`
		Name            string `json:"name"`
		Input           string `json:"input"`
		ExecutionArn    string `json:"executionArn"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || r.Method != http.MethodPost {
		reply(w, http.StatusBadRequest, map[string]any{"__type": "SerializationException", "message": "bad request"})
		return
	}
	if f.failWith != "" {
		reply(w, http.StatusInternalServerError, map[string]any{"__type": f.failWith, "message": "the fake is down"})
		return
	}
	now := float64(time.Date(2024, 5, 3, 6, 0, 1, 0, time.UTC).Unix())
	switch op {
	case "StartExecution":
		arn := strings.Replace(in.StateMachineArn, ":stateMachine:", ":execution:", 1) + ":" + in.Name
		if x, ok := f.executions[in.Name]; ok && (x.Status != "RUNNING" || x.Input != in.Input) {
			reply(w, http.StatusBadRequest, map[string]any{"__type": "ExecutionAlreadyExists", "message": "Execution Already Exists: '" + arn + "'"})
			return
		}
		f.executions[in.Name] = &fakeExecution{StateMachineArn: in.StateMachineArn, Name: in.Name, Input: in.Input, Status: "RUNNING"}
		reply(w, http.StatusOK, map[string]any{"executionArn": arn, "startDate": now})
	case "DescribeExecution":
		name := in.ExecutionArn[strings.LastIndex(in.ExecutionArn, ":")+1:]
		x, ok := f.executions[name]
		if !ok {
			reply(w, http.StatusBadRequest, map[string]any{"__type": "ExecutionDoesNotExist", "message": "no " + in.ExecutionArn})
			return
		}
		reply(w, http.StatusOK, map[string]any{"executionArn": in.ExecutionArn, "stateMachineArn": x.StateMachineArn, "name": x.Name,
			"status": x.Status, "startDate": now, "input": x.Input, "redriveStatus": "NOT_REDRIVABLE"})
	default:
		reply(w, http.StatusBadRequest, map[string]any{"__type": "UnknownOperationException", "message": op})
	}
}

func reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (f *fakeSFN) set(fn func(f *fakeSFN)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}
