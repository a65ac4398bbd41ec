// Package local runs the pipeline with no AWS account: a folder plays the raw and processed buckets,
// the local Step Functions engine interprets the deployed definition (statemachine/settlement.asl.json)
// and calls the same step handlers the Lambda functions run, and the failed-files DLQ and the alert
// topic become files. Each file goes the cloud's way: into the raw bucket, then an EventBridge "Object
// Created" event inside an SQS message to the same starter handler.
//
// Layout of the data folder:
//
//	raw/                          the raw bucket
//	processed/settlement_lines/   Parquet, partitioned by settlement_date
//	processed/rejected/           rejected rows (JSON Lines)
//	processed/_manifests/         one manifest per committed batch
//	processed/_reports/           validation reports
//	dlq/                          one JSON file per failed-files DLQ message
//	processed/_ledger/            the batch ledger of each merchant account, its alerts and acknowledgements
//	notifications.jsonl           alert topic messages
//	executions/                   execution history
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/paysettle/settle/internal/engine"
	"github.com/paysettle/settle/internal/icetable"
	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/obs"
	"github.com/paysettle/settle/internal/parquetfile"
	"github.com/paysettle/settle/internal/states"
	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/workflow"
	"github.com/paysettle/settle/statemachine"
)

// Local names standing in for the stack's resources.
const (
	Account         = "000000000000"
	Region          = "local"
	RawBucket       = "raw"
	ProcessedBucket = "processed"
	StateMachineARN = "arn:aws:states:" + Region + ":" + Account + ":stateMachine:settlement"
	AlertTopicARN   = "arn:aws:sns:" + Region + ":" + Account + ":settle-alerts"
	SQSSendMessage  = "arn:aws:states:::sqs:sendMessage"
	SNSPublish      = "arn:aws:states:::sns:publish"
)

// FunctionARN is the local ARN of a step's function.
func FunctionARN(step string) string {
	return "arn:aws:lambda:" + Region + ":" + Account + ":function:settle-" + step
}

// Options configure an Env.
type Options struct {
	Config workflow.Config // buckets are set by Open
	Clock  engine.Clock    // nil: the wall clock
	// Rand draws the retries' FULL jitter, in [0,1) (nil: math/rand); tests fix it for repeatable histories.
	Rand func() float64
	Log  *slog.Logger // nil: discard
	// Metrics receives the handlers' Embedded Metric Format lines, as the functions print them to
	// CloudWatch Logs (nil: none).
	Metrics *obs.Metrics
	// WrapRaw and WrapProcessed, when set, decorate the buckets (progress display, fault injection in tests).
	WrapRaw       func(store.Bucket) store.Bucket
	WrapProcessed func(store.Bucket) store.Bucket
	// WrapTask, when set, decorates the task of each state machine resource (tests interleave
	// executions at step boundaries with it).
	WrapTask func(resource string, task engine.TaskFunc) engine.TaskFunc
	// OnEvent, when set, is called after each history event of an execution this process runs is stored.
	OnEvent func(execution string, ev engine.Event)
	// Batches is the batch ledger's policy (grace period, cadences) for the batch check and listings.
	Batches ledger.Policy
}

// Env is a data folder with its engine and handlers.
type Env struct {
	Dir       string
	Raw       store.Bucket
	rawDir    *store.Dir // Raw's folder, undecorated: uploads write here
	Processed store.Bucket
	Engine    *engine.Engine
	Steps     *workflow.Steps
	Starter   *workflow.Starter
	clock     engine.Clock
	mu        sync.Mutex // serialises the DLQ and notification files

	// BatchCheck is the scheduled batches function's handler, publishing to notifications.jsonl.
	BatchCheck *workflow.BatchCheck
}

// subfolders are what Open makes in a data folder.
var subfolders = []string{"raw", "processed", DLQDir, "executions"}

