package deploy

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/workflow"
)

// The event patterns of the template's rules, run against sample events with a small matcher of the
// EventBridge operators they use (exact values, null, prefix/suffix with equals-ignore-case,
// anything-but, exists, $or), as the EventBridge user guide describes them. What EventBridge itself
// does with the Step Functions status-change event is for a real deployment to confirm (README).

// resolve replaces the intrinsic functions in a pattern by their rendering ({RawBucket}, ...).
func resolve(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for k := range x {
				if k == "Ref" || strings.HasPrefix(k, "Fn::") {
					return render(x, nil)
				}
			}
		}
		out := map[string]any{}
		for k, e := range x {
			out[k] = resolve(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = resolve(e)
		}
		return out
	}
	return v
}

// matches reports whether event matches pattern.
func matches(t *testing.T, pattern, event map[string]any) bool {
	for k, pv := range pattern {
		if k == "$or" {
			any := false
			for _, branch := range asList(pv) {
				if matches(t, asMap(branch), event) {
					any = true
				}
			}
			if !any {
				return false
			}
			continue
		}
		ev, exists := event[k]
		switch p := pv.(type) {
		case map[string]any:
			sub, ok := ev.(map[string]any)
			if !exists || !ok || !matches(t, p, sub) {
				return false
			}
		case []any:
			any := false
			for _, cond := range p {
				if leafMatches(t, cond, ev, exists) {
					any = true
				}
			}
			if !any {
				return false
			}
		default:
			t.Fatalf("pattern field %s is %T; EventBridge wants an object or an array", k, pv)
		}
	}
	return true
}

func leafMatches(t *testing.T, cond, ev any, exists bool) bool {
	op, ok := cond.(map[string]any)
	if !ok { // an exact value, or null
		return exists && reflect.DeepEqual(cond, ev)
	}
	if len(op) != 1 {
		t.Fatalf("comparison %v has more than one operator", op)
	}
	s, isString := ev.(string)
	for name, arg := range op {
		switch name {
		case "exists":
			return exists == (arg == true)
		case "prefix", "suffix":
			want, fold := arg, false
			if m, ok := arg.(map[string]any); ok {
				want, fold = m["equals-ignore-case"], true
			}
			w := fmt.Sprint(want)
			if !exists || !isString {
				return false
			}
			if fold {
				s, w = strings.ToLower(s), strings.ToLower(w)
			}
			if name == "prefix" {
				return strings.HasPrefix(s, w)
			}
			return strings.HasSuffix(s, w)
		case "equals-ignore-case":
			return exists && isString && strings.EqualFold(s, fmt.Sprint(arg))
		case "anything-but":
			if !exists || ev == nil {
				return false
			}
			for _, a := range asList(arg) {
				if reflect.DeepEqual(a, ev) {
					return false
				}
			}
			return true
		default:
			t.Fatalf("operator %s is not one this matcher knows", name)
		}
	}
	return false
}

func rulePattern(t *testing.T, tpl *template, id string) map[string]any {
	t.Helper()
	r, ok := tpl.Resources[id]
	if !ok {
		t.Fatalf("no resource %s", id)
	}
	return asMap(resolve(r.Properties["EventPattern"]))
}

func s3Event(bucket, key string) map[string]any {
	var ev map[string]any
	body := fmt.Sprintf(`{"version":"0","id":"1","detail-type":"Object Created","source":"aws.s3","account":"123456789012",
		"time":"2024-05-03T10:00:00Z","region":"eu-west-1","resources":["arn:aws:s3:::%s"],
		"detail":{"version":"0","bucket":{"name":%q},"object":{"key":%q,"size":1875,"etag":"dbb8e651909be6dcdda3de38fa9b00a0","sequencer":"1"},
		"request-id":"R","requester":"123456789012","reason":"PutObject"}}`, bucket, bucket, key)
	if err := json.Unmarshal([]byte(body), &ev); err != nil {
		panic(err)
	}
	return ev
}

