package ops

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/paysettle/settle/internal/cloud"
	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/store/s3store"
	"github.com/paysettle/settle/internal/workflow"
)

// The operator's interfaces on a deployed stack, through the AWS SDK. They return the SDK's errors as
// they are; the operator puts them in one sentence (explain), except where only they know what failed
// (a queue's depth, a move, an object's head).

// awsExecutions are the executions of the stack's state machine.
type awsExecutions struct{ o *Ops }

func (x awsExecutions) arn() string { return x.o.Stack.Out(OutStateMachineARN) }

func (x awsExecutions) List(ctx context.Context, status string, since time.Time, limit int) ([]Execution, error) {
	in := &sfn.ListExecutionsInput{StateMachineArn: aws.String(x.arn()), MaxResults: 100}
	if status != "" {
		in.StatusFilter = sfntypes.ExecutionStatus(status)
	}
	var out []Execution
	p := sfn.NewListExecutionsPaginator(x.o.SFN, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, x.o.explain("list executions", err)
		}
		for _, it := range page.Executions {
			// Newest first by start date: once past the window, the rest is older still. (A redrive keeps
			// the start date, so an execution started before the window is not listed even if redriven in it.)
			if !since.IsZero() && aws.ToTime(it.StartDate).Before(since) {
				return out, nil
			}
			out = append(out, Execution{Name: aws.ToString(it.Name), ARN: aws.ToString(it.ExecutionArn), Status: string(it.Status),
				Start: aws.ToTime(it.StartDate), Stop: aws.ToTime(it.StopDate)})
			if limit > 0 && len(out) >= limit {
				return out, nil
			}
		}
	}
	return out, nil
}

func (x awsExecutions) Describe(ctx context.Context, name string) (Execution, error) {
	out, err := x.o.SFN.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(cloud.ExecutionARN(x.arn(), name))})
	var dne *sfntypes.ExecutionDoesNotExist
	if errors.As(err, &dne) {
		return Execution{}, &NoExecutionError{Name: name, Where: x.o.machineName(), List: "settle aws executions"}
	}
	if err != nil {
		return Execution{}, x.o.explain("describe execution "+name, err)
	}
	return Execution{
		Name: aws.ToString(out.Name), ARN: aws.ToString(out.ExecutionArn), Status: string(out.Status),
		Start: aws.ToTime(out.StartDate), Stop: aws.ToTime(out.StopDate), Input: aws.ToString(out.Input), Output: aws.ToString(out.Output),
		Error: aws.ToString(out.Error), Cause: aws.ToString(out.Cause), RedriveCount: int(aws.ToInt32(out.RedriveCount)),
		RedriveStatus: string(out.RedriveStatus), RedriveReason: aws.ToString(out.RedriveStatusReason),
	}, nil
}

func (x awsExecutions) History(ctx context.Context, name string) ([]Event, error) {
	var events []Event
	p := sfn.NewGetExecutionHistoryPaginator(x.o.SFN, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(cloud.ExecutionARN(x.arn(), name)), MaxResults: 1000})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, x.o.explain("read the history of "+name, err)
		}
		for _, h := range page.Events {
			ev, err := EventOf(h)
			if err != nil {
				return nil, err
			}
			events = append(events, ev)
		}
	}
	return events, nil
}

// Start starts an execution. StartExecution answers a start with the name and input of a running
// execution with that execution, as if it had started it: the operator describes the name first
// (launcher), which tells the two apart exactly.
func (x awsExecutions) Start(ctx context.Context, name string, input []byte) error {
	return cloud.Executions{Client: x.o.SFN, StateMachineARN: x.arn()}.Start(ctx, name, input)
}

func (x awsExecutions) Redrive(ctx context.Context, name string) error {
	return cloud.Executions{Client: x.o.SFN, StateMachineARN: x.arn()}.Redrive(ctx, name)
}

// Definition is the definition of the state machine the stack runs (its JSON, as deployed: the
// template's definition with its substitutions made).
func (o *Ops) Definition(ctx context.Context) ([]byte, error) {
	out, err := o.SFN.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(o.Stack.Out(OutStateMachineARN))})
	if err != nil {
		return nil, o.explain("describe "+o.machineName(), err)
	}
	return []byte(aws.ToString(out.Definition)), nil
}

func (o *Ops) machineName() string {
	arn := o.Stack.Out(OutStateMachineARN)
	return "state machine " + arn[strings.LastIndex(arn, ":")+1:]
}

// awsQueues are the stack's SQS queues.
type awsQueues struct{ o *Ops }

