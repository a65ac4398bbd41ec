package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/adyen"
	"github.com/paysettle/settle/internal/cloud"
	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/table"
	"github.com/paysettle/settle/internal/testkit/reporoot"
	"github.com/paysettle/settle/internal/webhook"
	"github.com/paysettle/settle/internal/workflow"
	"github.com/paysettle/settle/statemachine"
)

// Environment variables the handlers read (contract with internal/workflow and internal/obs).
var (
	stepEnv    = []string{"BALANCE_CHECK", "MAX_FILE_BYTES", "MAX_REJECTED_ROWS", "METRICS_NAMESPACE", "PROCESSED_BUCKET", "RAW_BUCKET", "SETTLE_TIMEZONES"}
	starterEnv = []string{"METRICS_NAMESPACE", "RAW_BUCKET", "STATE_MACHINE_ARN"}
	batchesEnv = []string{"ADYEN_ENVIRONMENT", "ALERT_TOPIC_ARN", "BATCH_CADENCES", "BATCH_GRACE_HOURS", "METRICS_NAMESPACE", "PROCESSED_BUCKET",
		"REPAIR_GAPS", "REPAIR_GAPS_OFF", "TABLE_BUCKET_ARN", "TABLE_NAME", "TABLE_NAMESPACE", "WEBHOOK_QUEUE_URL"}
	webhookEnv = []string{"METRICS_NAMESPACE", "REPORT_FILE_PATTERN", "REPORT_HOSTS", "WEBHOOK_QUEUE_URL", "WEBHOOK_SECRET_ARN"}
	fetchEnv   = []string{"FETCH_ATTEMPTS", "FETCH_DLQ_URL", "MAX_FILE_BYTES", "METRICS_NAMESPACE", "RAW_BUCKET", "REPORT_HOSTS", "REPORT_USER_SECRET_ARN"}
	// writeEnv is a step's, and the S3 Tables table the write step commits to.
	writeEnv = append(append([]string{}, stepEnv...), "TABLE_BUCKET_ARN", "TABLE_NAME", "TABLE_NAMESPACE")
	// functionEnv is the environment of each function that is not a step like the others.
	functionEnv = map[string][]string{"starter": starterEnv, "webhook": webhookEnv, "fetch": fetchEnv, "batches": batchesEnv, "write": writeEnv}
)

// loadFunctionConfig loads a function's configuration the way its main does, from env.
func loadFunctionConfig(dir string, env map[string]string) error {
	getenv := func(k string) string { return env[k] }
	if _, err := workflow.LoadConfig(getenv); err != nil {
		return err
	}
	switch dir {
	case "webhook":
		_, err := webhook.LoadConfig(getenv)
		return err
	case "fetch":
		_, err := fetch.LoadConfig(getenv)
		return err
	case "batches":
		_, err := ledger.PolicyFromEnv(getenv)
		return err
	}
	return nil
}

// functionDirs lists functions/<dir> folders holding a main.go.
func functionDirs(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(reporoot.Of(t), "functions"))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(reporoot.Of(t), "functions", e.Name(), "main.go")); e.IsDir() && err == nil {
			dirs = append(dirs, e.Name())
		}
	}
	sort.Strings(dirs)
	return dirs
}

// functionID is the template's logical id of functions/<dir>: starter -> StarterFunction.
func functionID(dir string) string { return strings.ToUpper(dir[:1]) + dir[1:] + "Function" }

