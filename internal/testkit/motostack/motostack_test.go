package motostack_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/testkit/motoserver"
	"github.com/paysettle/settle/internal/testkit/motostack"
	"github.com/paysettle/settle/internal/testkit/proof"
	"github.com/paysettle/settle/internal/workflow"
)

func TestMain(m *testing.M) {
	code := m.Run()
	motoserver.StopShared()
	os.Exit(code)
}

// The outputs moto leaves out, and why: each reads a resource moto's CloudFormation does not model.
var missingOutputs = map[string]string{
	"WebhookUrl":          "AWS::Lambda::Url (left out by the adaptation outputs-of-unmodelled-resources)",
	"GlueDatabase":        "AWS::Glue::Database",
	"AthenaWorkGroup":     "AWS::Athena::WorkGroup",
	"WebhookSecretArn":    "AWS::SecretsManager::Secret",
	"ReportUserSecretArn": "AWS::SecretsManager::Secret",
	"MissingBatchesQuery": "AWS::Athena::NamedQuery",
	"BatchCadences":       "an empty value: the parameter's default configures no cadence",
	"TableBucketArn":      "AWS::S3Tables::TableBucket",
	"IcebergTableArn":     "AWS::S3Tables::Table",
	"IcebergWarehouse":    "AWS::S3Tables::Table",
}

// TestTemplateDeploysToMoto deploys template.yaml, expanded by aws-sam-translator, to moto's
// CloudFormation: the change set executes to CREATE_COMPLETE and the stack has every output the
// operator commands need; the others are missing only where moto lacks the resource type.
func TestTemplateDeploysToMoto(t *testing.T) {
	s := motostack.New(t)
	out, err := s.CFN.DescribeStacks(t.Context(), &cloudformation.DescribeStacksInput{StackName: aws.String(s.Name)})
	if err != nil {
		t.Fatal(err)
	}
	if st := out.Stacks[0].StackStatus; st != "CREATE_COMPLETE" {
		t.Fatalf("stack status %s", st)
	}
	for _, k := range ops.RequiredOutputs {
		if s.Out(k) == "" {
			t.Errorf("required output %s missing", k)
		}
	}
	var tmpl struct{ Outputs map[string]any }
	raw, _ := motostack.Expanded()
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		t.Fatal(err)
	}
	var gone []string
	for k := range tmpl.Outputs {
		if s.Out(k) == "" {
			gone = append(gone, k)
			if missingOutputs[k] == "" {
				t.Errorf("output %s is missing in moto, and not for a known reason", k)
			}
		}
	}
	for k := range missingOutputs {
		if s.Out(k) != "" {
			t.Errorf("output %s = %q: moto now provides it; update the list and docs/testing.md", k, s.Out(k))
		}
	}
	sort.Strings(gone)
	t.Logf("outputs moto leaves out: %v", gone)
	if !strings.HasPrefix(s.Out("StateMachineArn"), "arn:aws:states:"+motostack.Region+":") || !strings.HasPrefix(s.Out("IngestQueueUrl"), "https://sqs.") {
		t.Errorf("outputs %v", s.Outputs)
	}
}

// The definition moto holds is statemachine/settlement.asl.json with the template's
// DefinitionSubstitutions made: each task names the stack's function, queue and topic.
func TestDefinitionIsSubstituted(t *testing.T) {
	s := motostack.New(t)
	ctx := t.Context()
	d, err := s.SFN.DescribeStateMachine(ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(s.Out("StateMachineArn"))})
	if err != nil {
		t.Fatal(err)
	}
	root, _ := motostack.RepoRoot()
	file, err := os.ReadFile(filepath.Join(root, "statemachine", "settlement.asl.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := string(file)
	for k, v := range map[string]string{"FailedFilesQueueUrl": s.Out("FailedFilesQueueUrl"), "AlertTopicArn": s.Out("AlertTopicArn")} {
		want = strings.ReplaceAll(want, "${"+k+"}", v)
	}
	got := aws.ToString(d.Definition)
	for _, step := range []string{"Check", "Validate", "Transform", "Write"} {
		prefix := "arn:aws:lambda:" + motostack.Region + ":123456789012:function:" + s.Name + "-" + step + "Function-"
		i := strings.Index(got, prefix)
		if i < 0 {
			t.Fatalf("the definition names no %sFunction:\n%s", step, got)
		}
		arn := got[i : i+strings.IndexByte(got[i:], '"')]
		want = strings.ReplaceAll(want, "${"+step+"FunctionArn}", arn)
	}
	var a, b any
	if err := json.Unmarshal([]byte(got), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &b); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) || strings.Contains(got, "${") {
		t.Errorf("moto's definition differs from the file with the substitutions made:\n%s", got)
	}
}