// url is a queue's URL, or why the stack has none.
func (q awsQueues) url(queue string) (string, error) {
	s := q.o.Stack
	switch queue {
	case QueueIngest:
		return s.Out(OutIngestQueueURL), nil
	case QueueIngestDLQ:
		return s.Out(OutIngestDeadLetterQueueURL), nil
	case QueueFailed:
		return s.Out(OutFailedFilesQueueURL), nil
	case QueueFetchDLQ:
		if u := s.Out(OutFetchDeadLetterQueueURL); u != "" {
			return u, nil
		}
		return "", refuse("stack %s has no fetch dead-letter queue (output %s): it was deployed without the report intake", s.Name, OutFetchDeadLetterQueueURL)
	case QueueWebhook:
		if u := s.Out(OutWebhookQueueURL); u != "" {
			return u, nil
		}
		return "", refuse("stack %s has no webhook queue (output %s) to send the requests back to", s.Name, OutWebhookQueueURL)
	}
	return "", refuse("%q is not a queue of stack %s", queue, s.Name)
}

func (q awsQueues) Depths(ctx context.Context) ([]QueueDepth, error) {
	var out []QueueDepth
	for _, name := range []string{QueueIngest, QueueIngestDLQ, QueueFailed, QueueWebhook, QueueFetchDLQ} {
		url, err := q.url(name)
		if err != nil || url == "" {
			continue // a stack deployed without the report intake
		}
		d, err := q.depth(ctx, name, url)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func (q awsQueues) depth(ctx context.Context, name, url string) (QueueDepth, error) {
	out, err := q.o.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{
		sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
	if err != nil {
		return QueueDepth{}, q.o.explain("read the "+name+" queue's depth", err)
	}
	n := func(k sqstypes.QueueAttributeName) int64 {
		v, _ := strconv.ParseInt(out.Attributes[string(k)], 10, 64)
		return v
	}
	return QueueDepth{Name: name, URL: url, Visible: n(sqstypes.QueueAttributeNameApproximateNumberOfMessages),
		InFlight: n(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible), Delayed: n(sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed)}, nil
}

// DeadLetterQueues are the ingest and failed-files DLQs, and the fetch DLQ when the stack has the
// report intake.
func (q awsQueues) DeadLetterQueues() []string {
	qs := []string{QueueIngestDLQ, QueueFailed}
	if q.o.Stack.Out(OutFetchDeadLetterQueueURL) != "" {
		qs = append(qs, QueueFetchDLQ)
	}
	return qs
}

func (q awsQueues) Receive(ctx context.Context, queue string, max int, hold time.Duration) ([]Message, error) {
	url, err := q.url(queue)
	if err != nil {
		return nil, err
	}
	var out []Message
	seen := map[string]bool{}
	for len(out) < max {
		res, err := q.o.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: int32(min(10, max-len(out))), VisibilityTimeout: int32(hold.Seconds()),
			WaitTimeSeconds:             1, // long polling asks every server, so an empty answer means empty
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		})
		if err != nil {
			return nil, q.o.explain("read the "+queue+" queue", err)
		}
		if len(res.Messages) == 0 {
			break
		}
		fresh := 0
		for _, m := range res.Messages {
			id := aws.ToString(m.MessageId)
			if seen[id] {
				continue
			}
			seen[id] = true
			fresh++
			msg := Message{ID: id, Body: aws.ToString(m.Body), Handle: aws.ToString(m.ReceiptHandle)}
			if ms, err := strconv.ParseInt(m.Attributes[string(sqstypes.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
				msg.Sent = time.UnixMilli(ms).UTC()
			}
			msg.Receives, _ = strconv.Atoi(m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)])
			out = append(out, msg)
		}
		if fresh == 0 {
			break
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Sent.Before(out[j].Sent) })
	return out, nil
}

func (q awsQueues) Release(ctx context.Context, queue string, msgs []Message) {
	url, err := q.url(queue)
	if err != nil {
		return
	}
	for _, m := range msgs {
		_, _ = q.o.SQS.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: aws.String(m.Handle), VisibilityTimeout: 0})
	}
}

func (q awsQueues) Delete(ctx context.Context, queue string, m Message) error {
	url, err := q.url(queue)
	if err != nil {
		return err
	}
	_, err = q.o.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: aws.String(m.Handle)})
	return err
}

func (q awsQueues) Send(ctx context.Context, queue string, body []byte) error {
	url, err := q.url(queue)
	if err != nil {
		return err
	}
	_, err = q.o.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(string(body))})
	return err
}

// MoveAll starts an SQS message move task from a dead-letter queue to its source queue.
func (q awsQueues) MoveAll(ctx context.Context, from, to string, dry bool) (MoveTask, error) {
	if from != QueueIngestDLQ || to != QueueIngest {
		return MoveTask{}, refuse("only the ingest dead-letter queue's messages are moved back to their queue")
	}
	s := q.o.Stack
	d, err := q.depth(ctx, QueueIngestDLQ, s.Out(OutIngestDeadLetterQueueURL))
	if err != nil {
		return MoveTask{}, err
	}
	t := MoveTask{Messages: d.Visible, From: s.Out(OutIngestDeadLetterQueueARN), To: s.Out(OutIngestQueueARN)}
	if dry || d.Visible == 0 {
		return t, nil
	}
	out, err := q.o.SQS.StartMessageMoveTask(ctx, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(t.From), DestinationArn: aws.String(t.To)})
	if err != nil {
		return t, q.o.explain("move the ingest DLQ's messages to the ingest queue", err)
	}
	t.Handle = aws.ToString(out.TaskHandle)
	return t, nil
}