func TestDefinitionSubstitutions(t *testing.T) {
	tpl := loadTemplate(t)
	sm, ok := tpl.Resources["SettlementStateMachine"]
	if !ok || sm.Type != "AWS::Serverless::StateMachine" {
		t.Fatal("no AWS::Serverless::StateMachine SettlementStateMachine")
	}
	p := sm.Properties
	if p["DefinitionUri"] != "statemachine/settlement.asl.json" {
		t.Errorf("DefinitionUri = %v, want statemachine/settlement.asl.json (the file the local engine embeds)", p["DefinitionUri"])
	}
	if p["Type"] != "STANDARD" {
		t.Errorf("Type = %v, want STANDARD (redrive and exactly-once names need it)", p["Type"])
	}
	inDefinition := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\{([^}]+)\}`).FindAllSubmatch(statemachine.Definition, -1) {
		inDefinition[string(m[1])] = true
	}
	subs := asMap(p["DefinitionSubstitutions"])
	for name := range inDefinition {
		if _, ok := subs[name]; !ok {
			t.Errorf("the definition uses ${%s} but DefinitionSubstitutions has no %s", name, name)
		}
	}
	for name := range subs {
		if !inDefinition[name] {
			t.Errorf("DefinitionSubstitutions has %s, which the definition never uses", name)
		}
	}
	var declared []string
	for name := range inDefinition {
		declared = append(declared, name)
	}
	sort.Strings(declared)
	want := append([]string(nil), statemachine.Placeholders...)
	sort.Strings(want)
	if !reflect.DeepEqual(declared, want) {
		t.Errorf("definition placeholders %v, statemachine.Placeholders %v", declared, want)
	}
	wantSubs := map[string]string{
		"CheckFunctionArn": "{CheckFunction.Arn}", "ValidateFunctionArn": "{ValidateFunction.Arn}",
		"TransformFunctionArn": "{TransformFunction.Arn}", "WriteFunctionArn": "{WriteFunction.Arn}",
		"FailedFilesQueueUrl": "{FailedFilesQueue}", "AlertTopicArn": "{AlertTopic}",
	}
	for name, want := range wantSubs {
		if got := render(subs[name], nil); got != want {
			t.Errorf("DefinitionSubstitutions.%s = %s, want %s", name, got, want)
		}
	}
	if path(p, "Tracing", "Enabled") != true {
		t.Error("the state machine's Tracing.Enabled is not true")
	}
	if lvl := path(p, "Logging", "Level"); lvl != "ERROR" && lvl != "ALL" {
		t.Errorf("Logging.Level = %v, want ERROR or ALL", lvl)
	}
	dest := asList(path(p, "Logging", "Destinations"))
	if len(dest) != 1 || !strings.HasPrefix(render(path(dest[0], "CloudWatchLogsLogGroup", "LogGroupArn"), nil), "{StateMachineLogGroup.") {
		t.Errorf("Logging.Destinations = %v, want the StateMachineLogGroup", dest)
	}
}

// TestFunctions checks functions/<dir> against the template and the Makefile both ways, and each
// function's runtime, architecture, tracing, logging, build and environment after Globals.
func TestFunctions(t *testing.T) {
	tpl := loadTemplate(t)
	dirs := functionDirs(t)
	if len(dirs) == 0 {
		t.Fatal("no functions/<dir>/main.go")
	}
	byID := map[string]string{}
	for _, d := range dirs {
		byID[functionID(d)] = d
	}
	for _, id := range tpl.resourcesOfType("AWS::Serverless::Function") {
		if _, ok := byID[id]; !ok {
			t.Errorf("template function %s has no functions/<dir> (want functions/%s)", id, strings.ToLower(strings.TrimSuffix(id, "Function")))
		}
	}
	makefile := string(readFile(t, "Makefile"))
	build := regexp.MustCompile(`(?m)^LAMBDA_BUILD\s*=\s*(.+)$`).FindStringSubmatch(makefile)
	if build == nil {
		t.Fatal("Makefile has no LAMBDA_BUILD")
	}
	for _, flag := range []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64", `-tags "lambda.norpc $(TAGS)"`, "-trimpath"} {
		if !strings.Contains(build[1], flag) {
			t.Errorf("LAMBDA_BUILD lacks %s: %s", flag, build[1])
		}
	}
	list := regexp.MustCompile(`(?m)^FUNCTIONS\s*:=\s*(.+)$`).FindStringSubmatch(makefile)
	if list == nil {
		t.Fatal("Makefile has no FUNCTIONS list")
	}
	listed := strings.Fields(list[1])
	sort.Strings(listed)
	if !reflect.DeepEqual(listed, dirs) {
		t.Errorf("Makefile FUNCTIONS = %v, functions/ holds %v", listed, dirs)
	}
	for _, dir := range dirs {
		id := functionID(dir)
		r, ok := tpl.Resources[id]
		if !ok || r.Type != "AWS::Serverless::Function" {
			t.Errorf("functions/%s has no AWS::Serverless::Function %s in template.yaml", dir, id)
			continue
		}
		p := tpl.effective(r)
		if p["Runtime"] != "provided.al2023" {
			t.Errorf("%s: Runtime = %v, want provided.al2023", id, p["Runtime"])
		}
		if a := asList(p["Architectures"]); len(a) != 1 || a[0] != "arm64" {
			t.Errorf("%s: Architectures = %v, want [arm64]", id, a)
		}
		if p["Tracing"] != "Active" {
			t.Errorf("%s: Tracing = %v, want Active", id, p["Tracing"])
		}
		if p["Handler"] != "bootstrap" {
			t.Errorf("%s: Handler = %v, want bootstrap", id, p["Handler"])
		}
		if p["CodeUri"] != "." || r.Metadata["BuildMethod"] != "makefile" {
			t.Errorf("%s: CodeUri %v, BuildMethod %v; want . and makefile (one root go.mod)", id, p["CodeUri"], r.Metadata["BuildMethod"])
		}
		target := regexp.MustCompile(`(?m)^build-` + id + `:\s*\n\t(.+)$`).FindStringSubmatch(makefile)
		if target == nil {
			t.Errorf("Makefile has no build-%s target", id)
		} else if !strings.Contains(target[1], "$(LAMBDA_BUILD)") || !strings.Contains(target[1], "$(ARTIFACTS_DIR)/bootstrap") || !strings.HasSuffix(strings.TrimSpace(target[1]), "./functions/"+dir) {
			t.Errorf("build-%s: %q, want $(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/%s", id, target[1], dir)
		}
		if path(p, "LoggingConfig", "LogFormat") != "JSON" {
			t.Errorf("%s: LoggingConfig.LogFormat = %v, want JSON", id, path(p, "LoggingConfig", "LogFormat"))
		}
		group := render(path(p, "LoggingConfig", "LogGroup"), nil)
		lg, ok := tpl.Resources[strings.Trim(group, "{}")]
		if !ok || lg.Type != "AWS::Logs::LogGroup" {
			t.Errorf("%s: LoggingConfig.LogGroup = %s, want a Ref to an AWS::Logs::LogGroup", id, group)
		} else if render(lg.Properties["RetentionInDays"], nil) != "{LogRetentionDays}" {
			t.Errorf("%s's log group keeps logs %v, want the LogRetentionDays parameter", id, lg.Properties["RetentionInDays"])
		}
		mem, _ := p["MemorySize"].(int)
		timeout, _ := p["Timeout"].(int)
		if mem < 128 || mem > 10240 || timeout < 1 || timeout > 900 {
			t.Errorf("%s: MemorySize %v, Timeout %v out of Lambda's range", id, p["MemorySize"], p["Timeout"])
		}

		want, ok := functionEnv[dir]
		if !ok {
			want = stepEnv
		}
		vars := asMap(path(p, "Environment", "Variables"))
		var got []string
		for k := range vars {
			got = append(got, k)
		}
		sort.Strings(got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: environment %v, want %v", id, got, want)
		}
		refs := map[string]string{
			"RAW_BUCKET": "{RawBucket}", "PROCESSED_BUCKET": "{ProcessedBucket}", "STATE_MACHINE_ARN": "{SettlementStateMachine}",
			"MAX_REJECTED_ROWS": "{MaxRejectedRows}", "BALANCE_CHECK": "{BalanceCheck}", "MAX_FILE_BYTES": "{MaxFileBytes}",
			"SETTLE_TIMEZONES": "{SettleTimezones}", "METRICS_NAMESPACE": "{MetricsNamespace}",
			"ALERT_TOPIC_ARN": "{AlertTopic}", "BATCH_GRACE_HOURS": "{BatchGraceHours}", "BATCH_CADENCES": "{BatchCadences}",
			"WEBHOOK_SECRET_ARN": "if(CreateWebhookSecret,{WebhookSecret},{WebhookSecretArn})", "WEBHOOK_QUEUE_URL": "{WebhookQueue}",
			"REPORT_FILE_PATTERN": "{ReportFilePattern}", "REPORT_HOSTS": "if(HasReportHosts,{ReportHosts},if(AdyenLive,ca-live.adyen.com,ca-test.adyen.com))",
			"REPORT_USER_SECRET_ARN": "if(CreateReportUserSecret,{ReportUserSecret},{ReportUserSecretArn})",
			"FETCH_DLQ_URL":          "{FetchDeadLetterQueue}", "FETCH_ATTEMPTS": "4",
			"REPAIR_GAPS": "{RepairGaps}", "REPAIR_GAPS_OFF": "{RepairGapsOff}", "ADYEN_ENVIRONMENT": "{AdyenEnvironment}",
			"TABLE_BUCKET_ARN": "{SettlementTableBucket.TableBucketARN}", "TABLE_NAMESPACE": cloud.DefaultTableNamespace, "TABLE_NAME": cloud.DefaultTableName,
		}
		for k, v := range vars {
			if got := render(v, nil); got != refs[k] {
				t.Errorf("%s: %s = %s, want %s", id, k, got, refs[k])
			}
		}
		// The parameters' defaults make a configuration the handlers accept.
		defaults := parameterDefaults(tpl)
		env := map[string]string{}
		for k, v := range vars {
			env[k] = render(v, defaults)
		}
		if err := loadFunctionConfig(dir, env); err != nil {
			t.Errorf("%s: the default environment is refused: %v", id, err)
		}
		events := asMap(p["Events"])
		switch {
		case dir == "starter":
			checkStarterEvent(t, tpl, p)
		case dir == "batches":
			checkScheduleEvent(t, tpl, p)
		case dir == "fetch":
			checkFetchEvent(t, tpl, p)
		case dir == "webhook":
			checkWebhookURL(t, tpl, p)
		case len(events) > 0:
			t.Errorf("%s has Events %v; only the state machine invokes a step", id, events)
		}
	}
}

// parameterDefaults renders each parameter as its default value.
func parameterDefaults(tpl *template) map[string]string {
	m := map[string]string{}
	for name, p := range tpl.Parameters {
		m[name] = fmt.Sprint(p["Default"])
	}
	return m
}

func checkStarterEvent(t *testing.T, tpl *template, p map[string]any) {
	t.Helper()
	events := asMap(p["Events"])
	if len(events) != 1 {
		t.Fatalf("StarterFunction events %v, want one SQS event", events)
	}
	for name, ev := range events {
		if path(ev, "Type") != "SQS" {
			t.Errorf("starter event %s is %v, want SQS", name, path(ev, "Type"))
		}
		props := asMap(path(ev, "Properties"))
		if render(props["Queue"], nil) != "{IngestQueue.Arn}" {
			t.Errorf("starter event queue %s, want the IngestQueue", render(props["Queue"], nil))
		}
		if props["BatchSize"] != 10 {
			t.Errorf("BatchSize = %v, want 10", props["BatchSize"])
		}
		if types := asList(props["FunctionResponseTypes"]); len(types) != 1 || types[0] != "ReportBatchItemFailures" {
			t.Errorf("FunctionResponseTypes = %v, want [ReportBatchItemFailures] (the starter returns events.SQSEventResponse)", types)
		}
		mc := path(props, "ScalingConfig", "MaximumConcurrency")
		if s := render(mc, nil); s != "{StarterMaxConcurrency}" {
			if n, ok := mc.(int); !ok || n < 2 {
				t.Errorf("ScalingConfig.MaximumConcurrency = %v, want at least 2", mc)
			}
		} else if min, _ := tpl.Parameters["StarterMaxConcurrency"]["MinValue"].(int); min < 2 {
			t.Errorf("StarterMaxConcurrency MinValue = %d, want at least 2 (SQS event sources refuse less)", min)
		}
	}
	timeout, _ := p["Timeout"].(int)
	q := tpl.Resources["IngestQueue"].Properties
	if vt, _ := q["VisibilityTimeout"].(int); vt < 6*timeout {
		t.Errorf("IngestQueue VisibilityTimeout %d < 6 x the starter's Timeout %d", vt, timeout)
	}
	if render(path(q, "RedrivePolicy", "deadLetterTargetArn"), nil) != "{IngestDeadLetterQueue.Arn}" || path(q, "RedrivePolicy", "maxReceiveCount") != 10 {
		t.Errorf("IngestQueue RedrivePolicy = %v, want the IngestDeadLetterQueue after 10 receives", q["RedrivePolicy"])
	}
}

// checkFetchEvent: the fetch function takes one report request at a time from the webhook queue,
// returns only the failed message, and the queue outlasts its timeout and ends in the fetch DLQ.
func checkFetchEvent(t *testing.T, tpl *template, p map[string]any) {
	t.Helper()
	events := asMap(p["Events"])
	if len(events) != 1 {
		t.Fatalf("FetchFunction events %v, want one SQS event", events)
	}
	for _, ev := range events {
		props := asMap(path(ev, "Properties"))
		if path(ev, "Type") != "SQS" || render(props["Queue"], nil) != "{WebhookQueue.Arn}" || props["BatchSize"] != 1 {
			t.Errorf("fetch event %v, want SQS from the WebhookQueue, one message at a time", ev)
		}
		if types := asList(props["FunctionResponseTypes"]); len(types) != 1 || types[0] != "ReportBatchItemFailures" {
			t.Errorf("FunctionResponseTypes = %v, want [ReportBatchItemFailures] (the handler returns events.SQSEventResponse)", types)
		}
		if mc, _ := path(props, "ScalingConfig", "MaximumConcurrency").(int); mc < 2 {
			t.Errorf("ScalingConfig.MaximumConcurrency = %v, want at least 2", mc)
		}
	}
	timeout, _ := p["Timeout"].(int)
	q := tpl.Resources["WebhookQueue"].Properties
	if vt, _ := q["VisibilityTimeout"].(int); vt < 6*timeout {
		t.Errorf("WebhookQueue VisibilityTimeout %d < 6 x the fetch function's Timeout %d", vt, timeout)
	}
	if render(path(q, "RedrivePolicy", "deadLetterTargetArn"), nil) != "{FetchDeadLetterQueue.Arn}" {
		t.Errorf("WebhookQueue RedrivePolicy = %v, want the FetchDeadLetterQueue", q["RedrivePolicy"])
	}
}

// checkWebhookURL: the webhook function has a public function URL (Adyen cannot sign AWS requests; the
// function checks basic auth and HMAC), answers within Adyen's 10 seconds, and the URL is an output.
func checkWebhookURL(t *testing.T, tpl *template, p map[string]any) {
	t.Helper()
	if path(p, "FunctionUrlConfig", "AuthType") != "NONE" {
		t.Errorf("WebhookFunction FunctionUrlConfig = %v, want AuthType NONE", p["FunctionUrlConfig"])
	}
	if timeout, _ := p["Timeout"].(int); timeout > 10 {
		t.Errorf("WebhookFunction Timeout %d s: Adyen waits 10 s for an answer", timeout)
	}
	if len(asMap(p["Events"])) > 0 {
		t.Errorf("WebhookFunction has Events %v; only its URL invokes it", p["Events"])
	}
	if got := render(tpl.Outputs["WebhookUrl"]["Value"], nil); got != "{WebhookFunctionUrl.FunctionUrl}" {
		t.Errorf("output WebhookUrl = %s, want the function URL", got)
	}
}

// pseudo are CloudFormation's pseudo parameters.
var pseudo = map[string]bool{
	"AWS::AccountId": true, "AWS::NotificationARNs": true, "AWS::NoValue": true, "AWS::Partition": true,
	"AWS::Region": true, "AWS::StackId": true, "AWS::StackName": true, "AWS::URLSuffix": true,
}

// attributes are the Fn::GetAtt attributes each resource type has (the ones this template may use).
var attributes = map[string][]string{
	"AWS::S3::Bucket":               {"Arn", "DomainName", "RegionalDomainName"},
	"AWS::SQS::Queue":               {"Arn", "QueueName", "QueueUrl"},
	"AWS::SNS::Topic":               {"TopicArn", "TopicName"},
	"AWS::Events::Rule":             {"Arn"},
	"AWS::Events::Archive":          {"Arn"},
	"AWS::Logs::LogGroup":           {"Arn"},
	"AWS::IAM::Role":                {"Arn", "RoleId"},
	"AWS::Serverless::Function":     {"Arn"},
	"AWS::Serverless::StateMachine": {"Arn", "Name"},
	"AWS::Athena::WorkGroup":        {"CreationTime"},
	"AWS::Lambda::Url":              {"FunctionArn", "FunctionUrl"},
	"AWS::S3Tables::TableBucket":    {"TableBucketARN"},
	"AWS::S3Tables::Table":          {"TableARN", "WarehouseLocation"},
}

// TestReferences checks that every Ref, Fn::GetAtt, ${} of Fn::Sub and condition names something
// the stack has: a parameter, a resource (or one SAM generates, like <Function>Role), a pseudo
// parameter, an attribute of the resource's type.
func TestReferences(t *testing.T) {
	tpl := loadTemplate(t)
	types := map[string]string{}
	for id, r := range tpl.Resources {
		types[id] = r.Type
		switch r.Type {
		case "AWS::Serverless::Function", "AWS::Serverless::StateMachine":
			if r.Properties["Role"] == nil {
				types[id+"Role"] = "AWS::IAM::Role" // SAM's generated role, referenceable by this name
			}
			if r.Properties["FunctionUrlConfig"] != nil {
				types[id+"Url"] = "AWS::Lambda::Url" // SAM's generated function URL
			}
		}
	}
	check := func(where, target, attr string) {
		if attr == "" {
			if pseudo[target] || tpl.Parameters[target] != nil || types[target] != "" {
				return
			}
			t.Errorf("%s: Ref %s names no parameter, resource or pseudo parameter", where, target)
			return
		}
		typ, ok := types[target]
		if !ok {
			t.Errorf("%s: Fn::GetAtt %s.%s: no resource %s", where, target, attr, target)
			return
		}
		for _, a := range attributes[typ] {
			if a == attr {
				return
			}
		}
		t.Errorf("%s: Fn::GetAtt %s.%s: %s has no attribute %s we know of", where, target, attr, typ, attr)
	}
	var walk func(where string, v any, locals map[string]bool)
	walk = func(where string, v any, locals map[string]bool) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(where, e, locals)
			}
		case map[string]any:
			if len(x) == 1 {
				for k, arg := range x {
					switch k {
					case "Ref":
						check(where, fmt.Sprint(arg), "")
						return
					case "Fn::GetAtt":
						l := asList(arg)
						if len(l) != 2 {
							t.Errorf("%s: Fn::GetAtt %v", where, arg)
							return
						}
						check(where, fmt.Sprint(l[0]), fmt.Sprint(l[1]))
						return
					case "Fn::Sub":
						s, ok := arg.(string)
						inner := map[string]bool{}
						for k := range locals {
							inner[k] = true
						}
						if !ok {
							l := asList(arg)
							s, _ = l[0].(string)
							for name, val := range asMap(l[1]) {
								inner[name] = true
								walk(where, val, locals)
							}
						}
						for _, m := range subVar.FindAllStringSubmatch(s, -1) {
							if m[1] == "!" || inner[m[2]] {
								continue
							}
							res, attr, _ := strings.Cut(m[2], ".")
							if pseudo[m[2]] {
								continue
							}
							check(where, res, attr)
						}
						return
					case "Fn::If":
						l := asList(arg)
						if len(l) == 3 {
							if _, ok := tpl.Conditions[fmt.Sprint(l[0])]; !ok {
								t.Errorf("%s: Fn::If names no condition %v", where, l[0])
							}
							walk(where, l[1:], locals)
							return
						}
					case "Condition":
						if s, ok := arg.(string); ok {
							if _, ok := tpl.Conditions[s]; !ok {
								t.Errorf("%s: no condition %s", where, s)
							}
							return
						}
					}
				}
			}
			for k, e := range x {
				walk(where+"."+k, e, locals)
			}
		}
	}
	for id, r := range tpl.Resources {
		walk("Resources."+id, r.raw["Properties"], nil)
		if r.Condition != "" {
			if _, ok := tpl.Conditions[r.Condition]; !ok {
				t.Errorf("resource %s: no condition %s", id, r.Condition)
			}
		}
		for _, d := range asList(r.raw["DependsOn"]) {
			if _, ok := tpl.Resources[fmt.Sprint(d)]; !ok {
				t.Errorf("resource %s: DependsOn %v names no resource", id, d)
			}
		}
	}
	for id, o := range tpl.Outputs {
		walk("Outputs."+id, o, nil)
	}
	walk("Conditions", tpl.raw["Conditions"], nil)
	walk("Globals", tpl.raw["Globals"], nil)
}

func TestGlueTableMatchesSchema(t *testing.T) {
	tpl := loadTemplate(t)
	r, ok := tpl.Resources["SettlementLinesTable"]
	if !ok || r.Type != "AWS::Glue::Table" {
		t.Fatal("no AWS::Glue::Table SettlementLinesTable")
	}
	in := asMap(r.Properties["TableInput"])
	if in["Name"] != table.Name {
		t.Errorf("table name %v, want %s", in["Name"], table.Name)
	}
	if render(r.Properties["DatabaseName"], nil) != "{GlueDatabase}" {
		t.Errorf("DatabaseName = %v", r.Properties["DatabaseName"])
	}
	cols := asList(path(in, "StorageDescriptor", "Columns"))
	if len(cols) != len(table.Columns) {
		t.Errorf("the Glue table has %d columns, table.Columns %d", len(cols), len(table.Columns))
	}
	for i := 0; i < len(cols) && i < len(table.Columns); i++ {
		name, typ := path(cols[i], "Name"), path(cols[i], "Type")
		if name != table.Columns[i].Name || typ != table.Columns[i].Glue {
			t.Errorf("column %d: Glue %v %v, Parquet writer %s %s", i+1, name, typ, table.Columns[i].Name, table.Columns[i].Glue)
		}
	}
	pk := asList(in["PartitionKeys"])
	if len(pk) != 1 || path(pk[0], "Name") != table.PartitionKey || path(pk[0], "Type") != "date" {
		t.Errorf("PartitionKeys = %v, want [%s date]", pk, table.PartitionKey)
	}
	sd := asMap(in["StorageDescriptor"])
	wantLoc := "s3://{ProcessedBucket}/" + workflow.LinesPrefix
	if got := render(sd["Location"], nil); got != wantLoc {
		t.Errorf("Location = %s, want %s", got, wantLoc)
	}
	if !strings.Contains(fmt.Sprint(path(sd, "SerdeInfo", "SerializationLibrary")), "ParquetHiveSerDe") || !strings.Contains(fmt.Sprint(sd["InputFormat"]), "Parquet") {
		t.Errorf("the table is not Parquet: %v", sd)
	}
	params := asMap(in["Parameters"])
	key := table.PartitionKey
	want := map[string]string{
		"projection.enabled":                   "true",
		"projection." + key + ".type":          "date",
		"projection." + key + ".format":        "yyyy-MM-dd",
		"projection." + key + ".range":         "{PartitionStartDate},NOW",
		"projection." + key + ".interval":      "1",
		"projection." + key + ".interval.unit": "DAYS",
		"storage.location.template":            "s3://{ProcessedBucket}/" + workflow.LinesPrefix + key + "=${" + key + "}/",
		"classification":                       "parquet",
	}
	for k, v := range want {
		if got := render(params[k], nil); got != v {
			t.Errorf("table parameter %s = %q, want %q", k, got, v)
		}
	}
	// The projected location is where the writer puts a partition's objects.
	loc := strings.ReplaceAll(want["storage.location.template"], "${"+key+"}", "2024-05-03")
	obj := strings.Replace(loc, "s3://{ProcessedBucket}/", "", 1) + "x.parquet"
	if dir := filepath.Dir(workflow.PartitionKey("2024-05-03", "M", 1)) + "/"; !strings.HasPrefix(obj, dir) {
		t.Errorf("partition location %s does not hold the writer's %s", loc, workflow.PartitionKey("2024-05-03", "M", 1))
	}
}

// policyStatements returns the IAM statements of a function's or state machine's Policies. Only
// inline documents are allowed: SAM policy templates and managed policies hide what they grant.
func policyStatements(t *testing.T, id string, r resource) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, p := range asList(r.Properties["Policies"]) {
		doc, ok := p.(map[string]any)
		if !ok || doc["Statement"] == nil {
			t.Errorf("%s: policy %v is not an inline policy document", id, p)
			continue
		}
		for _, s := range asList(doc["Statement"]) {
			out = append(out, asMap(s))
		}
	}
	return out
}

// grants renders Allow statements as "action resource" lines.
func grants(stmts []map[string]any) []string {
	var out []string
	for _, s := range stmts {
		if s["Effect"] != "Allow" {
			continue
		}
		for _, a := range asList(s["Action"]) {
			for _, res := range asList(s["Resource"]) {
				out = append(out, fmt.Sprint(a)+" "+render(res, nil))
			}
		}
	}
	sort.Strings(out)
	return out
}

func cross(actions []string, resources ...string) []string {
	var out []string
	for _, a := range actions {
		for _, r := range resources {
			out = append(out, a+" "+r)
		}
	}
	return out
}

// TestLeastPrivilege pins each function's and the state machine's grants to their prefixes and
// actions, and allows no "*" action anywhere.
func TestLeastPrivilege(t *testing.T) {
	tpl := loadTemplate(t)
	raw, proc := "{RawBucket.Arn}", "{ProcessedBucket.Arn}"
	obj := func(bucket, prefix string) string { return bucket + "/" + prefix + "*" }
	execs := "arn:{AWS::Partition}:states:{AWS::Region}:{AWS::AccountId}:execution:{SettlementStateMachine.Name}:*"
	readRaw := []string{"s3:GetObject " + obj(raw, ""), "s3:ListBucket " + raw}
	readRawVersions := append([]string{"s3:GetObjectVersion " + obj(raw, "")}, readRaw...)
	want := map[string][]string{
		"StarterFunction": append(append([]string{}, readRaw...),
			"states:StartExecution {SettlementStateMachine}", "states:DescribeExecution "+execs, "states:RedriveExecution "+execs),
		// Check also reads a version of an overwritten key, records a commit it finds in the ledger and
		// releases the claim the committed Write left.
		"CheckFunction": append(append([]string{}, readRawVersions...),
			"s3:GetObject "+obj(proc, workflow.ManifestPrefix), "s3:GetObject "+obj(proc, workflow.ClaimPrefix), "s3:DeleteObject "+obj(proc, workflow.ClaimPrefix),
			"s3:GetObject "+proc+"/"+workflow.LedgerPrefix+"*/"+workflow.LedgerObject, "s3:PutObject "+proc+"/"+workflow.LedgerPrefix+"*/"+workflow.LedgerObject,
			"s3:ListBucket "+proc),
		"ValidateFunction": append(append([]string{}, readRawVersions...),
			cross([]string{"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}, obj(proc, workflow.RejectedPrefix), obj(proc, workflow.ReportPrefix))...),
		"TransformFunction": append(append([]string{}, readRawVersions...),
			cross([]string{"s3:PutObject", "s3:AbortMultipartUpload"}, obj(proc, workflow.StagingPrefix))...),
		"WriteFunction": append(append(append(append(cross([]string{"s3:GetObject", "s3:DeleteObject"}, obj(proc, workflow.StagingPrefix)),
			cross([]string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, obj(proc, workflow.LinesPrefix), obj(proc, workflow.ManifestPrefix), obj(proc, workflow.ClaimPrefix))...),
			"s3:GetObject "+obj(proc, workflow.ReportPrefix)), "s3:ListBucket "+proc),
			append(cross([]string{"s3:GetObject", "s3:PutObject"}, proc+"/"+workflow.LedgerPrefix+"*/"+workflow.LedgerObject),
				// The Iceberg table in S3 Tables: its pointer read and swapped, its files read and
				// written, nothing deleted by the write step.
				cross([]string{"s3tables:GetTableMetadataLocation", "s3tables:UpdateTableMetadataLocation", "s3tables:GetTableData", "s3tables:PutTableData"},
					"{SettlementIcebergTable.TableARN}")...)...),
		// The batch check reads the ledger folders and writes only the alert state; its table check
		// reads the manifests and claims and keeps its own alert state.
		"BatchesFunction": {"s3:GetObject " + obj(proc, workflow.LedgerPrefix), "s3:PutObject " + proc + "/" + workflow.LedgerPrefix + "*/" + workflow.AlertsObject,
			"s3:GetObject " + obj(proc, workflow.ManifestPrefix), "s3:GetObject " + obj(proc, workflow.ClaimPrefix),
			"s3:GetObject " + obj(proc, filepath.Dir(workflow.VerifyAlertsKey)+"/"), "s3:PutObject " + proc + "/" + workflow.VerifyAlertsKey,
			"s3:ListBucket " + proc, "sns:Publish {AlertTopic}",
			// The gap repair: its record, and the fetch function's queue.
			"s3:PutObject " + proc + "/" + workflow.LedgerPrefix + "*/" + workflow.RepairsObject, "sqs:SendMessage {WebhookQueue.Arn}",
			// The Iceberg table, read only.
			"s3tables:GetTableMetadataLocation {SettlementIcebergTable.TableARN}", "s3tables:GetTableData {SettlementIcebergTable.TableARN}"},
		"WebhookFunction": {"secretsmanager:GetSecretValue if(CreateWebhookSecret,{WebhookSecret},{WebhookSecretArn})", "sqs:SendMessage {WebhookQueue.Arn}"},
		"FetchFunction": append(cross([]string{"s3:PutObject", "s3:AbortMultipartUpload"}, obj(raw, fetch.RawPrefix)),
			"secretsmanager:GetSecretValue if(CreateReportUserSecret,{ReportUserSecret},{ReportUserSecretArn})", "sqs:SendMessage {FetchDeadLetterQueue.Arn}"),
		"SettlementStateMachine": append(append(
			cross([]string{"lambda:InvokeFunction"}, "{CheckFunction.Arn}", "{ValidateFunction.Arn}", "{TransformFunction.Arn}", "{WriteFunction.Arn}"),
			"sqs:SendMessage {FailedFilesQueue.Arn}", "sns:Publish {AlertTopic}"),
			cross([]string{"logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery", "logs:ListLogDeliveries",
				"logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
				"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"}, "*")...),
	}
	for id, w := range want {
		r, ok := tpl.Resources[id]
		if !ok {
			t.Errorf("no resource %s", id)
			continue
		}
		got := grants(policyStatements(t, id, r))
		sort.Strings(w)
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s grants:\n  %s\nwant:\n  %s", id, strings.Join(got, "\n  "), strings.Join(w, "\n  "))
		}
	}
	for _, id := range append(tpl.resourcesOfType("AWS::Serverless::Function"), tpl.resourcesOfType("AWS::Serverless::StateMachine")...) {
		if _, ok := want[id]; !ok {
			t.Errorf("%s has no expected grants in this test", id)
		}
	}
	for _, typ := range []string{"AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"} {
		if ids := tpl.resourcesOfType(typ); len(ids) > 0 {
			t.Errorf("%s resources %v: declare permissions on the function or state machine instead", typ, ids)
		}
	}
	// No Allow anywhere (identity or resource policies) grants a "*" action; "*" resources only for
	// log delivery and X-Ray, which accept nothing narrower.
	for id, r := range tpl.Resources {
		var stmts []map[string]any
		switch r.Type {
		case "AWS::Serverless::Function", "AWS::Serverless::StateMachine":
			stmts = policyStatements(t, id, r)
		case "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy", "AWS::S3::BucketPolicy":
			for _, s := range asList(path(r.Properties, "PolicyDocument", "Statement")) {
				stmts = append(stmts, asMap(s))
			}
		}
		for _, g := range grants(stmts) {
			action, res, _ := strings.Cut(g, " ")
			if strings.Contains(action, "*") {
				t.Errorf("%s allows the wildcard action %s on %s", id, action, res)
			}
			if res == "*" && !strings.HasPrefix(action, "logs:") && !strings.HasPrefix(action, "xray:") {
				t.Errorf("%s allows %s on every resource", id, action)
			}
		}
	}
}

// TestResourcePolicies checks who may send to the queues and publish to the topic, and that the
// buckets refuse plain HTTP.
func TestResourcePolicies(t *testing.T) {
	tpl := loadTemplate(t)
	type grant struct{ principal, action, resource, sourceArn string }
	collect := func(id string) []grant {
		r := tpl.Resources[id]
		var out []grant
		for _, s := range asList(path(r.Properties, "PolicyDocument", "Statement")) {
			st := asMap(s)
			if st["Effect"] != "Allow" {
				continue
			}
			principal := render(path(st, "Principal", "Service"), nil)
			if principal == "" {
				principal = render(path(st, "Principal", "AWS"), nil)
			}
			src := render(path(st, "Condition", "ArnEquals", "aws:SourceArn"), nil)
			if src == "" {
				src = render(path(st, "Condition", "ArnLike", "aws:SourceArn"), nil)
			}
			if path(st, "Principal", "Service") != nil && src == "" {
				t.Errorf("%s lets %s act without an aws:SourceArn condition", id, principal)
			}
			for _, a := range asList(st["Action"]) {
				out = append(out, grant{principal, fmt.Sprint(a), render(st["Resource"], nil), src})
			}
		}
		return out
	}
	want := map[string][]grant{
		"IngestQueuePolicy":           {{"events.amazonaws.com", "sqs:SendMessage", "{IngestQueue.Arn}", "{IngestRule.Arn}"}},
		"IngestDeadLetterQueuePolicy": {{"events.amazonaws.com", "sqs:SendMessage", "{IngestDeadLetterQueue.Arn}", "{IngestRule.Arn}"}},
		"FailedFilesQueuePolicy": {
			{"events.amazonaws.com", "sqs:SendMessage", "{FailedFilesQueue.Arn}", "{FailedExecutionRule.Arn}"},
			{"{SettlementStateMachineRole.Arn}", "sqs:SendMessage", "{FailedFilesQueue.Arn}", ""},
		},
		"AlertTopicPolicy": {
			{"events.amazonaws.com", "sns:Publish", "{AlertTopic}", "{FailedExecutionRule.Arn}"},
			{"{SettlementStateMachineRole.Arn}", "sns:Publish", "{AlertTopic}", ""},
			{"cloudwatch.amazonaws.com", "sns:Publish", "{AlertTopic}", "arn:{AWS::Partition}:cloudwatch:{AWS::Region}:{AWS::AccountId}:alarm:{AWS::StackName}-*"},
		},
	}
	for id, w := range want {
		if got := collect(id); !reflect.DeepEqual(got, w) {
			t.Errorf("%s:\n got %v\nwant %v", id, got, w)
		}
	}
	for _, id := range tpl.resourcesOfType("AWS::CloudWatch::Alarm") {
		name := render(tpl.Resources[id].Properties["AlarmName"], nil)
		if !strings.HasPrefix(name, "{AWS::StackName}-") {
			t.Errorf("alarm %s is named %q; the topic policy lets only <stack>-* alarms publish", id, name)
		}
	}
	for _, b := range []string{"RawBucket", "ProcessedBucket"} {
		pol := tpl.Resources[b+"Policy"]
		if render(pol.Properties["Bucket"], nil) != "{"+b+"}" {
			t.Errorf("%sPolicy is not on %s", b, b)
			continue
		}
		var tls bool
		for _, s := range asList(path(pol.Properties, "PolicyDocument", "Statement")) {
			st := asMap(s)
			var res []string
			for _, r := range asList(st["Resource"]) {
				res = append(res, render(r, nil))
			}
			if st["Effect"] == "Deny" && fmt.Sprint(path(st, "Condition", "Bool", "aws:SecureTransport")) == "false" &&
				reflect.DeepEqual(res, []string{"{" + b + ".Arn}", "{" + b + ".Arn}/*"}) {
				tls = true
			}
		}
		if !tls {
			t.Errorf("%s's policy does not deny requests without TLS on the bucket and its objects", b)
		}
	}
}

func TestBuckets(t *testing.T) {
	tpl := loadTemplate(t)
	for _, id := range []string{"RawBucket", "ProcessedBucket"} {
		r := tpl.Resources[id]
		p := r.Properties
		if r.raw["DeletionPolicy"] != "Retain" || r.raw["UpdateReplacePolicy"] != "Retain" {
			t.Errorf("%s: deleting or replacing the stack would delete the data; want DeletionPolicy and UpdateReplacePolicy Retain", id)
		}
		sse := asList(path(p, "BucketEncryption", "ServerSideEncryptionConfiguration"))
		if len(sse) == 0 || path(sse[0], "ServerSideEncryptionByDefault", "SSEAlgorithm") == nil {
			t.Errorf("%s: no default encryption", id)
		}
		for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
			if path(p, "PublicAccessBlockConfiguration", k) != true {
				t.Errorf("%s: PublicAccessBlockConfiguration.%s is not true", id, k)
			}
		}
		var abort bool
		for _, rule := range asList(path(p, "LifecycleConfiguration", "Rules")) {
			if d, _ := path(rule, "AbortIncompleteMultipartUpload", "DaysAfterInitiation").(int); d > 0 && d <= 7 && path(rule, "Prefix") == nil {
				abort = true
			}
		}
		if !abort {
			t.Errorf("%s: no lifecycle rule aborts incomplete multipart uploads", id)
		}
	}
	raw := tpl.Resources["RawBucket"].Properties
	if path(raw, "VersioningConfiguration", "Status") != "Enabled" {
		t.Error("RawBucket is not versioned")
	}
	if path(raw, "NotificationConfiguration", "EventBridgeConfiguration", "EventBridgeEnabled") != true {
		t.Error("RawBucket does not send events to EventBridge")
	}
	var old bool
	for _, rule := range asList(path(raw, "LifecycleConfiguration", "Rules")) {
		if path(rule, "NoncurrentVersionExpiration", "NoncurrentDays") != nil {
			old = true
		}
	}
	if !old {
		t.Error("RawBucket keeps old versions forever")
	}
	var staging bool
	for _, rule := range asList(path(tpl.Resources["ProcessedBucket"].Properties, "LifecycleConfiguration", "Rules")) {
		if path(rule, "Prefix") == workflow.StagingPrefix && path(rule, "ExpirationInDays") == workflow.StagingExpiryDays {
			staging = true
		}
	}
	// A Write redriven on the last day Step Functions allows must still find its staged Parquet.
	if !staging || time.Duration(workflow.StagingExpiryDays)*24*time.Hour <= workflow.RedriveWindow {
		t.Errorf("ProcessedBucket has no rule expiring %s after %d days, beyond the %s redrive window", workflow.StagingPrefix,
			workflow.StagingExpiryDays, workflow.RedriveWindow)
	}
	checkProcessedVersions(t, tpl)
	// What holds files not yet handled, and the record of what ran, outlives the stack.
	for _, typ := range []string{"AWS::SQS::Queue", "AWS::Logs::LogGroup"} {
		for _, id := range tpl.resourcesOfType(typ) {
			r := tpl.Resources[id]
			if id == "IngestQueue" {
				continue // a plain buffer: its messages go to the retained IngestDeadLetterQueue
			}
			if r.raw["DeletionPolicy"] != "Retain" || r.raw["UpdateReplacePolicy"] != "Retain" {
				t.Errorf("%s: deleting the stack would delete it; want DeletionPolicy and UpdateReplacePolicy Retain", id)
			}
		}
	}
	for _, id := range tpl.resourcesOfType("AWS::SQS::Queue") {
		p := tpl.Resources[id].Properties
		if p["SqsManagedSseEnabled"] != true && p["KmsMasterKeyId"] == nil {
			t.Errorf("queue %s is not encrypted", id)
		}
	}
}

// checkProcessedVersions: the processed bucket is versioned so that a mistaken replace or delete can be
// undone for ProcessedVersionDays; the raw lines under rejected/ and _reports/ expire after
// RejectedRowsDays; prefixes of derived or temporary objects keep no old version beyond a day (S3 applies
// the shorter of overlapping expiries).
func checkProcessedVersions(t *testing.T, tpl *template) {
	t.Helper()
	p := tpl.Resources["ProcessedBucket"].Properties
	if path(p, "VersioningConfiguration", "Status") != "Enabled" {
		t.Error("ProcessedBucket is not versioned: a mistaken replace or delete could not be undone")
	}
	// byPrefix merges the enabled rules of each prefix ("" for the whole bucket): key → value.
	byPrefix := map[string]map[string]any{}
	for _, rule := range asList(path(p, "LifecycleConfiguration", "Rules")) {
		if path(rule, "Status") != "Enabled" {
			continue
		}
		prefix, _ := path(rule, "Prefix").(string)
		if byPrefix[prefix] == nil {
			byPrefix[prefix] = map[string]any{}
		}
		for k, v := range asMap(rule) {
			if _, dup := byPrefix[prefix][k]; dup && k != "Id" && k != "Status" && k != "Prefix" {
				t.Errorf("ProcessedBucket: two rules set %s for prefix %q", k, prefix)
			}
			byPrefix[prefix][k] = v
		}
	}
	all := byPrefix[""]
	if got := render(path(all, "NoncurrentVersionExpiration", "NoncurrentDays"), nil); got != "{ProcessedVersionDays}" {
		t.Errorf("ProcessedBucket keeps old versions %q days, want the ProcessedVersionDays parameter", got)
	}
	if path(all, "ExpiredObjectDeleteMarker") != true {
		t.Error("ProcessedBucket leaves delete markers behind once their versions expire")
	}
	for _, prefix := range []string{workflow.RejectedPrefix, workflow.ReportPrefix} {
		if got := render(path(byPrefix[prefix], "ExpirationInDays"), nil); got != "{RejectedRowsDays}" {
			t.Errorf("ProcessedBucket expires %s after %q days, want the RejectedRowsDays parameter", prefix, got)
		}
	}
	for _, prefix := range []string{workflow.RejectedPrefix, workflow.ReportPrefix, workflow.StagingPrefix, "_athena_results/"} {
		if d := path(byPrefix[prefix], "NoncurrentVersionExpiration", "NoncurrentDays"); d != 1 {
			t.Errorf("ProcessedBucket keeps old versions under %s for %v days, want 1", prefix, d)
		}
	}
	for _, prefix := range []string{workflow.LinesPrefix, workflow.ManifestPrefix} {
		if r, ok := byPrefix[prefix]; ok {
			t.Errorf("ProcessedBucket has a rule for %s (%v): committed output must follow the bucket's version rule only", prefix, r)
		}
	}
}

// definitionStates is the part of the definition these tests read.
type definitionStates struct {
	StartAt string
	States  map[string]struct {
		Type    string
		Next    string
		Default string
		End     bool
		Catch   []struct{ ErrorEquals []string }
	}
}

func loadDefinition(t testing.TB) definitionStates {
	t.Helper()
	var d definitionStates
	if err := json.Unmarshal(statemachine.Definition, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// caughtErrors are the error names the definition's Catch path sends to the DLQ and the topic.
func caughtErrors(t testing.TB) []string {
	set := map[string]bool{}
	for _, s := range loadDefinition(t).States {
		for _, c := range s.Catch {
			for _, e := range c.ErrorEquals {
				set[e] = true
			}
		}
	}
	var out []string
	for e := range set {
		out = append(out, e)
	}
	sort.Strings(out)
	return out
}

// HappyPathStates is how many states a file that is committed passes through; docs/performance.md's cost
// arithmetic counts one state transition for each.
const HappyPathStates = 6

func TestHappyPathTransitions(t *testing.T) {
	d := loadDefinition(t)
	n, name := 0, d.StartAt
	for name != "" && n < 100 {
		s := d.States[name]
		n++
		switch s.Type {
		case "Choice":
			name = s.Default // a new file: not already processed
		case "Succeed", "Fail":
			name = ""
		default:
			name = s.Next
		}
	}
	if n != HappyPathStates {
		t.Errorf("the happy path has %d states, docs/performance.md's cost counts %d", n, HappyPathStates)
	}
	if !strings.Contains(string(readFile(t, "docs/performance.md")), strconv.Itoa(HappyPathStates)+" state transitions") {
		t.Errorf("docs/performance.md does not price %d state transitions per file", HappyPathStates)
	}
}

func TestOutputs(t *testing.T) {
	tpl := loadTemplate(t)
	want := map[string]string{
		"RawBucket": "{RawBucket}", "ProcessedBucket": "{ProcessedBucket}", "StateMachineArn": "{SettlementStateMachine}",
		"IngestQueueUrl": "{IngestQueue}", "IngestQueueArn": "{IngestQueue.Arn}",
		"IngestDeadLetterQueueUrl": "{IngestDeadLetterQueue}", "IngestDeadLetterQueueArn": "{IngestDeadLetterQueue.Arn}",
		"FailedFilesQueueUrl": "{FailedFilesQueue}", "FailedFilesQueueArn": "{FailedFilesQueue.Arn}", "AlertTopicArn": "{AlertTopic}",
		"EventBusArn":     "arn:{AWS::Partition}:events:{AWS::Region}:{AWS::AccountId}:event-bus/default",
		"EventArchiveArn": "{IngestArchive.Arn}", "IngestRuleArn": "{IngestRule.Arn}", "GlueDatabase": "{GlueDatabase}",
		"MetricsNamespace": "{MetricsNamespace}",
		"TableBucketArn":   "{SettlementTableBucket.TableBucketARN}", "TableNamespace": cloud.DefaultTableNamespace, "TableName": cloud.DefaultTableName,
		"IcebergTableArn": "{SettlementIcebergTable.TableARN}", "IcebergWarehouse": "{SettlementIcebergTable.WarehouseLocation}",
		"WebhookUrl": "{WebhookFunctionUrl.FunctionUrl}", "WebhookQueueUrl": "{WebhookQueue}", "WebhookQueueArn": "{WebhookQueue.Arn}",
		"FetchDeadLetterQueueUrl": "{FetchDeadLetterQueue}", "FetchDeadLetterQueueArn": "{FetchDeadLetterQueue.Arn}",
		"WebhookSecretArn":    "if(CreateWebhookSecret,{WebhookSecret},{WebhookSecretArn})",
		"ReportUserSecretArn": "if(CreateReportUserSecret,{ReportUserSecret},{ReportUserSecretArn})",
	}
	for name, v := range want {
		if got := render(tpl.Outputs[name]["Value"], nil); got != v {
			t.Errorf("output %s = %q, want %q", name, got, v)
		}
	}
	if got := render(tpl.Outputs["StateMachineConsoleUrl"]["Value"], nil); !strings.HasPrefix(got, "https://{AWS::Region}.console.aws.amazon.com/states/") || !strings.Contains(got, "{SettlementStateMachine}") {
		t.Errorf("StateMachineConsoleUrl = %q", got)
	}
	q := render(tpl.Outputs["AthenaExampleQuery"]["Value"], parameterDefaults(tpl))
	if !strings.Contains(q, `"{GlueDatabase}"."`+table.Name+`"`) || !strings.Contains(q, table.PartitionKey) {
		t.Errorf("AthenaExampleQuery = %q, want a query of {GlueDatabase}.%s by %s", q, table.Name, table.PartitionKey)
	}
	columns := map[string]bool{table.PartitionKey: true}
	for _, c := range table.Columns {
		columns[c.Name] = true
	}
	for _, word := range regexp.MustCompile(`\b[a-z]+(?:_[a-z]+)+\b`).FindAllString(q, -1) {
		if word != table.Name && !columns[word] {
			t.Errorf("AthenaExampleQuery uses %s, which is not a column of %s", word, table.Name)
		}
	}
	// The Iceberg queries read the S3 Tables table through Athena's catalog of table buckets, by the
	// bucket's name, and use only its columns; the time-travel one names a moment.
	bucket := render(tpl.Resources["SettlementTableBucket"].Properties["TableBucketName"], parameterDefaults(tpl))
	from := fmt.Sprintf(`"s3tablescatalog/%s"."%s"."%s"`, bucket, cloud.DefaultTableNamespace, cloud.DefaultTableName)
	for _, name := range []string{"IcebergExampleQuery", "IcebergTimeTravelQuery"} {
		q := render(tpl.Outputs[name]["Value"], parameterDefaults(tpl))
		if !strings.Contains(q, from) {
			t.Errorf("%s = %q, want a query of %s", name, q, from)
		}
		for _, word := range regexp.MustCompile(`\b[a-z]+(?:_[a-z]+)+\b`).FindAllString(q, -1) {
			if word != table.Name && !columns[word] {
				t.Errorf("%s uses %s, which is not a column of %s", name, word, table.Name)
			}
		}
	}
	if q := render(tpl.Outputs["IcebergTimeTravelQuery"]["Value"], nil); !regexp.MustCompile(`FOR TIMESTAMP AS OF TIMESTAMP '\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC'`).MatchString(q) {
		t.Errorf("IcebergTimeTravelQuery = %q, want FOR TIMESTAMP AS OF a moment", q)
	}
}

// accepts says whether CloudFormation would accept value for a parameter.
func accepts(p map[string]any, value string) bool {
	if pat, ok := p["AllowedPattern"].(string); ok {
		if !regexp.MustCompile(`^(?:` + pat + `)$`).MatchString(value) {
			return false
		}
	}
	if p["Type"] == "Number" {
		n, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return false
		}
		if min, ok := p["MinValue"]; ok && n < toFloat(min) {
			return false
		}
		if max, ok := p["MaxValue"]; ok && n > toFloat(max) {
			return false
		}
	}
	if allowed := asList(p["AllowedValues"]); len(allowed) > 0 {
		for _, a := range allowed {
			if fmt.Sprint(a) == value {
				return true
			}
		}
		return false
	}
	return true
}

func toFloat(v any) float64 {
	f, _ := strconv.ParseFloat(fmt.Sprint(v), 64)
	return f
}

// TestParameters checks that every parameter is constrained with a readable description, that the
// defaults pass, and that bad values fail at deploy time.
func TestParameters(t *testing.T) {
	tpl := loadTemplate(t)
	for name, p := range tpl.Parameters {
		if p["Description"] == nil || p["ConstraintDescription"] == nil {
			t.Errorf("parameter %s lacks a Description or ConstraintDescription", name)
		}
		if p["AllowedPattern"] == nil && p["AllowedValues"] == nil && p["MinValue"] == nil {
			t.Errorf("parameter %s has no constraint", name)
		}
		if !accepts(p, fmt.Sprint(p["Default"])) {
			t.Errorf("parameter %s: its default %v breaks its own constraint", name, p["Default"])
		}
	}
	cases := map[string]struct{ good, bad []string }{
		"EnvironmentName":              {[]string{"dev", "prod2"}, []string{"", "d", "Prod", "dev-eu", "averyveryverylongname"}},
		"AlertEmail":                   {[]string{"", "ops@example.com"}, []string{"ops", "ops@example", "a b@example.com"}},
		"MaxRejectedRows":              {[]string{"0", "25"}, []string{"-1", "x", "1000001"}},
		"BalanceCheck":                 {[]string{"on", "off"}, []string{"yes", "ON", ""}},
		"MaxFileBytes":                 {[]string{"1024", "2147483648"}, []string{"0", "1023", "5368709120"}},
		"SettleTimezones":              {[]string{"", "CST=-06:00", "CST=-06:00,IST=+05:30"}, []string{"CST", "CST=6", "CST=-06:00,", "CST=-0600"}},
		"LogRetentionDays":             {[]string{"1", "30", "3653"}, []string{"0", "2", "31"}},
		"ArchiveRetentionDays":         {[]string{"0", "90"}, []string{"-1", "3651"}},
		"MetricsNamespace":             {[]string{"Settle", "Acme/Settle"}, []string{"", "a b", "/Settle"}},
		"SnapshotRetentionHours":       {[]string{"9600", "87600"}, []string{"9599", "0", "87601"}},
		"PartitionStartDate":           {[]string{"2020-01-01", "2024-12-31"}, []string{"2020-13-01", "20200101", "2020-1-1"}},
		"StarterMaxConcurrency":        {[]string{"2", "5"}, []string{"1", "0", "1001"}},
		"ValidateReservedConcurrency":  {[]string{"0", "10", "900"}, []string{"-1", "901", "x"}},
		"ProcessedVersionDays":         {[]string{"1", "30", "3650"}, []string{"0", "-1", "3651"}},
		"RejectedRowsDays":             {[]string{"1", "90", "3650"}, []string{"0", "-1", "3651"}},
		"TransformReservedConcurrency": {[]string{"0", "10", "900"}, []string{"-1", "901", "x"}},
		"BatchGraceHours":              {[]string{"1", "48", "2160"}, []string{"0", "2161", "2d"}},
		"BatchCadences":                {[]string{"", "ShopEU=1d", "ShopEU=24h,Shop US=168h"}, []string{"ShopEU", "ShopEU=1w", "ShopEU=1d,", "=1d", "ShopEU=1.5d"}},
		"BatchCheckSchedule":           {[]string{"rate(1 hour)", "rate(15 minutes)", "cron(0 * * * ? *)"}, []string{"", "hourly", "rate(0 hours)", "rate(1 week)"}},
		"WebhookSecretArn": {[]string{"", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:settle/webhook-AbC123"},
			[]string{"settle/webhook", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:settle/webhook", "arn:aws:s3:::bucket"}},
		"ReportUserSecretArn": {[]string{"", "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:report-user-x1Y2z3"},
			[]string{"report-user", "arn:aws:secretsmanager:eu-west-1:1234:secret:r-x1Y2z3"}},
		"ReportHosts":                {[]string{"", "ca-test.adyen.com", "ca-test.adyen.com,ca-live.adyen.com", "reports.example.com:8443"}, []string{"https://ca-test.adyen.com", "CA-TEST.adyen.com", "a,,b", "a b", ","}},
		"AdyenEnvironment":           {[]string{"test", "live"}, []string{"", "Live", "prod", "test,live"}},
		"RepairGaps":                 {[]string{"on", "off"}, []string{"", "On", "yes"}},
		"RepairGapsOff":              {[]string{"", "AcmeShopNL", "AcmeShopNL,Acme_Shop-DE.2"}, []string{"Acme Shop", "a;b", "a/b"}},
		"WebhookReservedConcurrency": {[]string{"0", "5", "100"}, []string{"-1", "101", "x"}},
		"ReportFilePattern":          {[]string{"settlement_detail_report_batch_*.csv", "*.csv"}, []string{"", "../*.csv", "a/b.csv", "[abc].csv"}},
	}
	for name, c := range cases {
		p, ok := tpl.Parameters[name]
		if !ok {
			t.Errorf("no parameter %s", name)
			continue
		}
		for _, v := range c.good {
			if !accepts(p, v) {
				t.Errorf("%s refuses %q", name, v)
			}
		}
		for _, v := range c.bad {
			if accepts(p, v) {
				t.Errorf("%s accepts %q", name, v)
			}
		}
	}
	for name := range tpl.Parameters {
		if _, ok := cases[name]; !ok {
			t.Errorf("parameter %s has no good and bad values in this test", name)
		}
	}
	// What the patterns let through, the handlers accept, and the defaults are the code's.
	for _, z := range cases["SettleTimezones"].good {
		if _, err := settlement.ParseZones(z); err != nil {
			t.Errorf("SettleTimezones %q passes the template but not settlement.ParseZones: %v", z, err)
		}
	}
	if got := toFloat(tpl.Parameters["MaxFileBytes"]["Default"]); got != workflow.DefaultMaxFileBytes {
		t.Errorf("MaxFileBytes default %v, workflow.DefaultMaxFileBytes %d", got, workflow.DefaultMaxFileBytes)
	}
	pol := settlement.DefaultPolicy()
	if got := toFloat(tpl.Parameters["MaxRejectedRows"]["Default"]); got != float64(pol.MaxRejected) {
		t.Errorf("MaxRejectedRows default %v, settlement.DefaultPolicy %d", got, pol.MaxRejected)
	}
	if d := tpl.Parameters["ReportHosts"]["Default"]; d != "" {
		t.Errorf("ReportHosts default %v, want empty: the host of the stack's AdyenEnvironment (TestReportHostsFollowTheEnvironment)", d)
	}
	for _, h := range cases["ReportHosts"].good {
		if _, err := fetch.ParseHosts(h); err != nil {
			t.Errorf("ReportHosts %q passes the template but not fetch.ParseHosts: %v", h, err)
		}
	}
	if got := tpl.Parameters["ReportFilePattern"]["Default"]; got != adyen.DefaultReportPattern {
		t.Errorf("ReportFilePattern default %v, adyen.DefaultReportPattern %s", got, adyen.DefaultReportPattern)
	}
	for _, p := range cases["ReportFilePattern"].good {
		if err := adyen.CheckPattern(p); err != nil {
			t.Errorf("ReportFilePattern %q passes the template but not adyen.CheckPattern: %v", p, err)
		}
	}
	if got := tpl.Parameters["BalanceCheck"]["Default"]; (got == "on") != pol.BalanceCheck {
		t.Errorf("BalanceCheck default %v, settlement.DefaultPolicy %v", got, pol.BalanceCheck)
	}
}

// The custom metrics the functions emit (internal/obs), with their dimension sets: the dashboard and
// the alarms may use these and nothing else in the custom namespace.
var customMetrics = map[string][]string{
	"FilesStarted": {""}, "DuplicateDeliveries": {""}, "FilesSucceeded": {""}, "RowsWritten": {""},
	"IgnoredMessages": {""}, "RetriedMessages": {""}, "DeferredMessages": {""},
	"RowsRejected": {""}, "BytesProcessed": {""}, "FileAge": {""},
	"FilesFailed":  {"", "ErrorName"},
	"StepDuration": {"Step"},
	// The batch check: the aggregate and per merchant account.
	"MissingBatches": {"", "MerchantAccount,Provider"}, "HoursSinceLastBatch": {"", "MerchantAccount,Provider"},
	"TableFindings": {""},                                                  // the table's consistency check
	"RepairsQueued": {""}, "BatchesRepaired": {""}, "RepairNotFound": {""}, // gaps that repair themselves
	// The report intake (internal/obs/reports.go).
	"WebhookRejected": {"", "Reason"}, "ReportsQueued": {""}, "NotificationsSkipped": {"", "Reason"},
	"ReportsFetched": {""}, "ReportBytes": {""}, "FetchFailed": {"", "Reason"},
}

var stepNames = map[string]bool{"Check": true, "Validate": true, "Transform": true, "Write": true}

var awsNamespaces = map[string]bool{"AWS/States": true, "AWS/SQS": true, "AWS/Lambda": true}

// checkMetric checks one metric use: namespace, name, dimension names and values.
func checkMetric(t *testing.T, where, ns, name string, dims map[string]string) {
	t.Helper()
	if ns != "CUSTOM" {
		if !awsNamespaces[ns] {
			t.Errorf("%s: namespace %q is neither the custom one nor AWS/States, AWS/SQS, AWS/Lambda", where, ns)
		}
		return
	}
	sets, ok := customMetrics[name]
	if !ok {
		t.Errorf("%s: %s is not a metric the functions emit", where, name)
		return
	}
	var names []string
	for k := range dims {
		names = append(names, k)
	}
	sort.Strings(names)
	set := strings.Join(names, ",")
	for _, s := range sets {
		if s == set {
			if v, ok := dims["Step"]; ok && !stepNames[v] {
				t.Errorf("%s: %s Step=%q is not one of the steps", where, name, v)
			}
			return
		}
	}
	t.Errorf("%s: %s with dimensions [%s]; it is emitted with %q", where, name, set, sets)
}

func TestMetricsContract(t *testing.T) {
	tpl := loadTemplate(t)
	vars := map[string]string{"MetricsNamespace": "CUSTOM"}
	alarms := tpl.resourcesOfType("AWS::CloudWatch::Alarm")
	if len(alarms) == 0 {
		t.Fatal("no alarms")
	}
	covered := map[string]bool{}
	for _, id := range alarms {
		p := tpl.Resources[id].Properties
		if a := asList(p["AlarmActions"]); len(a) == 0 || render(a[0], nil) != "{AlertTopic}" {
			t.Errorf("alarm %s does not notify the AlertTopic", id)
		}
		dims := map[string]string{}
		for _, d := range asList(p["Dimensions"]) {
			dims[fmt.Sprint(path(d, "Name"))] = render(path(d, "Value"), nil)
		}
		ns, name := render(p["Namespace"], vars), fmt.Sprint(p["MetricName"])
		checkMetric(t, "alarm "+id, ns, name, dims)
		covered[ns+" "+name] = true
		for _, v := range dims {
			covered[ns+" "+name+" "+v] = true
		}
	}
	// The alarms: messages in either DLQ, executions failed or timed out, Lambda errors of each
	// function, age of the oldest ingest message.
	need := []string{
		"AWS/SQS ApproximateNumberOfMessagesVisible {IngestDeadLetterQueue.QueueName}",
		"AWS/SQS ApproximateNumberOfMessagesVisible {FailedFilesQueue.QueueName}",
		"AWS/States ExecutionsFailed {SettlementStateMachine}",
		"AWS/States ExecutionsTimedOut {SettlementStateMachine}",
		"AWS/SQS ApproximateAgeOfOldestMessage {IngestQueue.QueueName}",
		"CUSTOM MissingBatches", // the batch ledger's aggregate, without dimensions
		"CUSTOM TableFindings",  // the table against its manifests
		// The report intake: reports that could not be downloaded, refused webhook requests.
		"AWS/SQS ApproximateNumberOfMessagesVisible {FetchDeadLetterQueue.QueueName}",
		"CUSTOM WebhookRejected",
	}
	for _, dir := range functionDirs(t) {
		need = append(need, "AWS/Lambda Errors {"+functionID(dir)+"}")
	}
	for _, n := range need {
		if !covered[n] {
			t.Errorf("no alarm on %s", n)
		}
	}

	body := render(tpl.Resources["Dashboard"].Properties["DashboardBody"], vars)
	var dash struct {
		Widgets []struct {
			Type       string
			Properties struct {
				Title   string
				Metrics [][]any
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &dash); err != nil {
		t.Fatalf("the dashboard body is not JSON: %v\n%s", err, body)
	}
	search := regexp.MustCompile(`SEARCH\('\{([^}]*)\}\s+MetricName="(\w+)"`)
	seen := map[string]bool{}
	for _, w := range dash.Widgets {
		for _, m := range w.Properties.Metrics {
			where := "dashboard widget " + w.Properties.Title
			if len(m) > 0 {
				if e, ok := m[0].(map[string]any); ok {
					expr := fmt.Sprint(e["expression"])
					g := search.FindStringSubmatch(expr)
					if g == nil {
						t.Errorf("%s: expression %q is not a SEARCH of one metric", where, expr)
						continue
					}
					parts := strings.Split(g[1], ",")
					dims := map[string]string{}
					for _, d := range parts[1:] {
						dims[d] = ""
					}
					checkMetric(t, where, parts[0], g[2], dims)
					seen[g[2]] = true
					continue
				}
			}
			var s []string
			for _, x := range m {
				if str, ok := x.(string); ok {
					s = append(s, str)
				}
			}
			if len(s) < 2 || len(s)%2 != 0 {
				t.Errorf("%s: metric %v is not [namespace, name, dim, value, ...]", where, m)
				continue
			}
			dims := map[string]string{}
			for i := 2; i+1 < len(s); i += 2 {
				dims[s[i]] = s[i+1]
			}
			checkMetric(t, where, s[0], s[1], dims)
			seen[s[1]] = true
		}
	}
	for _, name := range []string{"ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionTime",
		"ApproximateNumberOfMessagesVisible", "RowsWritten", "RowsRejected", "Errors", "Duration"} {
		if !seen[name] {
			t.Errorf("the dashboard does not show %s", name)
		}
	}
}

