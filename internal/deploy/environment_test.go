package deploy

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/paysettle/settle/internal/fetch"
)

// resolve evaluates a value as CloudFormation would for the given parameter values (the others at their
// defaults): Ref of a parameter, and Fn::If on conditions made of Fn::Equals, Fn::Not, Fn::And and
// Fn::Or. Anything else is rendered as render does.
func (tpl *template) resolve(t *testing.T, v any, params map[string]string) string {
	t.Helper()
	vals := parameterDefaults(tpl)
	for k, p := range params {
		vals[k] = p
	}
	var value func(v any) string
	var cond func(v any) bool
	value = func(v any) string {
		m := asMap(v)
		if l := asList(m["Fn::If"]); len(m) == 1 && len(l) == 3 {
			name := fmt.Sprint(l[0])
			c, ok := tpl.Conditions[name]
			if !ok {
				t.Fatalf("Fn::If names no condition %s", name)
			}
			if cond(c) {
				return value(l[1])
			}
			return value(l[2])
		}
		return render(v, vals)
	}
	cond = func(v any) bool {
		m := asMap(v)
		for op, arg := range m {
			l := asList(arg)
			switch op {
			case "Fn::Equals":
				return len(l) == 2 && value(l[0]) == value(l[1])
			case "Fn::Not":
				return len(l) == 1 && !cond(l[0])
			case "Fn::And", "Fn::Or":
				all, any := true, false
				for _, c := range l {
					b := cond(c)
					all, any = all && b, any || b
				}
				return op == "Fn::And" && all || op == "Fn::Or" && any
			case "Condition":
				return cond(tpl.Conditions[fmt.Sprint(arg)])
			}
		}
		t.Fatalf("cannot evaluate the condition %v", v)
		return false
	}
	return value(v)
}

// TestReportHostsFollowTheEnvironment: a stack downloads from its own Adyen environment only. The report
// URL is not signed, so a test stack must not follow a notification to the live Customer Area, nor a
// live stack to the test one. REPORT_HOSTS of the webhook and fetch functions is the host of
// AdyenEnvironment unless ReportHosts names others.
func TestReportHostsFollowTheEnvironment(t *testing.T) {
	tpl := loadTemplate(t)
	p, ok := tpl.Parameters["AdyenEnvironment"]
	if !ok {
		t.Fatal("no parameter AdyenEnvironment: nothing says whether the stack is test or live")
	}
	if p["Default"] != "test" || !reflect.DeepEqual(asList(p["AllowedValues"]), []any{"test", "live"}) {
		t.Errorf("AdyenEnvironment: default %v, allowed %v; want test, [test live]", p["Default"], p["AllowedValues"])
	}
	for _, fn := range []string{"WebhookFunction", "FetchFunction"} {
		v := path(tpl.Resources[fn].Properties, "Environment", "Variables", "REPORT_HOSTS")
		for _, c := range []struct {
			params map[string]string
			want   []string
		}{
			{map[string]string{}, []string{"ca-test.adyen.com"}},
			{map[string]string{"AdyenEnvironment": "test"}, []string{"ca-test.adyen.com"}},
			{map[string]string{"AdyenEnvironment": "live"}, []string{"ca-live.adyen.com"}},
			{map[string]string{"AdyenEnvironment": "live", "ReportHosts": "reports.example.com:8443"}, []string{"reports.example.com:8443"}},
		} {
			got, err := fetch.ParseHosts(tpl.resolve(t, v, c.params))
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s: REPORT_HOSTS with %v = %v (%v), want %v", fn, c.params, got, err, c.want)
			}
		}
	}
}