// awsFiles are the objects of the stack's raw bucket, named by their s3:// addresses.
type awsFiles struct{ o *Ops }

// Object heads the object an s3:// address names; a target without a slash names an execution.
func (f awsFiles) Object(ctx context.Context, target string, _ bool) (workflow.FileRef, bool, error) {
	if !strings.Contains(target, "/") { // an execution name has none
		return workflow.FileRef{}, false, nil
	}
	ref, err := f.head(ctx, target)
	return ref, err == nil, err
}

func (f awsFiles) Current(ctx context.Context, _ string, ref workflow.FileRef) (workflow.FileRef, error) {
	return f.head(ctx, ref.URL())
}

func (f awsFiles) Unknown(target string) error {
	return fmt.Errorf("%q is neither an object address (s3://bucket/key) nor an execution of %s; settle aws executions lists them", target, f.o.machineName())
}

// head heads an object of the stack's raw bucket.
func (f awsFiles) head(ctx context.Context, s3url string) (workflow.FileRef, error) {
	bucket, key, err := parseS3URL(s3url)
	if err != nil {
		return workflow.FileRef{}, err
	}
	if raw := f.o.Stack.Out(OutRawBucket); bucket != raw {
		return workflow.FileRef{}, fmt.Errorf("s3://%s/%s is not in the stack's raw bucket %s; copy it there (aws s3 cp) and it is processed on arrival", bucket, key, raw)
	}
	head, err := f.o.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "NotFound" || ae.ErrorCode() == "NoSuchKey") {
		return workflow.FileRef{}, fmt.Errorf("s3://%s/%s does not exist; aws s3 ls s3://%s/%s lists what is there", bucket, key, bucket, parentPrefix(key))
	}
	if err != nil {
		return workflow.FileRef{}, f.o.explain("head s3://"+bucket+"/"+key, err)
	}
	return workflow.FileRef{Bucket: bucket, Key: key, ETag: store.UnquoteETag(aws.ToString(head.ETag)), Size: aws.ToInt64(head.ContentLength)}, nil
}

// parseS3URL splits s3://bucket/key as the AWS CLI writes it: the key as is, not URL-encoded.
func parseS3URL(s string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(s, "s3://")
	bucket, key, _ = strings.Cut(rest, "/")
	if !ok || bucket == "" || key == "" || strings.HasSuffix(key, "/") {
		return "", "", fmt.Errorf("%q is not an object address; write it as s3://bucket/key", s)
	}
	return bucket, key, nil
}

func parentPrefix(key string) string {
	if i := strings.LastIndex(key, "/"); i >= 0 {
		return key[:i+1]
	}
	return ""
}

// BatchPolicy is the batch policy the stack's check runs with (its BatchGraceHours and BatchCadences
// outputs; the defaults for a stack without them).
func (o *Ops) BatchPolicy() (ledger.Policy, error) {
	env := map[string]string{ledger.EnvGraceHours: o.Stack.Out(OutBatchGraceHours), ledger.EnvCadences: o.Stack.Out(OutBatchCadences)}
	p, err := ledger.PolicyFromEnv(func(k string) string { return env[k] })
	if err != nil {
		return ledger.Policy{}, fmt.Errorf("stack %s: its batch policy outputs are unreadable: %v", o.Stack.Name, err)
	}
	p.AckCommand = cloud.AckCommand
	return p, nil
}

// TableHome is where the stack's Iceberg table of record is: its S3 Tables table (TableBucketArn), or
// the processed bucket's table for a stack without one.
func (o *Ops) TableHome(ctx context.Context) (workflow.TableHome, error) {
	if arn := o.Stack.Out(OutTableBucketARN); arn != "" {
		ns, name := o.Stack.Out(OutTableNamespace), o.Stack.Out(OutTableName)
		if ns == "" {
			ns = cloud.DefaultTableNamespace
		}
		if name == "" {
			name = cloud.DefaultTableName
		}
		return cloud.S3TablesHome(ctx, o.Tables, o.S3, arn, ns, name)
	}
	b, err := o.processed()
	if err != nil {
		return workflow.TableHome{}, err
	}
	return workflow.ProcessedTable(b, "s3://"+b.Name()+"/"+workflow.TablePrefix), nil
}

// processed is the stack's processed bucket, where the manifests and ledgers are.
func (o *Ops) processed() (store.Bucket, error) {
	name := o.Stack.Out(OutProcessedBucket)
	if name == "" {
		return nil, fmt.Errorf("stack %s has no %s output: deploy the current template.yaml", o.Stack.Name, OutProcessedBucket)
	}
	return s3store.New(o.S3, name), nil
}