// TestClaimLeaseOutlivesWrite: a replace takes over a batch's claim only once it is older than
// workflow.ClaimLease, which is safe only if no Write invocation can still be running by then.
func TestClaimLeaseOutlivesWrite(t *testing.T) {
	tpl := loadTemplate(t)
	timeout := toFloat(path(tpl.effective(tpl.Resources["WriteFunction"]), "Timeout"))
	if timeout <= 0 || time.Duration(timeout)*time.Second >= workflow.ClaimLease {
		t.Errorf("WriteFunction's Timeout is %vs; it must be shorter than the claim lease (%s)", timeout, workflow.ClaimLease)
	}
}

// TestReadmeDeployEndsWithTheWebhookURL: the README's deploy commands end with the WebhookUrl output to
// paste into Adyen, and docs/deployment.md shows a signed webhook turning into a committed batch locally.
func TestReadmeDeployEndsWithTheWebhookURL(t *testing.T) {
	readme := string(readFile(t, "README.md"))
	start := strings.Index(readme, "\n## Deploy to AWS\n")
	if start < 0 {
		t.Fatal("README.md has no ## Deploy to AWS section")
	}
	section := readme[start+1:]
	if end := strings.Index(section[1:], "\n## "); end >= 0 {
		section = section[:end+1]
	}
	block := section[strings.Index(section, "```sh\n")+6:]
	block = strings.TrimSpace(block[:strings.Index(block, "```")])
	lines := strings.Split(block, "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "out WebhookUrl") || !strings.Contains(last, "paste this URL into Adyen") {
		t.Errorf("the deploy commands end with %q, want the WebhookUrl output to paste into Adyen", last)
	}
	doc := string(readFile(t, "docs/deployment.md"))
	for _, want := range []string{"settle webhook replay", "HTTP 200 [accepted]", "SUCCEEDED", "DUPLICATE", "HTTP 403"} {
		if !strings.Contains(doc, want) {
			t.Errorf("docs/deployment.md's local webhook transcript lacks %q", want)
		}
	}
	if _, ok := loadTemplate(t).Outputs["WebhookUrl"]; !ok {
		t.Error("the template has no WebhookUrl output")
	}
}

