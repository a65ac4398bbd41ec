package engine

import (
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	in := `{"a":{"b":[10,{"c":"deep"}]},"odd key":1,"error-info":"x"}`
	root, err := decodeJSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path    string
		want    string // JSON of the selected value, "" = missing
		refused string // substring of the parse error
	}{
		{path: "$", want: in},
		{path: "$.a.b[0]", want: "10"},
		{path: "$.a.b[1].c", want: `"deep"`},
		{path: "$['odd key']", want: "1"},
		{path: "$.a['b'][1]['c']", want: `"deep"`},
		{path: "$.error-info", want: `"x"`},
		{path: "$.missing"},
		{path: "$.a.b[5]"},
		{path: "$.a.b.c"},
		{path: "$..c", refused: "recursive descent"},
		{path: "$.a.*", refused: "wildcards"},
		{path: "$.a.b[*]", refused: "wildcards"},
		{path: "$.a.b[?(@.c)]", refused: "filter"},
		{path: "$.a.b[0:1]", refused: "slices"},
		{path: "$.a.b[0,1]", refused: "unions"},
		{path: "$.a.b[-1]", refused: "not supported"},
		{path: "$.a.length()", refused: "not supported"},
		{path: "a.b", refused: "must start with $"},
		{path: "$$.Execution.Id", refused: "context object"},
	}
	for _, tt := range tests {
		p, err := parsePath(tt.path, false)
		if tt.refused != "" {
			if err == nil || !strings.Contains(err.Error(), tt.refused) {
				t.Errorf("parsePath(%q) error = %v, want one containing %q", tt.path, err, tt.refused)
			}
			continue
		}
		if err != nil {
			t.Errorf("parsePath(%q): %v", tt.path, err)
			continue
		}
		v, ok := p.get(root)
		got := ""
		if ok {
			got = encodeJSON(v)
		}
		if got != tt.want {
			t.Errorf("get(%q) = %s, want %s", tt.path, got, tt.want)
		}
	}
}

func TestPathSet(t *testing.T) {
	tests := []struct {
		in, path, value, want, err string
	}{
		{in: `{"a":1}`, path: "$", value: `"r"`, want: `"r"`},
		{in: `{"a":1}`, path: "$.b", value: `"r"`, want: `{"a":1,"b":"r"}`},
		{in: `{"a":1}`, path: "$.a", value: `"r"`, want: `{"a":"r"}`},
		{in: `{"a":1}`, path: "$.x.y.z", value: `true`, want: `{"a":1,"x":{"y":{"z":true}}}`},
		{in: `{"a":[1,2]}`, path: "$.a[1]", value: `3`, want: `{"a":[1,3]}`},
		{in: `{"a":1}`, path: "$.a.b", err: "not an object"},
		{in: `"s"`, path: "$.a", err: "not an object"},
		{in: `{"a":[1]}`, path: "$.a[3]", err: "not an array"},
	}
	for _, tt := range tests {
		root, _ := decodeJSON([]byte(tt.in))
		p, err := parsePath(tt.path, false)
		if err != nil {
			t.Fatal(err)
		}
		var value any
		if tt.value != "" {
			value, _ = decodeJSON([]byte(tt.value))
		}
		got, err := p.set(root, value)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("set(%s, %s) error = %v, want %q", tt.in, tt.path, err, tt.err)
			}
			continue
		}
		if err != nil || encodeJSON(got) != tt.want {
			t.Errorf("set(%s, %s, %s) = %s, %v; want %s", tt.in, tt.path, tt.value, encodeJSON(got), err, tt.want)
		}
		if encodeJSON(root) != tt.in {
			t.Errorf("set changed its input: %s, was %s", encodeJSON(root), tt.in)
		}
	}
}

func TestJSONKeepsKeyOrder(t *testing.T) {
	in := `{"z":1,"a":{"y":[true,null,"<&>"],"b":1.50},"m":"\u2028\n"}`
	v, err := decodeJSON([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"z":1,"a":{"y":[true,null,"<&>"],"b":1.50},"m":"\u2028\n"}`
	if got := encodeJSON(v); got != want {
		t.Errorf("round trip = %s, want %s", got, want)
	}
	for _, bad := range []string{``, `{`, `{"a":1} x`, `[1,]`, `nul`} {
		if _, err := decodeJSON([]byte(bad)); err == nil {
			t.Errorf("decodeJSON(%q) succeeded, want an error", bad)
		}
	}
}
