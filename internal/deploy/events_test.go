package deploy

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/paysettle/settle/internal/adyen"
	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/parquetfile"
	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/testkit/reporoot"
	"github.com/paysettle/settle/internal/webhook"
	"github.com/paysettle/settle/internal/workflow"
)

var update = flag.Bool("update", false, "rewrite events/<step>.json from a local run of the sample report")

// sampleReport is the report the events describe, in the raw bucket under local.RawKey.
const sampleReport = "testdata/sample/settlement_detail_report_batch_57.csv"

// strictDecode decodes JSON into v, refusing fields v does not have: an event the handler's types
// would silently drop is an error here, not a surprise in production.
func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}

// envFile is events/env.json: per function logical id, the variables `sam local invoke --env-vars`
// sets (it overrides only variables the template declares).
func envFile(t testing.TB) map[string]map[string]string {
	t.Helper()
	var env map[string]map[string]string
	if err := strictDecode(readFile(t, "events/env.json"), &env); err != nil {
		t.Fatalf("events/env.json: %v", err)
	}
	return env
}

func TestEnvFile(t *testing.T) {
	tpl := loadTemplate(t)
	env := envFile(t)
	for _, id := range tpl.resourcesOfType("AWS::Serverless::Function") {
		vars, ok := env[id]
		if !ok {
			t.Errorf("events/env.json has no %s", id)
			continue
		}
		declared := asMap(path(tpl.effective(tpl.Resources[id]), "Environment", "Variables"))
		var got, want []string
		for k := range vars {
			got = append(got, k)
		}
		for k := range declared {
			want = append(want, k)
		}
		sort.Strings(got)
		sort.Strings(want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("events/env.json %s sets %v; the template declares %v", id, got, want)
		}
		dir := strings.ToLower(strings.TrimSuffix(id, "Function"))
		if err := loadFunctionConfig(dir, vars); err != nil {
			t.Errorf("events/env.json %s: %v", id, err)
		}
	}
	for id := range env {
		if tpl.Resources[id].Type != "AWS::Serverless::Function" {
			t.Errorf("events/env.json has %s, which is not a function of the template", id)
		}
	}
}

