package motostack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/paysettle/settle/internal/cloud"
	"github.com/paysettle/settle/internal/store"
)

// This file plays the parts of AWS that moto stores but cannot run: Lambda (the functions and their
// SQS event sources) and Step Functions' own events. Everything else a test sees is moto's.

// Upload puts a file into the stack's raw bucket and returns its ETag (unquoted). moto sends the
// bucket's Object Created event to EventBridge, where the stack's rules route and archive it.
func (s *Stack) Upload(t testing.TB, key string, data []byte) string {
	t.Helper()
	out, err := s.S3.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(s.Out("RawBucket")), Key: aws.String(key), Body: strings.NewReader(string(data)),
	})
	if err != nil {
		t.Fatalf("upload s3://%s/%s: %v", s.Out("RawBucket"), key, err)
	}
	return store.UnquoteETag(aws.ToString(out.ETag))
}

// FunctionEnv returns the environment the stack gave a function (its logical id, as in the template:
// StarterFunction), as moto's Lambda stores it.
func (s *Stack) FunctionEnv(ctx context.Context, logicalID string) (map[string]string, error) {
	// The Lambda API (REST, signed), without adding the Lambda SDK module for one call.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Server.Endpoint+"/2015-03-31/functions/", nil)
	if err != nil {
		return nil, err
	}
	creds, err := s.Config.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, err
	}
	empty := sha256.Sum256(nil)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(empty[:]), "lambda", Region, time.Now()); err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("list functions: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("list functions: %s: %s", resp.Status, body)
	}
	var list struct {
		Functions []struct {
			FunctionName string
			Environment  struct{ Variables map[string]any }
		}
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("list functions: %w", err)
	}
	prefix := s.Name + "-" + logicalID + "-"
	for _, f := range list.Functions {
		if strings.HasPrefix(f.FunctionName, prefix) {
			// Lambda keeps every value as text; moto keeps a Number parameter's value as a number.
			env := map[string]string{}
			for k, v := range f.Environment.Variables {
				env[k] = fmt.Sprint(v)
			}
			return env, nil
		}
	}
	return nil, fmt.Errorf("stack %s has no function %s", s.Name, logicalID)
}

// Delivery is what the starter made of one message of the ingest queue.
type Delivery struct {
	MessageID string
	Body      string
	Retry     bool // reported as a batch item failure: left in the queue
}

// RunStarter plays the starter function's SQS event source: it receives the ingest queue's messages in
// batches of up to 10 (the template's BatchSize), hands each batch to the real starter handler
// (cloud.NewStarter, built from the environment the stack gave the function, with the AWS SDK
// configuration SetEnv made), and deletes the messages it does not report as failures, as Lambda does.
// Needs SetEnv (New calls it).
func (s *Stack) RunStarter(t testing.TB) []Delivery {
	t.Helper()
	ctx := context.Background()
	env, err := s.FunctionEnv(ctx, "StarterFunction")
	if err != nil {
		t.Fatal(err)
	}
	handler, err := cloud.NewStarter(ctx, func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return os.Getenv(k)
	})
	if err != nil {
		t.Fatalf("the starter with the stack's environment %v: %v", env, err)
	}
	url := s.Out("IngestQueueUrl")
	var out []Delivery
	for {
		res, err := s.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		})
		if err != nil {
			t.Fatalf("receive from the ingest queue: %v", err)
		}
		if len(res.Messages) == 0 {
			return out
		}
		var ev events.SQSEvent
		for _, m := range res.Messages {
			ev.Records = append(ev.Records, events.SQSMessage{
				MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
				Attributes: m.Attributes, EventSource: "aws:sqs", EventSourceARN: s.Out("IngestQueueArn"), AWSRegion: Region,
			})
		}
		resp, err := handler(ctx, ev)
		if err != nil {
			t.Fatalf("the starter failed the whole batch: %v", err)
		}
		failed := map[string]bool{}
		for _, f := range resp.BatchItemFailures {
			failed[f.ItemIdentifier] = true
		}
		for _, m := range res.Messages {
			id := aws.ToString(m.MessageId)
			out = append(out, Delivery{MessageID: id, Body: aws.ToString(m.Body), Retry: failed[id]})
			if failed[id] {
				continue // back after the visibility timeout, as with Lambda; this loop does not see it again
			}
			if _, err := s.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("delete a handled message: %v", err)
			}
		}
	}
}

// ExecutionARN is the ARN of the stack's state machine's execution called name.
func (s *Stack) ExecutionARN(name string) string {
	return cloud.ExecutionARN(s.Out("StateMachineArn"), name)
}