func TestIngestRulePattern(t *testing.T) {
	tpl := loadTemplate(t)
	p := rulePattern(t, tpl, "IngestRule")
	for _, c := range []struct {
		bucket, key string
		want        bool
	}{
		{"{RawBucket}", "incoming/settlement_detail_report_batch_57.csv", true},
		{"{RawBucket}", "incoming/REPORT.CSV", true},
		{"{RawBucket}", "incoming/report.Csv", true},
		{"{RawBucket}", "incoming/a+b%20c ü.csv", true},
		{"{RawBucket}", "incoming/report.csv.gz", false},
		{"{RawBucket}", "incoming/report.txt", false},
		{"another-bucket", "incoming/report.csv", false},
	} {
		if got := matches(t, p, s3Event(c.bucket, c.key)); got != c.want {
			t.Errorf("IngestRule matches s3://%s/%s = %v, want %v", c.bucket, c.key, got, c.want)
		}
	}
	deleted := s3Event("{RawBucket}", "incoming/a.csv")
	deleted["detail-type"] = "Object Deleted"
	if matches(t, p, deleted) {
		t.Error("IngestRule matches Object Deleted")
	}

	// The archive keeps exactly what the rule routes, so a replay reaches the ingest queue.
	if a := rulePattern(t, tpl, "IngestArchive"); !reflect.DeepEqual(a, p) {
		t.Errorf("IngestArchive pattern %v differs from IngestRule's %v", a, p)
	}
	arch := tpl.Resources["IngestArchive"].Properties
	if render(arch["SourceArn"], nil) != "arn:{AWS::Partition}:events:{AWS::Region}:{AWS::AccountId}:event-bus/default" {
		t.Errorf("IngestArchive archives %s, want the default bus", render(arch["SourceArn"], nil))
	}
	if render(arch["RetentionDays"], nil) != "{ArchiveRetentionDays}" {
		t.Errorf("IngestArchive RetentionDays = %v", arch["RetentionDays"])
	}
	rule := tpl.Resources["IngestRule"].Properties
	if rule["EventBusName"] != "default" {
		t.Errorf("IngestRule is on bus %v, want default (where S3 sends)", rule["EventBusName"])
	}
	targets := asList(rule["Targets"])
	if len(targets) != 1 || render(path(targets[0], "Arn"), nil) != "{IngestQueue.Arn}" {
		t.Fatalf("IngestRule targets %v, want the IngestQueue", targets)
	}
	if path(targets[0], "InputTransformer") != nil || path(targets[0], "InputPath") != nil || path(targets[0], "Input") != nil {
		t.Error("IngestRule changes the event; the starter decodes the whole EventBridge event (workflow.S3Event)")
	}
}

