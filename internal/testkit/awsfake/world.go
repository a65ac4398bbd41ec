package awsfake

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/paysettle/settle/internal/engine"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/testkit/storefault"
	"github.com/paysettle/settle/internal/workflow"
	"github.com/paysettle/settle/statemachine"
)

// World is a deployed stack in miniature for tests: the fake AWS in front of the local pipeline (the
// real definition and handlers on a data folder), with the outputs a stack of template.yaml has.
type World struct {
	Fake   *Fake
	Server *httptest.Server
	Env    *local.Env
	Clock  *Clock
	Faults *storefault.Bucket // on the processed bucket
	Dir    string
	Stack  map[string]string // the stack's outputs
}

// Clock is the world's time, a settable clock. Reading it does not move it: Advance and Sleep do (the
// engine's retries take no time), and so does every history event an execution of the world records,
// by EventStep. An execution's history is thus spaced the same however often the steps, the fake's
// handlers or the commands under test look at the clock, and its events keep their order.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// EventStep is how far the world's clock moves at each history event.
const EventStep = time.Millisecond

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep advances the clock.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	c.Advance(d)
	return ctx.Err()
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Region is the world's region.
const Region = "eu-west-1"

// NewWorld starts a world at 2024-05-07T09:00:00Z and points the AWS SDK's standard configuration at
// it through the environment (endpoint, region, static credentials, no instance metadata, no shared
// files), for the test's duration.
func NewWorld(t testing.TB, conf workflow.Config) *World {
	t.Helper()
	w := &World{Clock: &Clock{now: time.Date(2024, 5, 7, 9, 0, 0, 0, time.UTC)}, Faults: &storefault.Bucket{}, Dir: t.TempDir()}
	var err error
	w.Env, err = local.Open(w.Dir, local.Options{Config: conf, Clock: w.Clock, Rand: func() float64 { return 0.5 },
		WrapProcessed: func(b store.Bucket) store.Bucket { w.Faults.Bucket = b; return w.Faults },
		OnEvent:       func(string, engine.Event) { w.Clock.Advance(EventStep) }})
	if err != nil {
		t.Fatal(err)
	}
	f := New(Region)
	f.Now = w.Clock.Now
	f.Engine, f.StateMachineARN, f.Definition = w.Env.Engine, local.StateMachineARN, string(statemachine.Definition)
	f.BadAccessKey = "AKIDREVOKED"
	for _, q := range []string{"settle-ingest", "settle-ingest-dlq", "settle-failed-files", "settle-webhook", "settle-fetch-dlq"} {
		f.CreateQueue(q)
	}
	bus := "arn:aws:events:" + Region + ":" + Account + ":event-bus/default"
	f.Archive = Archive{Name: "settle-raw-events", SourceARN: bus, RetentionDays: 90, Created: time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)}
	if err := f.S3.CreateBucket(local.RawBucket); err != nil {
		t.Fatal(err)
	}
	w.Fake = f
	w.Stack = map[string]string{
		"RawBucket": local.RawBucket, "ProcessedBucket": local.ProcessedBucket,
		"StateMachineArn":          local.StateMachineARN,
		"StateMachineConsoleUrl":   "https://" + Region + ".console.aws.amazon.com/states/home?region=" + Region + "#/statemachines/view/" + local.StateMachineARN,
		"IngestQueueUrl":           f.QueueURL("settle-ingest"),
		"IngestQueueArn":           f.QueueARN("settle-ingest"),
		"IngestDeadLetterQueueUrl": f.QueueURL("settle-ingest-dlq"),
		"IngestDeadLetterQueueArn": f.QueueARN("settle-ingest-dlq"),
		"FailedFilesQueueUrl":      f.QueueURL("settle-failed-files"),
		"FailedFilesQueueArn":      f.QueueARN("settle-failed-files"),
		"AlertTopicArn":            "arn:aws:sns:" + Region + ":" + Account + ":settle-alerts",
		"EventBusArn":              bus,
		"EventArchiveArn":          "arn:aws:events:" + Region + ":" + Account + ":archive/settle-raw-events",
		"IngestRuleArn":            "arn:aws:events:" + Region + ":" + Account + ":rule/settle-ingest",
		"GlueDatabase":             "settle_prod",
		"AthenaExampleQuery":       "SELECT 1",
		"MetricsNamespace":         "Settle",
		"WebhookUrl":               "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url." + Region + ".on.aws/",
		"WebhookQueueUrl":          f.QueueURL("settle-webhook"),
		"FetchDeadLetterQueueUrl":  f.QueueURL("settle-fetch-dlq"),
	}
	f.Stacks["settle"] = w.Stack
	// What the definition sends to the failed-files DLQ lands as files in the data folder; deliver
	// them to the fake queue before each receive, as SQS would have them.
	f.OnReceive = func(url string) {
		if url == f.QueueURL("settle-failed-files") {
			w.ImportDLQ(t)
		}
	}
	w.Server = httptest.NewServer(f)
	t.Cleanup(w.Server.Close)
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": w.Server.URL, "AWS_REGION": Region, "AWS_ACCESS_KEY_ID": "AKIDONCALL", "AWS_SECRET_ACCESS_KEY": "secret",
		"AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_DEFAULT_PROFILE": "", "AWS_EC2_METADATA_DISABLED": "true", "S3_FORCE_PATH_STYLE": "true",
		"AWS_CONFIG_FILE": filepath.Join(w.Dir, "no-config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(w.Dir, "no-credentials"),
		"AWS_DEFAULT_REGION": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
		"AWS_WEB_IDENTITY_TOKEN_FILE": "", "AWS_ROLE_ARN": "",
	} {
		t.Setenv(k, v)
	}
	return w
}