// OpenExisting opens a data folder that a run made, for the commands that read it or restart what it
// holds: a folder that does not exist, or that is not a data folder, is an error, and nothing is made.
func OpenExisting(dir string, opts Options) (*Env, error) {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no data folder %s: settle run makes it (pass --data with the folder a run used)", dir)
	}
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a data folder but a file (pass --data with the folder a run used)", dir)
	}
	for _, sub := range subfolders {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("%s is not a data folder: it has no %s/ (pass --data with the folder a run used)", dir, sub)
		}
	}
	return Open(dir, opts)
}

// Open prepares the data folder dir.
func Open(dir string, opts Options) (*Env, error) {
	if opts.Clock == nil {
		opts.Clock = engine.RealClock{}
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for _, sub := range subfolders {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("data folder: %w", err)
		}
	}
	// The raw bucket holds copies of the reports given to Run: a crash loses nothing that running again
	// does not restore, so its writes skip the fsync (the processed bucket's commits keep theirs).
	rawDir, err := store.NewDir(RawBucket, filepath.Join(dir, "raw"), store.WithoutSync())
	if err != nil {
		return nil, err
	}
	procDir, err := store.NewDir(ProcessedBucket, filepath.Join(dir, "processed"))
	if err != nil {
		return nil, err
	}
	var raw, proc store.Bucket = rawDir, procDir
	if opts.WrapRaw != nil {
		raw = opts.WrapRaw(raw)
	}
	if opts.WrapProcessed != nil {
		proc = opts.WrapProcessed(proc)
	}
	conf := opts.Config
	conf.RawBucket, conf.ProcessedBucket, conf.StateMachineARN = RawBucket, ProcessedBucket, StateMachineARN
	conf.SettingNames = workflow.EnvironmentVariables // no stack: the environment sets the settings
	env := &Env{Dir: dir, Raw: raw, Processed: proc, clock: opts.Clock, rawDir: rawDir}
	tab := icetable.In(workflow.ProcessedTable(proc, icetable.LocationOf(procDir)))
	env.Steps = &workflow.Steps{Raw: raw, Processed: proc, Conf: conf, Log: opts.Log, Stage: parquetfile.Stage, Table: tab, Metrics: opts.Metrics, Now: opts.Clock.Now}
	subs := map[string]string{
		"CheckFunctionArn":     FunctionARN("check"),
		"ValidateFunctionArn":  FunctionARN("validate"),
		"TransformFunctionArn": FunctionARN("transform"),
		"WriteFunctionArn":     FunctionARN("write"),
		"FailedFilesQueueUrl":  "file://" + filepath.Join(dir, DLQDir),
		"AlertTopicArn":        AlertTopicARN,
	}
	resources := map[string]engine.TaskFunc{
		FunctionARN("check"):     engine.LambdaTask(env.Steps.Check),
		FunctionARN("validate"):  engine.LambdaTask(env.Steps.Validate),
		FunctionARN("transform"): engine.LambdaTask(env.Steps.Transform),
		FunctionARN("write"):     engine.LambdaTask(env.Steps.Write),
		SQSSendMessage:           env.sendMessage,
		SNSPublish:               env.publish,
	}
	if opts.WrapTask != nil {
		for arn, task := range resources {
			resources[arn] = opts.WrapTask(arn, task)
		}
	}
	env.Engine, err = engine.New(engine.Config{
		Definition:      statemachine.Definition,
		Substitutions:   subs,
		StateMachineARN: StateMachineARN,
		Dir:             filepath.Join(dir, "executions"),
		Clock:           opts.Clock,
		Rand:            opts.Rand,
		Observe:         opts.OnEvent,
		Resources:       resources,
	})
	if err != nil {
		return nil, fmt.Errorf("state machine: %w", err)
	}
	env.Starter = &workflow.Starter{Raw: raw, Exec: Executions{env.Engine}, Log: opts.Log, Metrics: opts.Metrics}
	env.BatchCheck = &workflow.BatchCheck{Processed: proc, Publisher: topic{env}, Policy: opts.Batches, Log: opts.Log,
		Metrics: opts.Metrics, Now: opts.Clock.Now, Table: tab}
	return env, nil
}