// TestIcebergTableMaintenance: S3 Tables expires the table's snapshots after SnapshotRetentionHours and
// removes unreferenced files, but does not compact it. Compaction would merge batches' data files into
// new ones, and a replace takes a batch's old version out by the data file the table's index names
// (whose footer also carries the batch's manifest): after a compaction that file is gone from the
// snapshot while its rows are still in the merged one, and the replace would fail or count them twice.
func TestIcebergTableMaintenance(t *testing.T) {
	tpl := loadTemplate(t)
	p := tpl.Resources["SettlementIcebergTable"].Properties
	get := func(v any, path ...string) string {
		for _, k := range path {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		return render(v, nil)
	}
	if got := get(p, "Compaction", "Status"); got != "disabled" {
		t.Errorf("SettlementIcebergTable compaction is %q, want disabled", got)
	}
	if got := get(p, "SnapshotManagement", "Status"); got != "enabled" {
		t.Errorf("snapshot management is %q, want enabled", got)
	}
	if got := get(p, "SnapshotManagement", "MaxSnapshotAgeHours"); got != "{SnapshotRetentionHours}" {
		t.Errorf("snapshots expire after %q, want the parameter SnapshotRetentionHours", got)
	}
	b := tpl.Resources["SettlementTableBucket"].Properties
	if got := get(b, "UnreferencedFileRemoval", "Status"); got != "Enabled" {
		t.Errorf("unreferenced file removal is %q, want Enabled", got)
	}
}