// ImportDLQ moves the failed-files messages the local definition wrote into the fake queue.
func (w *World) ImportDLQ(t testing.TB) {
	paths, _ := filepath.Glob(filepath.Join(w.Dir, "dlq", "*.json"))
	sort.Strings(paths)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		compact, _ := json.Marshal(v)
		w.Fake.Send(w.Fake.QueueURL("settle-failed-files"), string(compact))
		os.Remove(p)
	}
}

// Upload puts a file into the raw bucket (the local one the steps read, and the fake S3 the CLI heads).
func (w *World) Upload(t testing.TB, key string, data []byte) store.Object {
	t.Helper()
	obj, err := w.Env.Raw.Put(t.Context(), key, data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Fake.S3.PutObject(local.RawBucket, key, map[string]string{}, bytes.NewReader(data), int64(len(data)), nil); err != nil {
		t.Fatal(err)
	}
	return obj
}

// RunStarter hands the messages waiting in the ingest queue to the starter, as its SQS trigger would,
// and deletes those it handled.
func (w *World) RunStarter(t testing.TB) []workflow.StartResult {
	t.Helper()
	url := w.Fake.QueueURL("settle-ingest")
	w.Fake.mu.Lock()
	q := w.Fake.queues[url]
	msgs := q.msgs
	q.msgs = nil
	w.Fake.mu.Unlock()
	var ev events.SQSEvent
	for _, m := range msgs {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: m.id, Body: m.body, EventSource: "aws:sqs"})
	}
	var out []workflow.StartResult
	starter := *w.Env.Starter
	starter.OnResult = func(r workflow.StartResult) { out = append(out, r) }
	if _, err := starter.Handle(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	w.ImportDLQ(t)
	return out
}

// Arrive uploads a file and delivers its event to the starter, as S3, EventBridge and SQS would.
func (w *World) Arrive(t testing.TB, key string, data []byte) local.FileResult {
	t.Helper()
	r := w.Env.Deliver(t.Context(), w.Upload(t, key, data))
	w.ImportDLQ(t)
	return r
}

// MirrorProcessed copies the processed bucket's manifests, ledgers, validation reports and partition objects into the fake
// S3's processed bucket (made when missing), where the operator commands read them: the local steps
// write to the data folder, not through the fake.
func (w *World) MirrorProcessed(t testing.TB) {
	t.Helper()
	_ = w.Fake.S3.CreateBucket(local.ProcessedBucket) // exists after the first mirror
	for _, prefix := range []string{workflow.ManifestPrefix, workflow.LedgerPrefix, workflow.ReportPrefix, workflow.LinesPrefix, workflow.TablePrefix + "/"} {
		objs, err := w.Env.Processed.List(t.Context(), prefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			data, _, err := w.Env.Processed.Get(t.Context(), o.Key)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Fake.S3.PutObject(local.ProcessedBucket, o.Key, map[string]string{}, bytes.NewReader(data), int64(len(data)), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
}
