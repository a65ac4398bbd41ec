package deploy

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/workflow"
)

// schedulerAttributes are EventBridge Scheduler's context attributes, with the values events/batches.json
// stands for.
var schedulerAttributes = map[string]string{
	"<aws.scheduler.scheduled-time>": "2024-05-07T09:00:00Z",
	"<aws.scheduler.execution-id>":   "d32c5kddcf5bb8c3",
	"<aws.scheduler.attempt-number>": "1",
	"<aws.scheduler.schedule-arn>":   "arn:aws:scheduler:eu-west-1:123456789012:schedule/default/settle-batches",
}

// checkScheduleEvent checks the batches function's one event: an EventBridge Scheduler schedule of the
// BatchCheckSchedule parameter (hourly by default), without a flexible window, whose input is what the
// handler reads and what events/batches.json holds.
func checkScheduleEvent(t *testing.T, tpl *template, p map[string]any) {
	t.Helper()
	events := asMap(p["Events"])
	if len(events) != 1 {
		t.Fatalf("BatchesFunction events %v, want one ScheduleV2", events)
	}
	for name, ev := range events {
		if path(ev, "Type") != "ScheduleV2" {
			t.Errorf("batches event %s is %v, want ScheduleV2 (EventBridge Scheduler)", name, path(ev, "Type"))
		}
		props := asMap(path(ev, "Properties"))
		if render(props["ScheduleExpression"], nil) != "{BatchCheckSchedule}" || tpl.Parameters["BatchCheckSchedule"]["Default"] != "rate(1 hour)" {
			t.Errorf("ScheduleExpression %s (default %v), want the BatchCheckSchedule parameter, rate(1 hour)",
				render(props["ScheduleExpression"], nil), tpl.Parameters["BatchCheckSchedule"]["Default"])
		}
		if path(props, "FlexibleTimeWindow", "Mode") != "OFF" {
			t.Errorf("FlexibleTimeWindow = %v, want OFF", props["FlexibleTimeWindow"])
		}
		input, _ := props["Input"].(string)
		for k, v := range schedulerAttributes {
			input = strings.ReplaceAll(input, k, v)
		}
		var in workflow.BatchCheckInput
		if err := strictDecode([]byte(input), &in); err != nil || in.ScheduledTime == "" {
			t.Errorf("the schedule's Input %q is not a workflow.BatchCheckInput: %v", props["Input"], err)
		}
		var file workflow.BatchCheckInput
		if err := strictDecode(readFile(t, "events/batches.json"), &file); err != nil {
			t.Errorf("events/batches.json: %v", err)
		} else if file != in {
			t.Errorf("events/batches.json = %+v, the schedule sends %+v", file, in)
		}
	}
}

// TestBatchCheckTimeout: a claimed alert is sent again after ledger.ResendAfter, which is safe only if no
// check can still be running by then.
func TestBatchCheckTimeout(t *testing.T) {
	tpl := loadTemplate(t)
	timeout := toFloat(path(tpl.effective(tpl.Resources["BatchesFunction"]), "Timeout"))
	if timeout <= 0 || time.Duration(timeout)*time.Second >= ledger.ResendAfter {
		t.Errorf("BatchesFunction's Timeout is %vs; it must be shorter than ledger.ResendAfter (%s)", timeout, ledger.ResendAfter)
	}
}

// TestBatchPolicyParameters: the parameters' defaults are the code's, and what their patterns let
// through, the handler accepts.
func TestBatchPolicyParameters(t *testing.T) {
	tpl := loadTemplate(t)
	if got := toFloat(tpl.Parameters["BatchGraceHours"]["Default"]); time.Duration(got)*time.Hour != ledger.DefaultGrace {
		t.Errorf("BatchGraceHours default %v h, ledger.DefaultGrace %s", got, ledger.DefaultGrace)
	}
	for _, v := range []string{"ShopEU=1d", "ShopEU=24h,Shop US=168h"} {
		if !accepts(tpl.Parameters["BatchCadences"], v) {
			t.Errorf("BatchCadences refuses %q", v)
		}
		if _, err := ledger.ParseCadences(v); err != nil {
			t.Errorf("BatchCadences %q passes the template but not ledger.ParseCadences: %v", v, err)
		}
	}
	env := map[string]string{"BATCH_GRACE_HOURS": fmt.Sprint(tpl.Parameters["BatchGraceHours"]["Default"]), "BATCH_CADENCES": ""}
	if _, err := ledger.PolicyFromEnv(func(k string) string { return env[k] }); err != nil {
		t.Errorf("the default batch policy is refused: %v", err)
	}
}

// spaces collapses whitespace, for comparing SQL laid out differently.
func spaces(s string) string { return strings.Join(strings.Fields(s), " ") }