// The functions get the stack's resources in their environment: the starter's RAW_BUCKET and
// STATE_MACHINE_ARN are the buckets and state machine the outputs name.
func TestFunctionEnvironments(t *testing.T) {
	s := motostack.New(t)
	ctx := t.Context()
	starter, err := s.FunctionEnv(ctx, "StarterFunction")
	if err != nil {
		t.Fatal(err)
	}
	if starter["RAW_BUCKET"] != s.Out("RawBucket") || starter["STATE_MACHINE_ARN"] != s.Out("StateMachineArn") || starter["METRICS_NAMESPACE"] != "Settle" {
		t.Errorf("starter environment %v", starter)
	}
	for _, fn := range []string{"CheckFunction", "ValidateFunction", "TransformFunction", "WriteFunction"} {
		env, err := s.FunctionEnv(ctx, fn)
		if err != nil {
			t.Fatal(err)
		}
		if env["RAW_BUCKET"] != s.Out("RawBucket") || env["PROCESSED_BUCKET"] != s.Out("ProcessedBucket") || env["MAX_REJECTED_ROWS"] != "0" || env["BALANCE_CHECK"] != "on" {
			t.Errorf("%s environment %v", fn, env)
		}
	}
}

// An object created in the raw bucket reaches the ingest queue through moto's EventBridge and the
// stack's IngestRule (.csv in any case, this bucket only).
func TestRawBucketEventsReachTheIngestQueue(t *testing.T) {
	s := motostack.New(t)
	ctx := t.Context()
	etag := s.Upload(t, "incoming/a b+c.csv", []byte("a report\n"))
	s.Upload(t, "incoming/UPPER.CSV", []byte("another\n"))
	s.Upload(t, "incoming/notes.txt", []byte("not a report\n"))
	if _, err := s.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.Out("ProcessedBucket")), Key: aws.String("incoming/x.csv"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	msgs := receive(t, s, s.Out("IngestQueueUrl"))
	if len(msgs) != 2 {
		t.Fatalf("%d messages in the ingest queue, want 2 (the two .csv of the raw bucket): %v", len(msgs), msgs)
	}
	var ev workflow.S3Event
	if err := json.Unmarshal([]byte(msgs[0]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Source != "aws.s3" || ev.DetailType != "Object Created" || ev.Detail.Bucket.Name != s.Out("RawBucket") ||
		ev.Detail.Object.Key != "incoming/a b+c.csv" || ev.Detail.Object.ETag != etag || ev.Detail.Object.Size != 9 {
		t.Errorf("event %+v", ev)
	}
	// moto's archive keeps none of the events its S3 hands to the rules; those that come through
	// PutEvents, it keeps.
	if n := archived(t, s); n != 0 {
		t.Errorf("the archive keeps %d events from S3: moto now archives them; update ArchiveEvent and docs/testing.md", n)
	}
	s.ArchiveEvent(t, msgs[0])
	if n := archived(t, s); n != 1 {
		t.Errorf("the archive keeps %d events, want the one put on the bus", n)
	}
	if again := receive(t, s, s.Out("IngestQueueUrl")); len(again) != 1 || again[0] == msgs[0] {
		t.Errorf("the event put on the bus reached the ingest queue %d times, want once, as a new event: %v", len(again), again)
	}
}

func archived(t *testing.T, s *motostack.Stack) int64 {
	t.Helper()
	arn := s.Out("EventArchiveArn")
	ar, err := s.Events.DescribeArchive(t.Context(), &eventbridge.DescribeArchiveInput{ArchiveName: aws.String(arn[strings.LastIndex(arn, "/")+1:])})
	if err != nil {
		t.Fatal(err)
	}
	if ar.State != "ENABLED" || aws.ToInt32(ar.RetentionDays) != 90 {
		t.Errorf("archive %s, %d days; want ENABLED, 90 (ArchiveRetentionDays)", ar.State, aws.ToInt32(ar.RetentionDays))
	}
	return ar.EventCount
}

// A message the starter fails ten times (maxReceiveCount) moves to the ingest DLQ on the next receive.
func TestIngestRedrivePolicy(t *testing.T) {
	s := motostack.New(t)
	ctx := t.Context()
	s.Upload(t, "incoming/stuck.csv", []byte("x\n"))
	url := s.Out("IngestQueueUrl")
	for i := 1; i <= 11; i++ {
		res, err := s.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url),
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount}})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range res.Messages { // the starter failed it: it is back at once
			if _, err := s.SQS.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
		if i <= 10 && len(res.Messages) != 1 {
			t.Fatalf("receive %d: %d messages", i, len(res.Messages))
		}
		if i == 11 && len(res.Messages) != 0 {
			t.Fatalf("receive 11 still found the message (receive count %s)", res.Messages[0].Attributes["ApproximateReceiveCount"])
		}
	}
	if got := receive(t, s, s.Out("IngestDeadLetterQueueUrl")); len(got) != 1 || !strings.Contains(got[0], "incoming/stuck.csv") {
		t.Errorf("ingest DLQ: %v", got)
	}
}