// Abort stops a running execution (StopExecution): moto's executions never end by themselves, and
// ABORTED is the one failed status moto can give an execution.
func (s *Stack) Abort(t testing.TB, name string) {
	t.Helper()
	if _, err := s.SFN.StopExecution(context.Background(), &sfn.StopExecutionInput{ExecutionArn: aws.String(s.ExecutionARN(name))}); err != nil {
		t.Fatalf("stop execution %s: %v", name, err)
	}
}

// StatusChange sends the "Step Functions Execution Status Change" event Step Functions would send for
// the execution called name, with status and, when not empty, errName and cause (moto's Step Functions
// sends none): the stack's FailedExecutionRule decides, with moto's pattern matching, whether it
// reaches the failed-files queue.
func (s *Stack) StatusChange(t testing.TB, name, status, errName, cause string) {
	t.Helper()
	ctx := context.Background()
	x, err := s.SFN.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(s.ExecutionARN(name))})
	if err != nil {
		t.Fatalf("describe execution %s: %v", name, err)
	}
	stop := time.Now()
	if x.StopDate != nil {
		stop = *x.StopDate
	}
	detail := map[string]any{
		"executionArn": aws.ToString(x.ExecutionArn), "stateMachineArn": s.Out("StateMachineArn"), "name": name, "status": status,
		"startDate": aws.ToTime(x.StartDate).UnixMilli(), "stopDate": stop.UnixMilli(), "input": aws.ToString(x.Input), "output": nil,
	}
	if errName != "" {
		detail["error"], detail["cause"] = errName, cause
	}
	b, _ := json.Marshal(detail)
	out, err := s.Events.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		Source: aws.String("aws.states"), DetailType: aws.String("Step Functions Execution Status Change"),
		Detail: aws.String(string(b)), Resources: []string{aws.ToString(x.ExecutionArn)},
	}}})
	if err != nil {
		t.Fatalf("put the status change of %s: %v", name, err)
	}
	if out.FailedEntryCount != 0 {
		t.Fatalf("put the status change of %s: refused: %+v", name, out.Entries)
	}
}

// ArchiveEvent puts an event that moto's S3 emitted (the body of an ingest queue message) on the
// default bus with PutEvents, as S3 puts it there on AWS: moto's archive keeps the events that come
// through PutEvents but none that its S3 hands to the rules directly. Like any event on the bus, it
// also reaches every rule it matches, the ingest rule included (a second delivery of the file).
func (s *Stack) ArchiveEvent(t testing.TB, body string) {
	t.Helper()
	var ev struct {
		Source     string          `json:"source"`
		DetailType string          `json:"detail-type"`
		Resources  []string        `json:"resources"`
		Detail     json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		t.Fatalf("not an event: %v", err)
	}
	out, err := s.Events.PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		Source: aws.String(ev.Source), DetailType: aws.String(ev.DetailType), Resources: ev.Resources, Detail: aws.String(string(ev.Detail)),
	}}})
	if err != nil {
		t.Fatalf("put the event on the bus: %v", err)
	}
	if out.FailedEntryCount != 0 {
		t.Fatalf("put the event on the bus: refused: %+v", out.Entries)
	}
}

// FailIngest plays a starter that fails every delivery: it receives the ingest queue's messages and
// hands them back at once, as many times as the queue's RedrivePolicy allows (maxReceiveCount), and
// receives once more, when moto's SQS moves them to the ingest DLQ, as SQS does. It returns how many
// messages moved.
func (s *Stack) FailIngest(t testing.TB) int {
	t.Helper()
	ctx := context.Background()
	url := s.Out("IngestQueueUrl")
	attrs, err := s.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameRedrivePolicy}})
	if err != nil {
		t.Fatal(err)
	}
	var policy struct{ MaxReceiveCount int }
	if err := json.Unmarshal([]byte(attrs.Attributes[string(sqstypes.QueueAttributeNameRedrivePolicy)]), &policy); err != nil || policy.MaxReceiveCount < 1 {
		t.Fatalf("the ingest queue's redrive policy %q: %v", attrs.Attributes[string(sqstypes.QueueAttributeNameRedrivePolicy)], err)
	}
	depth := func(u string) int {
		out, err := s.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(u),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}})
		if err != nil {
			t.Fatal(err)
		}
		var n int
		fmt.Sscan(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)], &n)
		return n
	}
	before := depth(s.Out("IngestDeadLetterQueueUrl"))
	for i := 0; i <= policy.MaxReceiveCount; i++ {
		res, err := s.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range res.Messages {
			if _, err := s.SQS.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return depth(s.Out("IngestDeadLetterQueueUrl")) - before
}
