package deploy

import (
	"reflect"
	"testing"
)

// Lambda's account-level concurrency: 1,000 by default per region, and AWS refuses a reservation that
// would leave fewer than 100 unreserved for the account's other functions.
const (
	defaultAccountConcurrency = 1000
	minUnreserved             = 100
)

// reserved are the functions whose concurrency the stack reserves (and so bounds), by parameter.
var reserved = map[string]string{
	"ValidateFunction":  "ValidateReservedConcurrency",
	"TransformFunction": "TransformReservedConcurrency",
	"WebhookFunction":   "WebhookReservedConcurrency",
}

// TestReservedConcurrency checks the burst bounds: Validate, Transform and the public webhook reserve
// their parameter's concurrency unless it is 0 (the webhook's cap keeps a flood of requests to its
// public URL from drawing on the account's shared pool; Adyen retries a throttled delivery); no other
// function reserves any (the starter is bounded by its SQS event source's MaximumConcurrency:
// throttling an SQS-triggered function returns messages to the queue, each return counting towards
// the ingest DLQ; Check runs at the starter's pace and Write at Transform's); and the defaults leave
// the unreserved minimum of a default account.
func TestReservedConcurrency(t *testing.T) {
	tpl := loadTemplate(t)
	sum := 0
	for fn, param := range reserved {
		p := tpl.Parameters[param]
		if p == nil {
			t.Errorf("no parameter %s", param)
			continue
		}
		got := tpl.Resources[fn].Properties["ReservedConcurrentExecutions"]
		iff := asList(path(got, "Fn::If"))
		if len(iff) != 3 || path(iff[1], "Ref") != param || path(iff[2], "Ref") != "AWS::NoValue" {
			t.Errorf("%s: ReservedConcurrentExecutions = %v, want !If [condition, !Ref %s, !Ref AWS::NoValue]", fn, got, param)
			continue
		}
		cond, _ := iff[0].(string)
		want := map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": param}, "0"}}}}
		if !reflect.DeepEqual(tpl.Conditions[cond], want) {
			t.Errorf("%s: condition %s = %v, want !Not [!Equals [!Ref %s, \"0\"]] (0: no reservation)", fn, cond, tpl.Conditions[cond], param)
		}
		if toFloat(p["MinValue"]) != 0 {
			t.Errorf("%s MinValue = %v, want 0 (no reservation, for accounts below %d)", param, p["MinValue"], minUnreserved)
		}
		if max := toFloat(p["MaxValue"]); max > defaultAccountConcurrency-minUnreserved {
			t.Errorf("%s MaxValue = %v: more than a default account can reserve (%d)", param, max, defaultAccountConcurrency-minUnreserved)
		}
		d := int(toFloat(p["Default"]))
		if d < 2 {
			t.Errorf("%s default %d: a burst would run one file at a time", param, d)
		}
		sum += d
	}
	if sum > defaultAccountConcurrency-minUnreserved {
		t.Errorf("the default reservations total %d; a default account can reserve %d", sum, defaultAccountConcurrency-minUnreserved)
	}
	for _, fn := range tpl.resourcesOfType("AWS::Serverless::Function") {
		if _, ok := reserved[fn]; ok {
			continue
		}
		if v, ok := tpl.effective(tpl.Resources[fn])["ReservedConcurrentExecutions"]; ok {
			t.Errorf("%s reserves concurrency %v; only %v are bounded that way", fn, v, reserved)
		}
	}
}
