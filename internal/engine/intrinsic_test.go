package engine

import (
	"strings"
	"testing"
)

func TestIntrinsics(t *testing.T) {
	input := `{"name":"Arnav","template":"Hello, my name is {}.","n":42,"ok":true,"nothing":null,` +
		`"esc":"{\"foo\": \"bar\"}","obj":{"z":1,"a":[1,"x"]},"step":"Validate","error":{"Error":"ValidationError"}}`
	in, err := decodeJSON([]byte(input))
	if err != nil {
		t.Fatal(err)
	}
	ctxObj, _ := decodeJSON([]byte(`{"Execution":{"Name":"exec-1"}}`))
	tests := []struct {
		call string
		want string // JSON of the result
		err  string // substring of a run-time error
	}{
		{call: `States.Format('Hello, my name is {}.', $.name)`, want: `"Hello, my name is Arnav."`},
		{call: `States.Format($.template, $.name)`, want: `"Hello, my name is Arnav."`},
		{call: `States.Format('Settlement file rejected at {}: {}', $.step, $.error.Error)`, want: `"Settlement file rejected at Validate: ValidationError"`},
		{call: `States.Format('{} {} {}', $.n, $.ok, $.nothing)`, want: `"42 true null"`},
		{call: `States.Format('\{\}={}, it\'s \\ {}', 'a', $$.Execution.Name)`, want: `"{}=a, it's \\ exec-1"`},
		{call: `States.Format('no placeholders')`, want: `"no placeholders"`},
		{call: `States.Format('{}', $.obj)`, err: "only strings, numbers"},
		{call: `States.Format('{}', $.missing)`, err: "could not be found"},
		{call: `States.StringToJson($.esc)`, want: `{"foo":"bar"}`},
		{call: `States.StringToJson($.name)`, err: "invalid JSON"},
		{call: `States.JsonToString($.obj)`, want: `"{\"z\":1,\"a\":[1,\"x\"]}"`},
		{call: `States.Array($.n, 'two', 3, States.Array())`, want: `[42,"two",3,[]]`},
		{call: `States.Array(States.StringToJson(States.JsonToString($.obj)))`, want: `[{"z":1,"a":[1,"x"]}]`},
	}
	for _, tt := range tests {
		c, err := parseIntrinsic(tt.call)
		if err != nil {
			t.Errorf("parseIntrinsic(%s): %v", tt.call, err)
			continue
		}
		v, f := c.eval(in, ctxObj)
		if tt.err != "" {
			if f == nil || f.name != "States.Runtime" || !strings.Contains(f.cause, tt.err) {
				t.Errorf("%s failed with %+v, want States.Runtime containing %q", tt.call, f, tt.err)
			}
			continue
		}
		if f != nil {
			t.Errorf("%s: %s: %s", tt.call, f.name, f.cause)
			continue
		}
		if got := encodeJSON(v); got != tt.want {
			t.Errorf("%s = %s, want %s", tt.call, got, tt.want)
		}
	}
}

func TestIntrinsicsRefused(t *testing.T) {
	tests := []struct{ call, err string }{
		{`States.UUID()`, "States.UUID is not supported"},
		{`States.MathAdd($.a, 1)`, "States.MathAdd is not supported"},
		{`States.Format('{} {}', $.a)`, "2 {} placeholders but 1 values"},
		{`States.Format('{', $.a)`, "unescaped {"},
		{`States.Format('}')`, "unescaped }"},
		{`States.Format('\n')`, "open escape"},
		{`States.Format('x`, "unterminated"},
		{`States.JsonToString('x')`, "must be a path"},
		{`States.StringToJson($.a, $.b)`, "exactly one"},
		{`States.Array($..a)`, "recursive descent"},
		{`States.Array(foo)`, "not a string literal"},
		{`States.Array(1) x`, "after the call"},
	}
	for _, tt := range tests {
		_, err := parseIntrinsic(tt.call)
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("parseIntrinsic(%s) error = %v, want one containing %q", tt.call, err, tt.err)
		}
	}
}