func TestFailedExecutionRulePattern(t *testing.T) {
	tpl := loadTemplate(t)
	p := rulePattern(t, tpl, "FailedExecutionRule")
	event := func(sm, status string, errName any, withError bool) map[string]any {
		detail := map[string]any{
			"executionArn": "arn:aws:states:eu-west-1:123456789012:execution:sm:dbb8e651", "stateMachineArn": sm,
			"name": "dbb8e651", "status": status, "startDate": 1714730000000.0, "stopDate": 1714730060000.0,
			"input": "{}", "output": nil,
		}
		if withError {
			detail["error"] = errName
			detail["cause"] = "..."
		}
		return map[string]any{"version": "0", "id": "2", "detail-type": "Step Functions Execution Status Change",
			"source": "aws.states", "account": "123456789012", "time": "2024-05-03T10:01:00Z", "region": "eu-west-1",
			"resources": []any{"arn:aws:states:eu-west-1:123456789012:execution:sm:dbb8e651"}, "detail": detail}
	}
	sm := "{SettlementStateMachine}"
	cases := []struct {
		what string
		ev   map[string]any
		want bool
	}{
		{"retries exhausted (TransientError)", event(sm, "FAILED", "TransientError", true), true},
		{"StorageError", event(sm, "FAILED", "StorageError", true), true},
		{"Lambda timeout", event(sm, "FAILED", "States.Timeout", true), true},
		{"timed out", event(sm, "TIMED_OUT", "States.Timeout", true), true},
		{"aborted without an error", event(sm, "ABORTED", nil, false), true},
		{"failed, no error field", event(sm, "FAILED", nil, false), true},
		{"failed, error null", event(sm, "FAILED", nil, true), true},
		{"succeeded", event(sm, "SUCCEEDED", nil, false), false},
		{"running", event(sm, "RUNNING", nil, false), false},
		{"another state machine", event("arn:other", "FAILED", "TransientError", true), false},
	}
	caught := caughtErrors(t)
	for _, e := range caught {
		cases = append(cases, struct {
			what string
			ev   map[string]any
			want bool
		}{"rejected with " + e + " (already alerted by the Catch path)", event(sm, "FAILED", e, true), false})
	}
	for _, c := range cases {
		if got := matches(t, p, c.ev); got != c.want {
			t.Errorf("FailedExecutionRule matches %s = %v, want %v", c.what, got, c.want)
		}
	}

	// The excluded errors are exactly the ones the definition catches, and the handlers return them.
	var excluded []string
	for _, branch := range asList(path(p, "detail", "$or")) {
		for _, cond := range asList(path(branch, "error")) {
			for _, e := range asList(path(cond, "anything-but")) {
				excluded = append(excluded, fmt.Sprint(e))
			}
		}
	}
	sort.Strings(excluded)
	if !reflect.DeepEqual(excluded, caught) {
		t.Errorf("FailedExecutionRule excludes %v, the definition catches %v", excluded, caught)
	}
	known := map[string]bool{}
	for _, n := range workflow.ErrorNames {
		known[n] = true
	}
	for _, e := range caught {
		if !known[e] {
			t.Errorf("the definition catches %s, which is not in workflow.ErrorNames", e)
		}
	}

	// Targets: the whole event to the DLQ (tools parse it), a readable message to the topic.
	targets := asList(tpl.Resources["FailedExecutionRule"].Properties["Targets"])
	byArn := map[string]map[string]any{}
	for _, tg := range targets {
		byArn[render(path(tg, "Arn"), nil)] = asMap(tg)
	}
	q, ok := byArn["{FailedFilesQueue.Arn}"]
	if !ok || q["InputTransformer"] != nil || q["InputPath"] != nil || q["Input"] != nil {
		t.Errorf("FailedExecutionRule must send the whole event to the FailedFilesQueue: %v", q)
	}
	topic, ok := byArn["{AlertTopic}"]
	if !ok {
		t.Fatal("FailedExecutionRule does not notify the AlertTopic")
	}
	paths := asMap(path(topic, "InputTransformer", "InputPathsMap"))
	tmpl := fmt.Sprint(path(topic, "InputTransformer", "InputTemplate"))
	for _, m := range regexp.MustCompile(`<([A-Za-z0-9_.-]+)>`).FindAllStringSubmatch(tmpl, -1) {
		if _, ok := paths[m[1]]; !ok {
			t.Errorf("InputTemplate uses <%s>, which InputPathsMap does not define", m[1])
		}
	}
	for _, need := range []string{"<name>", "<executionArn>", "console.aws.amazon.com/states"} {
		if !strings.Contains(tmpl, need) {
			t.Errorf("the alert message lacks %s", need)
		}
	}
	sample := regexp.MustCompile(`<[A-Za-z0-9_.-]+>`).ReplaceAllString(tmpl, "x")
	var msg string
	if err := json.Unmarshal([]byte(sample), &msg); err != nil {
		t.Errorf("InputTemplate is not one JSON string once filled in: %v", err)
	}
	for k, v := range paths {
		if !strings.HasPrefix(fmt.Sprint(v), "$.") {
			t.Errorf("InputPathsMap %s = %v is not a JSONPath", k, v)
		}
	}
}