// TestEventFiles checks that events/ holds one event per function and env.json, nothing else.
func TestEventFiles(t *testing.T) {
	want := map[string]bool{"env.json": true}
	for _, dir := range functionDirs(t) {
		want[dir+".json"] = true
	}
	entries, err := os.ReadDir(filepath.Join(reporoot.Of(t), "events"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, e := range entries {
		got[e.Name()] = true
		if !want[e.Name()] {
			t.Errorf("events/%s belongs to no function", e.Name())
		}
	}
	for name := range want {
		if !got[name] {
			t.Errorf("events/%s is missing", name)
		}
	}
}

func TestStarterEvent(t *testing.T) {
	tpl := loadTemplate(t)
	env := envFile(t)["StarterFunction"]
	var ev events.SQSEvent
	if err := strictDecode(readFile(t, "events/starter.json"), &ev); err != nil {
		t.Fatalf("events/starter.json is not an events.SQSEvent: %v", err)
	}
	if len(ev.Records) == 0 || len(ev.Records) > 10 {
		t.Fatalf("events/starter.json has %d records; the event source delivers 1 to 10", len(ev.Records))
	}
	report := readFile(t, sampleReport)
	sum := md5.Sum(report)
	ingest := rulePattern(t, tpl, "IngestRule")
	for i, m := range ev.Records {
		if m.EventSource != "aws:sqs" || !strings.HasPrefix(m.EventSourceARN, "arn:aws:sqs:") || m.MessageId == "" || m.ReceiptHandle == "" {
			t.Errorf("record %d does not look like an SQS record: %+v", i, m)
		}
		if got := md5.Sum([]byte(m.Body)); hex.EncodeToString(got[:]) != m.Md5OfBody {
			t.Errorf("record %d: md5OfBody %s is not the body's MD5", i, m.Md5OfBody)
		}
		var s3 workflow.S3Event
		if err := strictDecode([]byte(m.Body), &s3); err != nil {
			t.Errorf("record %d: the body is not a workflow.S3Event: %v", i, err)
			continue
		}
		if s3.Source != "aws.s3" || s3.DetailType != "Object Created" {
			t.Errorf("record %d: %s %s, want aws.s3 Object Created", i, s3.Source, s3.DetailType)
		}
		if s3.Detail.Bucket.Name != env["RAW_BUCKET"] {
			t.Errorf("record %d: bucket %s, events/env.json's RAW_BUCKET %s", i, s3.Detail.Bucket.Name, env["RAW_BUCKET"])
		}
		o := s3.Detail.Object
		if o.Key != local.RawKey(sampleReport) || o.ETag != hex.EncodeToString(sum[:]) || o.Size != int64(len(report)) {
			t.Errorf("record %d: object %s %s %d, want %s %x %d (the sample report)", i, o.Key, o.ETag, o.Size, local.RawKey(sampleReport), sum, len(report))
		}
		// The event is one the ingest rule routes (with the bucket as the rule sees it).
		var generic map[string]any
		_ = json.Unmarshal([]byte(strings.ReplaceAll(m.Body, env["RAW_BUCKET"], "{RawBucket}")), &generic)
		if !matches(t, ingest, generic) {
			t.Errorf("record %d: the IngestRule would not route this event", i)
		}
	}
}

// localStepInputs runs the sample report through the local engine (the same definition and
// handlers) and returns what the state machine passed each step, with the bucket renamed.
func localStepInputs(t *testing.T, rawBucket string) map[string]workflow.StepInput {
	t.Helper()
	// The functions' settings (events/env.json): the staged Parquet's footer records the policy.
	fn := envFile(t)["TransformFunction"]
	conf, err := workflow.LoadConfig(func(k string) string { return fn[k] })
	if err != nil {
		t.Fatal(err)
	}
	env, err := local.Open(t.TempDir(), local.Options{Config: conf})
	if err != nil {
		t.Fatal(err)
	}
	res := env.Run(t.Context(), filepath.Join(reporoot.Of(t), sampleReport))
	if res.Status != local.Succeeded {
		t.Fatalf("local run of %s: %s %s", sampleReport, res.Status, res.Error)
	}
	hist, err := env.Engine.History(res.Execution)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]workflow.StepInput{}
	for _, e := range hist {
		d := e.LambdaFunctionScheduledEventDetails
		if d == nil {
			continue
		}
		step := d.Resource[strings.LastIndex(d.Resource, "settle-")+len("settle-"):]
		var in workflow.StepInput
		if err := strictDecode([]byte(d.Input), &in); err != nil {
			t.Fatalf("the engine passed %s an input its handler cannot read: %v", step, err)
		}
		if in.File.Bucket != local.RawBucket {
			t.Fatalf("%s input names bucket %s", step, in.File.Bucket)
		}
		in.File.Bucket = rawBucket
		if in.Input != nil {
			in.Input.File.Bucket = rawBucket
		}
		if in.Transform != nil {
			restage(t, env, in, rawBucket)
		}
		out[step] = in
	}
	return out
}

// restage sets the size of the staged Parquet in in.Transform to what the transform step stages when the raw
// bucket is called rawBucket: its footer's manifest names the source's bucket.
func restage(t *testing.T, env *local.Env, in workflow.StepInput, rawBucket string) {
	t.Helper()
	tr := in.Transform
	ctx := t.Context()
	obj, err := env.Processed.Head(ctx, tr.Partitions[0].Key) // the staged bytes, published
	if err != nil {
		t.Fatal(err)
	}
	footer, ok, err := parquetfile.Metadata(ctx, env.Processed, obj.Key, obj.ETag, obj.Size, workflow.FooterKey)
	if err != nil || !ok {
		t.Fatalf("the staged Parquet's footer: %v (%v)", err, ok)
	}
	renamed := strings.Replace(footer, `"bucket":"`+local.RawBucket+`"`, `"bucket":"`+rawBucket+`"`, 1)
	report, err := os.Open(filepath.Join(reporoot.Of(t), sampleReport))
	if err != nil {
		t.Fatal(err)
	}
	defer report.Close()
	var staged bytes.Buffer
	_, err = parquetfile.Stage(report, &staged, settlement.Job{Key: in.File.Key, ETag: in.File.ETag,
		Metadata: map[string]string{workflow.FooterKey: renamed}})
	if err != nil || renamed == footer {
		t.Fatalf("restage with the bucket %s: %v", rawBucket, err)
	}
	for i := range tr.Partitions {
		tr.Partitions[i].Bytes = int64(staged.Len())
	}
}

// sampleArrived is the arrival time the events give the sample report (the starter event's time):
// the local run's is the moment it ran.
const sampleArrived = "2024-05-03T06:00:00Z"

// withSampleTimes renders a step input as an events/ file: indented JSON, with the check result's
// arrival time (S3's Last-Modified, when present) set to sampleArrived.
func withSampleTimes(t *testing.T, in workflow.StepInput) []byte {
	t.Helper()
	b, _ := json.Marshal(in)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if c, ok := m["check"].(map[string]any); ok {
		if _, ok := c["arrived"]; ok {
			c["arrived"] = sampleArrived
		}
	}
	// Marshal with the field order of the types, not of a map: decode back into the struct.
	b, _ = json.Marshal(m)
	var out workflow.StepInput
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	b, _ = json.MarshalIndent(out, "", "  ")
	return append(b, '\n')
}

// TestStepEvents checks events/<step>.json: each decodes as workflow.StepInput with no unknown field
// and equals what the state machine passes that step for the sample report (go test -update
// rewrites them).
func TestStepEvents(t *testing.T) {
	env := envFile(t)
	steps := []string{"check", "validate", "transform", "write"}
	bucket := env["CheckFunction"]["RAW_BUCKET"]
	want := localStepInputs(t, bucket)
	for _, step := range steps {
		name := "events/" + step + ".json"
		w, ok := want[step]
		if !ok {
			t.Fatalf("the local run never called %s", step)
		}
		wb := withSampleTimes(t, w)
		if *update {
			if err := os.WriteFile(filepath.Join(reporoot.Of(t), name), wb, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var got workflow.StepInput
		if err := strictDecode(readFile(t, name), &got); err != nil {
			t.Errorf("%s is not a workflow.StepInput: %v", name, err)
			continue
		}
		if gb := withSampleTimes(t, got); !bytes.Equal(gb, wb) {
			t.Errorf("%s differs from what the state machine passes %s (go test ./internal/deploy -run TestStepEvents -update):\n%s\nwant:\n%s", name, step, gb, wb)
		}
		if got.File.Bucket != env[functionID(step)]["RAW_BUCKET"] {
			t.Errorf("%s names bucket %s, events/env.json's RAW_BUCKET is %s", name, got.File.Bucket, env[functionID(step)]["RAW_BUCKET"])
		}
		if got.Execution != workflow.ExecutionName(got.File.ETag) {
			t.Errorf("%s: execution %s is not the name the starter gives etag %s", name, got.Execution, got.File.ETag)
		}
	}
}

// The report intake's events: events/webhook.json is the function URL request Adyen's REPORT_AVAILABLE
// notification of the sample report makes, signed with the example secret (testdata/webhook/secret.json)
// and carrying its basic-auth credentials; events/fetch.json is the SQS event of the message the receiver
// queues for it. go test -update rewrites both.
const (
	webhookMessageID = "7b3e9c41-2f0a-4d6b-8e15-9a0c4f7d2b68"
	webhookRequestID = "c1a7f3e2-5b9d-4e60-8f21-3d4a5b6c7d8e"
)

// exampleWebhookSecret is testdata/webhook/secret.json.
func exampleWebhookSecret(t *testing.T) webhook.Secret {
	t.Helper()
	s, err := webhook.ParseSecret(string(readFile(t, "testdata/webhook/secret.json")))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sampleReportNotification is Adyen's notification for the sample report (merchant account AcmeShopNL,
// batch 57, on the test Customer Area).
func sampleReportNotification(t *testing.T, sec webhook.Secret) []byte {
	t.Helper()
	key, err := adyen.ParseKey(sec.HMACKey)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(sampleReport)
	return webhook.ReportNotification(key, adyen.Report{MerchantAccount: "AcmeShopNL", FileName: name, EventDate: "2024-05-03T06:00:00+02:00",
		URL: "https://ca-test.adyen.com/reports/download/MerchantAccount/AcmeShopNL/" + name})
}

func wantWebhookEvent(t *testing.T, sec webhook.Secret, body []byte) events.LambdaFunctionURLRequest {
	t.Helper()
	var ev events.LambdaFunctionURLRequest
	ev.Version, ev.RawPath = "2.0", "/"
	ev.Headers = map[string]string{
		"authorization":  "Basic " + base64.StdEncoding.EncodeToString([]byte(sec.Username+":"+sec.Password)),
		"content-type":   "application/json; charset=utf-8",
		"content-length": strconv.Itoa(len(body)),
		"host":           "abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws",
		"user-agent":     "Adyen HttpClient 1.0",
	}
	rc := &ev.RequestContext
	rc.AccountID, rc.APIID, rc.RequestID = "anonymous", "abcdefghijklmnopqrstuvwxyz012345", webhookRequestID
	rc.DomainName, rc.DomainPrefix = ev.Headers["host"], "abcdefghijklmnopqrstuvwxyz012345"
	rc.Time, rc.TimeEpoch = "03/May/2024:04:00:01 +0000", 1714708801000
	rc.HTTP.Method, rc.HTTP.Path, rc.HTTP.Protocol, rc.HTTP.SourceIP, rc.HTTP.UserAgent = "POST", "/", "HTTP/1.1", "198.51.100.17", "Adyen HttpClient 1.0"
	ev.Body = string(body)
	return ev
}

func wantFetchEvent(t *testing.T, queueURL, body string) events.SQSEvent {
	t.Helper()
	sum := md5.Sum([]byte(body))
	queue := queueURL[strings.LastIndex(queueURL, "/")+1:]
	return events.SQSEvent{Records: []events.SQSMessage{{
		MessageId: webhookMessageID, ReceiptHandle: "AQEBexampleReceiptHandleOfTheWebhookQueue==", Body: body,
		Md5OfBody: hex.EncodeToString(sum[:]), EventSource: "aws:sqs", AWSRegion: "eu-west-1",
		EventSourceARN: "arn:aws:sqs:eu-west-1:123456789012:" + queue,
		Attributes: map[string]string{"ApproximateReceiveCount": "1", "SentTimestamp": "1714708801234", "SenderId": "AROAEXAMPLEWEBHOOKROLE:settle-webhook",
			"ApproximateFirstReceiveTimestamp": "1714708801300"},
	}}}
}

func indented(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

type memQueue struct{ msgs []string }

func (q *memQueue) Send(_ context.Context, b []byte) error {
	q.msgs = append(q.msgs, string(b))
	return nil
}

func TestReportIntakeEvents(t *testing.T) {
	env := envFile(t)
	sec := exampleWebhookSecret(t)
	body := sampleReportNotification(t, sec)

	// The receiver, as the function builds it with events/env.json, answers the webhook event.
	conf, err := webhook.LoadConfig(func(k string) string { return env["WebhookFunction"][k] })
	if err != nil {
		t.Fatal(err)
	}
	q := &memQueue{}
	recv := &webhook.Receiver{Secret: func(context.Context) (webhook.Secret, error) { return sec, nil }, Queue: q,
		Policy: fetch.Policy{Hosts: conf.Hosts}, Pattern: conf.Pattern}
	wantWebhook := indented(t, wantWebhookEvent(t, sec, body))
	if *update {
		if err := os.WriteFile(filepath.Join(reporoot.Of(t), "events/webhook.json"), wantWebhook, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var ev events.LambdaFunctionURLRequest
	if err := strictDecode(readFile(t, "events/webhook.json"), &ev); err != nil {
		t.Fatalf("events/webhook.json is not an events.LambdaFunctionURLRequest: %v", err)
	}
	if got := readFile(t, "events/webhook.json"); !bytes.Equal(got, wantWebhook) {
		t.Errorf("events/webhook.json is not the sample report's signed notification (go test ./internal/deploy -run TestReportIntakeEvents -update)")
	}
	resp, err := recv.HandleURL(t.Context(), ev)
	if err != nil || resp.StatusCode != 200 || resp.Body != webhook.Accepted || len(q.msgs) != 1 {
		t.Fatalf("the receiver answers events/webhook.json with %+v, %v and queues %d messages; want [accepted] and one", resp, err, len(q.msgs))
	}

	// events/fetch.json carries exactly the message the receiver queued.
	wantFetch := indented(t, wantFetchEvent(t, env["WebhookFunction"]["WEBHOOK_QUEUE_URL"], q.msgs[0]))
	if *update {
		if err := os.WriteFile(filepath.Join(reporoot.Of(t), "events/fetch.json"), wantFetch, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var sqs events.SQSEvent
	if err := strictDecode(readFile(t, "events/fetch.json"), &sqs); err != nil {
		t.Fatalf("events/fetch.json is not an events.SQSEvent: %v", err)
	}
	if got := readFile(t, "events/fetch.json"); !bytes.Equal(got, wantFetch) {
		t.Errorf("events/fetch.json is not the message the receiver queues for events/webhook.json (go test ./internal/deploy -run TestReportIntakeEvents -update)")
	}
	var req fetch.Request
	if err := strictDecode([]byte(sqs.Records[0].Body), &req); err != nil {
		t.Fatalf("the fetch event's body is not a fetch.Request: %v", err)
	}
	if req.Key() != "incoming/AcmeShopNL/"+filepath.Base(sampleReport) || req.Check() != nil {
		t.Errorf("fetch request %+v: key %s, check %v", req, req.Key(), req.Check())
	}
	if _, err := (fetch.Policy{Hosts: strings.Split(env["FetchFunction"]["REPORT_HOSTS"], ",")}).CheckURL(req.URL); err != nil {
		t.Errorf("the fetch function's REPORT_HOSTS refuse the event's URL: %v", err)
	}
}