// The FailedExecutionRule's pattern, evaluated by moto's EventBridge: an execution that failed,
// timed out or was aborted outside the definition's Catch path reaches the failed-files queue; one
// that the definition rejected (a data error, already sent by the definition) does not.
func TestFailedExecutionRulePattern(t *testing.T) {
	s := motostack.New(t)
	etag := s.Upload(t, "incoming/f.csv", []byte("x\n"))
	if d := s.RunStarter(t); len(d) != 1 || d[0].Retry {
		t.Fatalf("starter: %+v", d)
	}
	name := workflow.ExecutionName(etag)
	cases := []struct {
		status, err string
		forwarded   bool
	}{
		{"FAILED", "TransientError", true},
		{"TIMED_OUT", "", true},
		{"ABORTED", "", true},
		{"FAILED", "ValidationError", false},
		{"FAILED", "InvalidFileError", false},
		{"FAILED", "ConflictError", false},
		{"SUCCEEDED", "", false},
	}
	want := 0
	for _, c := range cases {
		s.StatusChange(t, name, c.status, c.err, "cause")
		if c.forwarded {
			want++
		}
	}
	got := receive(t, s, s.Out("FailedFilesQueueUrl"))
	if len(got) != want {
		t.Fatalf("%d messages in the failed-files queue, want %d:\n%s", len(got), want, strings.Join(got, "\n"))
	}
	var seen []string
	for _, m := range got {
		var ev struct {
			Detail struct{ Status, Error string } `json:"detail"`
		}
		if err := json.Unmarshal([]byte(m), &ev); err != nil {
			t.Fatal(err)
		}
		seen = append(seen, ev.Detail.Status+"/"+ev.Detail.Error)
	}
	sort.Strings(seen)
	if !slices.Equal(seen, []string{"ABORTED/", "FAILED/TransientError", "TIMED_OUT/"}) {
		t.Errorf("forwarded %v", seen)
	}
}

// receive reads every visible message of a queue (and leaves them in flight).
func receive(t *testing.T, s *motostack.Stack, url string) []string {
	t.Helper()
	var out []string
	for {
		res, err := s.SQS.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, VisibilityTimeout: 60})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Messages) == 0 {
			return out
		}
		for _, m := range res.Messages {
			out = append(out, aws.ToString(m.Body))
		}
	}
}

// TestUnmodelledTypes checks motostack.Unmodelled against the installed moto: exactly the template's
// resource types that moto's CloudFormation has no model for.
func TestUnmodelledTypes(t *testing.T) {
	raw := motostack.Template(t)
	types, err := motostack.Types(raw)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("python3", "-c", "from moto.cloudformation.parsing import get_model_map\nprint('\\n'.join(get_model_map()))").Output()
	if err != nil {
		t.Fatalf("moto's model map: %v", err)
	}
	modelled := strings.Fields(string(out))
	var unmodelled []string
	for _, typ := range types {
		if !slices.Contains(modelled, typ) {
			unmodelled = append(unmodelled, typ)
		}
	}
	if !slices.Equal(unmodelled, motostack.Unmodelled) {
		t.Errorf("moto %s does not model %v; motostack.Unmodelled says %v", motoserver.Version, unmodelled, motostack.Unmodelled)
	}
}