// TestMissingBatchesQuery: the named query is ledger.GapQuery (the rule Analyze applies, also run on
// DuckDB by internal/local) over the settlement_batches table, with the stack's grace period.
func TestMissingBatchesQuery(t *testing.T) {
	tpl := loadTemplate(t)
	r, ok := tpl.Resources["MissingBatchesQuery"]
	if !ok || r.Type != "AWS::Athena::NamedQuery" {
		t.Fatal("no AWS::Athena::NamedQuery MissingBatchesQuery")
	}
	got := render(r.Properties["QueryString"], nil)
	want := ledger.GapQuery(`"{GlueDatabase}".`+fmt.Sprintf("%q", ledger.Table), "{BatchGraceHours}", "current_timestamp")
	if spaces(got) != spaces(want) {
		t.Errorf("the named query differs from ledger.GapQuery:\n%s\nwant:\n%s", got, want)
	}
	if render(r.Properties["Database"], nil) != "{GlueDatabase}" || render(r.Properties["WorkGroup"], nil) != "{AthenaWorkGroup}" {
		t.Errorf("named query database %v, workgroup %v", r.Properties["Database"], r.Properties["WorkGroup"])
	}
	if render(tpl.Outputs["MissingBatchesQuery"]["Value"], nil) != "{MissingBatchesQuery}" ||
		render(tpl.Outputs["BatchGraceHours"]["Value"], nil) != "{BatchGraceHours}" || render(tpl.Outputs["BatchCadences"]["Value"], nil) != "{BatchCadences}" {
		t.Error("the outputs do not name the query and the batch policy")
	}
	// Every column the query reads is one of the table's.
	cols := batchesColumns(t, tpl)
	for _, c := range []string{"provider", "merchant_account", "batch_number", "arrived"} {
		if _, ok := cols[c]; !ok {
			t.Errorf("the query reads %s, which settlement_batches lacks", c)
		}
	}
}

func batchesColumns(t *testing.T, tpl *template) map[string]string {
	t.Helper()
	r, ok := tpl.Resources["SettlementBatchesTable"]
	if !ok || r.Type != "AWS::Glue::Table" {
		t.Fatal("no AWS::Glue::Table SettlementBatchesTable")
	}
	cols := map[string]string{}
	for _, c := range asList(path(r.Properties, "TableInput", "StorageDescriptor", "Columns")) {
		cols[fmt.Sprint(path(c, "Name"))] = fmt.Sprint(path(c, "Type"))
	}
	return cols
}

// jsonFields maps a struct type's JSON names to their types.
func jsonFields(typ reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out[name] = f.Type
		}
	}
	return out
}

var structField = regexp.MustCompile(`(\w+):`)

// TestBatchesTableMatchesManifest: settlement_batches reads the manifests: its location is their prefix,
// its SerDe reads one JSON object a line, and every column (and field of a struct column) is a field of
// workflow.Manifest with a matching type.
func TestBatchesTableMatchesManifest(t *testing.T) {
	tpl := loadTemplate(t)
	r := tpl.Resources["SettlementBatchesTable"]
	in := asMap(r.Properties["TableInput"])
	if in["Name"] != ledger.Table || render(r.Properties["DatabaseName"], nil) != "{GlueDatabase}" {
		t.Errorf("table %v in %v, want %s in the GlueDatabase", in["Name"], r.Properties["DatabaseName"], ledger.Table)
	}
	sd := asMap(in["StorageDescriptor"])
	if got := render(sd["Location"], nil); got != "s3://{ProcessedBucket}/"+workflow.ManifestPrefix {
		t.Errorf("Location %s, want the manifests", got)
	}
	if lib := path(sd, "SerdeInfo", "SerializationLibrary"); lib != "org.openx.data.jsonserde.JsonSerDe" {
		t.Errorf("SerDe %v", lib)
	}
	manifest := jsonFields(reflect.TypeOf(workflow.Manifest{}))
	kinds := map[string]func(reflect.Type) bool{
		"string": func(t reflect.Type) bool { return t.Kind() == reflect.String || t == reflect.TypeOf(time.Time{}) },
		"bigint": func(t reflect.Type) bool { return t.Kind() == reflect.Int64 || t.Kind() == reflect.Int },
	}
	for name, typ := range batchesColumns(t, tpl) {
		ft, ok := manifest[name]
		if !ok {
			t.Errorf("column %s is not a field of the manifest", name)
			continue
		}
		switch {
		case kinds[typ] != nil:
			if !kinds[typ](ft) {
				t.Errorf("column %s %s: the manifest's field is %s", name, typ, ft)
			}
		case strings.HasPrefix(typ, "struct<"), strings.HasPrefix(typ, "array<struct<"):
			if ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			sub := jsonFields(ft)
			for _, m := range structField.FindAllStringSubmatch(typ, -1) {
				if _, ok := sub[m[1]]; !ok {
					t.Errorf("column %s: %s is not a field of the manifest's %s", name, m[1], ft)
				}
			}
		default:
			t.Errorf("column %s has type %s", name, typ)
		}
	}
}

// TestBatchesEvent: events/batches.json is what Scheduler sends, for `sam local invoke BatchesFunction`.
func TestBatchesEvent(t *testing.T) {
	var in workflow.BatchCheckInput
	if err := json.Unmarshal(readFile(t, "events/batches.json"), &in); err != nil {
		t.Fatal(err)
	}
	if in.ScheduledTime != schedulerAttributes["<aws.scheduler.scheduled-time>"] {
		t.Errorf("events/batches.json scheduledTime %q", in.ScheduledTime)
	}
}
