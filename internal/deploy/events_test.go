package deploy

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/paysettle/settle/internal/local"
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
		if _, err := workflow.LoadConfig(func(k string) string { return vars[k] }); err != nil {
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
	entries, err := os.ReadDir(filepath.Join(root(t), "events"))
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
	env, err := local.Open(t.TempDir(), local.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res := env.Run(context.Background(), filepath.Join(root(t), sampleReport))
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
		out[step] = in
	}
	return out
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
			if err := os.WriteFile(filepath.Join(root(t), name), wb, 0o644); err != nil {
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