// sendMessage is sqs:sendMessage to the failed-files DLQ: one JSON file per message under dlq/.
func (e *Env) sendMessage(ctx context.Context, input json.RawMessage) (json.RawMessage, error) {
	var p struct {
		QueueURL    string          `json:"QueueUrl"`
		MessageBody json.RawMessage `json:"MessageBody"`
	}
	if err := json.Unmarshal(input, &p); err != nil || len(p.MessageBody) == 0 {
		return nil, &engine.TaskError{Name: "SQS.InvalidParameterValueException", Cause: "sendMessage needs QueueUrl and MessageBody"}
	}
	body := p.MessageBody
	var s string
	if json.Unmarshal(body, &s) == nil { // a string body holding JSON reads better unwrapped
		if json.Valid([]byte(s)) {
			body = json.RawMessage(s)
		}
	}
	var pretty map[string]any
	if err := json.Unmarshal(body, &pretty); err == nil {
		body, _ = json.MarshalIndent(pretty, "", "  ")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	name := e.clock.Now().UTC().Format(dlqStamp)
	if x, ok := pretty["execution"].(string); ok {
		name += "-" + x
	}
	path := filepath.Join(e.Dir, DLQDir, name+".json")
	if err := os.WriteFile(path, append(body, '\n'), 0o644); err != nil {
		return nil, &engine.TaskError{Name: "SQS.SdkClientException", Cause: err.Error()}
	}
	out, _ := json.Marshal(map[string]string{"MessageId": name, "MD5OfMessageBody": ""})
	return out, nil
}

// publish is sns:publish to the alert topic: one line per message in notifications.jsonl.
func (e *Env) publish(ctx context.Context, input json.RawMessage) (json.RawMessage, error) {
	var p struct {
		TopicArn string `json:"TopicArn"`
		Subject  string `json:"Subject"`
		Message  string `json:"Message"`
	}
	if err := json.Unmarshal(input, &p); err != nil || p.Message == "" {
		return nil, &engine.TaskError{Name: "SNS.InvalidParameterException", Cause: "publish needs TopicArn and Message"}
	}
	if err := e.notify(p.TopicArn, p.Subject, p.Message); err != nil {
		return nil, &engine.TaskError{Name: "SNS.SdkClientException", Cause: err.Error()}
	}
	out, _ := json.Marshal(map[string]string{"MessageId": e.clock.Now().UTC().Format("20060102T150405.000000000Z")})
	return out, nil
}

// Notification is one line of notifications.jsonl: a message of the alert topic. A message that is a
// JSON document (the definition's rejected-file message, the batch check's alerts) is kept as JSON, and
// so is each string inside it that holds a JSON object (a Lambda error's cause), so that the file reads
// as structured JSON rather than JSON inside strings.
type Notification struct {
	Time    string          `json:"time"`
	Topic   string          `json:"topic"`
	Subject string          `json:"subject"`
	Message json.RawMessage `json:"message"`
}

// notify appends a message of the alert topic to notifications.jsonl.
func (e *Env) notify(topicArn, subject, message string) error {
	msg, _ := json.Marshal(Structured(message))
	line, _ := json.Marshal(Notification{Time: e.clock.Now().UTC().Format(time.RFC3339), Topic: topicArn, Subject: subject, Message: msg})
	e.mu.Lock()
	defer e.mu.Unlock()
	f, err := os.OpenFile(filepath.Join(e.Dir, "notifications.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(append(line, '\n'))
	return err
}

// Structured is a message as a value to encode: a string holding a JSON object or array is that value,
// with the same done to the strings inside it (a Lambda error's cause inside the definition's message),
// so that it reads as structured JSON rather than JSON inside strings.
func Structured(s string) any {
	t := strings.TrimSpace(s)
	if t == "" || t[0] != '{' && t[0] != '[' {
		return s
	}
	var v any
	if json.Unmarshal([]byte(t), &v) != nil {
		return s
	}
	return unnestValue(v)
}

func unnestValue(v any) any {
	switch x := v.(type) {
	case string:
		return Structured(x)
	case map[string]any:
		for k, e := range x {
			x[k] = unnestValue(e)
		}
	case []any:
		for i, e := range x {
			x[i] = unnestValue(e)
		}
	}
	return v
}

// topic is the alert topic for the batch check: notifications.jsonl.
type topic struct{ e *Env }

// Publish appends the message to notifications.jsonl.
func (t topic) Publish(ctx context.Context, subject, message string) error {
	return t.e.notify(AlertTopicARN, subject, message)
}

// Executions adapts the local engine to the starter.
type Executions struct{ E *engine.Engine }

// Start starts and runs an execution to its end.
//
// Step Functions answers a start of a RUNNING execution with the same input as a success; the local
// engine runs executions synchronously, so an execution still RUNNING when Start returns was started by
// another delivery, and is reported as existing so that the starter counts a duplicate.
func (x Executions) Start(ctx context.Context, name string, input []byte) error {
	ex, err := x.E.Start(ctx, name, input)
	if err == nil && ex.Status == states.Running {
		return fmt.Errorf("%w: %s is running", workflow.ErrExecutionExists, name)
	}
	var exists *engine.ExecutionAlreadyExistsError
	if errors.As(err, &exists) {
		return fmt.Errorf("%w: %v", workflow.ErrExecutionExists, err)
	}
	return err
}

// Describe describes an execution.
func (x Executions) Describe(ctx context.Context, name string) (workflow.ExecutionInfo, error) {
	d, err := x.E.Describe(name)
	if err != nil {
		return workflow.ExecutionInfo{}, err
	}
	return workflow.ExecutionInfo{Name: d.Name, Status: string(d.Status), Redrivable: d.RedriveStatus == states.Redrivable, Error: d.Error}, nil
}

// Redrive redrives a failed execution and runs it to its end.
func (x Executions) Redrive(ctx context.Context, name string) error {
	_, err := x.E.Redrive(ctx, name)
	return err
}

// ObjectCreatedMessage builds the SQS message the cloud delivers for an object: an EventBridge
// "Object Created" event of the raw bucket in the message body.
func ObjectCreatedMessage(obj store.Object, now time.Time, n int) events.SQSMessage {
	var ev workflow.S3Event
	ev.Version, ev.ID, ev.DetailType, ev.Source = "0", fmt.Sprintf("local-event-%d", n), "Object Created", "aws.s3"
	ev.Account, ev.Time, ev.Region = Account, now.UTC().Truncate(time.Second), Region
	ev.Resources = []string{"arn:aws:s3:::" + RawBucket}
	ev.Detail.Version = "0"
	ev.Detail.Bucket.Name = RawBucket
	ev.Detail.Object.Key = obj.Key
	ev.Detail.Object.Size = obj.Size
	ev.Detail.Object.ETag = obj.ETag
	ev.Detail.Object.Sequencer = fmt.Sprintf("%016X", now.UnixNano())
	ev.Detail.Reason = "PutObject"
	ev.Detail.Requester = Account
	ev.Detail.RequestID = fmt.Sprintf("LOCAL%011d", n)
	body, _ := json.Marshal(ev)
	return events.SQSMessage{
		MessageId: fmt.Sprintf("local-message-%d", n), Body: string(body), EventSource: "aws:sqs",
		EventSourceARN: "arn:aws:sqs:" + Region + ":" + Account + ":settle-ingest", AWSRegion: Region,
	}
}

// RawKey is the raw-bucket key a file named on the command line is uploaded to: incoming/<file name>.
// The files of a folder go to incoming/<path inside the folder> (see Inputs).
func RawKey(path string) string {
	return "incoming/" + keySegment(filepath.Base(path))
}

// keySegment makes a file name one segment of a key: a backslash, a separator for some readers, goes.
func keySegment(name string) string { return strings.ReplaceAll(name, "\\", "_") }

// IngestSuffix is what a raw-bucket key must end with, in any case, for the ingest rule of template.yaml
// to send its Object Created event to the starter. A folder run takes the same files (a test keeps the
// two in step).
const IngestSuffix = ".csv"

// Ingests reports whether the cloud's ingest rule starts an execution for an object stored under key.
func Ingests(key string) bool {
	return len(key) >= len(IngestSuffix) && strings.EqualFold(key[len(key)-len(IngestSuffix):], IngestSuffix)
}