// TestAdaptationsAreNeeded deploys the template without each adaptation in turn and shows what moto
// does then: it refuses the stack, or the stack does not work. An adaptation moto no longer needs
// fails here, to be removed (with its line in docs/testing.md).
func TestAdaptationsAreNeeded(t *testing.T) {
	motostack.Template(t) // skips without the tools
	expanded, _ := motostack.Expanded()
	srv := motoserver.Shared(t)
	deploy := func(t *testing.T, skip string) (*motostack.Stack, error) {
		body, err := motostack.ForMoto(expanded, skip)
		if err != nil {
			t.Fatal(err)
		}
		return motostack.DeployBody(t.Context(), srv, body)
	}
	checks := map[string]func(t *testing.T){
		"outputs-of-unmodelled-resources": func(t *testing.T) {
			if _, err := deploy(t, "outputs-of-unmodelled-resources"); err == nil || !strings.Contains(err.Error(), "StatusCode: 500") {
				t.Errorf("deploy: %v; want moto's HTTP 500", err)
			}
		},
		"attributes-of-unmodelled-resources": func(t *testing.T) {
			if _, err := deploy(t, "attributes-of-unmodelled-resources"); err == nil || !strings.Contains(err.Error(), "references undefined resource") {
				t.Errorf("deploy: %v; want moto's refusal of an attribute of an undefined resource", err)
			}
		},
		"archive-pattern-as-text": func(t *testing.T) {
			if _, err := deploy(t, "archive-pattern-as-text"); err == nil || !strings.Contains(err.Error(), "StatusCode: 500") {
				t.Errorf("deploy: %v; want moto's HTTP 500", err)
			}
		},
		"archives-after-rules": func(t *testing.T) {
			s, err := deploy(t, "archives-after-rules")
			if err != nil {
				t.Fatal(err)
			}
			s.Upload(t, "incoming/a.csv", []byte("x\n"))
			if got := receive(t, s, s.Out("IngestQueueUrl")); len(got) != 0 {
				t.Errorf("the ingest rule got the S3 event although the archive was created first: %d messages", len(got))
			}
		},
		"rule-targets-sns": func(t *testing.T) {
			s, err := deploy(t, "rule-targets-sns")
			if err != nil {
				t.Fatal(err)
			}
			detail := `{"stateMachineArn":"` + s.Out("StateMachineArn") + `","name":"x","status":"FAILED","error":"TransientError"}`
			_, err = s.Events.PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
				Source: aws.String("aws.states"), DetailType: aws.String("Step Functions Execution Status Change"), Detail: aws.String(detail)}}})
			if err == nil || !strings.Contains(err.Error(), "StatusCode: 500") {
				t.Errorf("PutEvents matching the rule with an SNS target: %v; want moto's HTTP 500", err)
			}
		},
		"event-source-mappings-disabled": func(t *testing.T) {
			if _, err := os.Stat("/var/run/docker.sock"); err == nil {
				t.Skip("Docker is here: moto would run (and download) a Lambda image")
			}
			s, err := deploy(t, "event-source-mappings-disabled")
			if err != nil {
				t.Fatal(err)
			}
			url := s.Out("IngestQueueUrl")
			if _, err := s.SQS.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("{}")}); err != nil {
				t.Fatal(err)
			}
			res, err := s.SQS.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url),
				MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount}})
			if err != nil || len(res.Messages) != 1 {
				t.Fatalf("%v, %d messages", err, len(res.Messages))
			}
			if n := res.Messages[0].Attributes["ApproximateReceiveCount"]; n != "2" {
				t.Errorf("receive count %s; want 2: moto's failed invocation received it first", n)
			}
		},
	}
	for _, a := range motostack.Adaptations {
		check, ok := checks[a.Name]
		if !ok {
			t.Errorf("adaptation %s has no check here", a.Name)
			continue
		}
		t.Run(a.Name, check)
	}
}

// The expansion the stack is deployed from (before the adaptations for moto) is valid CloudFormation
// for AWS's own linter: the definition written inline, with its substitutions joined in, included.
func TestExpansionPassesCfnLint(t *testing.T) {
	motostack.Template(t) // skips without the tools
	expanded, _ := motostack.Expanded()
	if _, err := exec.LookPath("cfn-lint"); err != nil {
		proof.Missing(t, "cfn-lint not found on PATH (pip install cfn-lint==1.51.0)")
	}
	path := filepath.Join(t.TempDir(), "expanded.json")
	if err := os.WriteFile(path, expanded, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cfn-lint", path).CombinedOutput(); err != nil {
		t.Errorf("cfn-lint on the expanded template: %v\n%s", err, out)
	}
}
