package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/paysettle/settle/internal/testkit/reporoot"
)

// The template is read as plain YAML: CloudFormation's short forms (!Ref, !Sub, !GetAtt, ...) become
// their long forms ({"Ref": ...}, {"Fn::Sub": ...}, {"Fn::GetAtt": [resource, attribute]}), so the
// checks walk one generic tree. goformation would turn every Ref into "" and skip Globals.

// template is template.yaml, parsed.
type template struct {
	Parameters map[string]map[string]any
	Conditions map[string]any
	Globals    map[string]any
	Resources  map[string]resource
	Outputs    map[string]map[string]any
	raw        map[string]any
}

// resource is one entry of Resources.
type resource struct {
	Type       string
	Properties map[string]any
	Metadata   map[string]any
	Condition  string
	raw        map[string]any
}

func readFile(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(reporoot.Of(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// loadTemplate parses template.yaml.
func loadTemplate(t testing.TB) *template {
	t.Helper()
	tpl, err := parseTemplate(readFile(t, "template.yaml"))
	if err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	return tpl
}

func parseTemplate(src []byte) (*template, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	v, err := convert(&doc)
	if err != nil {
		return nil, err
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not a mapping at the top")
	}
	tpl := &template{raw: top, Parameters: map[string]map[string]any{}, Resources: map[string]resource{}, Outputs: map[string]map[string]any{}}
	for name, p := range asMap(top["Parameters"]) {
		tpl.Parameters[name] = asMap(p)
	}
	tpl.Conditions = asMap(top["Conditions"])
	tpl.Globals = asMap(top["Globals"])
	for name, o := range asMap(top["Outputs"]) {
		tpl.Outputs[name] = asMap(o)
	}
	for name, r := range asMap(top["Resources"]) {
		m := asMap(r)
		typ, _ := m["Type"].(string)
		cond, _ := m["Condition"].(string)
		tpl.Resources[name] = resource{Type: typ, Properties: asMap(m["Properties"]), Metadata: asMap(m["Metadata"]), Condition: cond, raw: m}
	}
	return tpl, nil
}

// convert turns a YAML node into maps, slices and scalars, with CloudFormation's tags in long form.
// Duplicate keys are an error, as they are for CloudFormation.
func convert(n *yaml.Node) (any, error) {
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return convert(n.Content[0])
	case yaml.AliasNode:
		return convert(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", n.Content[i].Line, k)
			}
			val, err := convert(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k] = val
		}
		v = m
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			val, err := convert(c)
			if err != nil {
				return nil, err
			}
			s = append(s, val)
		}
		v = s
	case yaml.ScalarNode:
		if isIntrinsicTag(n.Tag) {
			v = n.Value
		} else if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %v", n.Line, err)
		}
	}
	if !isIntrinsicTag(n.Tag) {
		return v, nil
	}
	switch name := strings.TrimPrefix(n.Tag, "!"); name {
	case "Ref", "Condition":
		return map[string]any{name: v}, nil
	case "GetAtt":
		if s, ok := v.(string); ok {
			res, attr, _ := strings.Cut(s, ".")
			return map[string]any{"Fn::GetAtt": []any{res, attr}}, nil
		}
		return map[string]any{"Fn::GetAtt": v}, nil
	default:
		return map[string]any{"Fn::" + name: v}, nil
	}
}

func isIntrinsicTag(tag string) bool {
	return strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!")
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func asList(v any) []any {
	switch l := v.(type) {
	case []any:
		return l
	case nil:
		return nil
	default:
		return []any{l} // IAM allows one value where a list is expected
	}
}

// path follows keys through nested maps: path(m, "A", "B") is m["A"]["B"].
func path(v any, keys ...string) any {
	for _, k := range keys {
		v = asMap(v)[k]
	}
	return v
}

// effective returns a function's properties with the Globals' Function section merged in as SAM
// merges them: maps key by key (the function's keys win), lists appended, scalars overridden.
func (tpl *template) effective(r resource) map[string]any {
	return asMap(mergeGlobals(asMap(tpl.Globals["Function"]), r.Properties))
}

func mergeGlobals(global, local any) any {
	gm, gok := global.(map[string]any)
	lm, lok := local.(map[string]any)
	if gok && lok {
		out := map[string]any{}
		for k, v := range gm {
			out[k] = v
		}
		for k, v := range lm {
			if g, ok := gm[k]; ok {
				out[k] = mergeGlobals(g, v)
			} else {
				out[k] = v
			}
		}
		return out
	}
	gl, gok := global.([]any)
	ll, lok := local.([]any)
	if gok && lok {
		return append(append([]any{}, gl...), ll...)
	}
	if local != nil {
		return local
	}
	return global
}

// resourcesOfType lists the logical ids of a type, sorted.
func (tpl *template) resourcesOfType(typ string) []string {
	var ids []string
	for id, r := range tpl.Resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// subVar matches ${Name}, ${Name.Attr} and the escape ${!Literal} in Fn::Sub strings.
var subVar = regexp.MustCompile(`\$\{(!?)([^}]*)\}`)

// render writes a value as a string with its references as {Name} and {Resource.Attr}, so that
// policies and ARNs compare as text: !Sub "${RawBucket.Arn}/*" renders "{RawBucket.Arn}/*".
// vars overrides how named variables render (for example a parameter's value).
func render(v any, vars map[string]string) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				switch k {
				case "Ref":
					return renderVar(fmt.Sprint(arg), vars)
				case "Fn::GetAtt":
					l := asList(arg)
					if len(l) == 2 {
						return renderVar(fmt.Sprint(l[0])+"."+fmt.Sprint(l[1]), vars)
					}
				case "Fn::Sub":
					return renderSub(arg, vars)
				case "Fn::If":
					l := asList(arg)
					if len(l) == 3 {
						return "if(" + fmt.Sprint(l[0]) + "," + render(l[1], vars) + "," + render(l[2], vars) + ")"
					}
				case "Fn::Join":
					l := asList(arg)
					if len(l) == 2 {
						var parts []string
						for _, p := range asList(l[1]) {
							parts = append(parts, render(p, vars))
						}
						return strings.Join(parts, fmt.Sprint(l[0]))
					}
				}
			}
		}
	}
	return fmt.Sprint(v)
}

func renderVar(name string, vars map[string]string) string {
	if s, ok := vars[name]; ok {
		return s
	}
	return "{" + name + "}"
}

func renderSub(arg any, vars map[string]string) string {
	s, ok := arg.(string)
	local := map[string]string{}
	for k, v := range vars {
		local[k] = v
	}
	if !ok {
		l := asList(arg)
		if len(l) != 2 {
			return fmt.Sprint(arg)
		}
		s, _ = l[0].(string)
		for k, v := range asMap(l[1]) {
			local[k] = render(v, vars)
		}
	}
	return subVar.ReplaceAllStringFunc(s, func(m string) string {
		g := subVar.FindStringSubmatch(m)
		if g[1] == "!" {
			return "${" + g[2] + "}"
		}
		return renderVar(g[2], local)
	})
}

func TestTemplateParses(t *testing.T) {
	tpl := loadTemplate(t)
	if tpl.raw["Transform"] != "AWS::Serverless-2016-10-31" {
		t.Errorf("Transform = %v, want AWS::Serverless-2016-10-31", tpl.raw["Transform"])
	}
	if tpl.raw["AWSTemplateFormatVersion"] != "2010-09-09" {
		t.Errorf("AWSTemplateFormatVersion = %v", tpl.raw["AWSTemplateFormatVersion"])
	}
	for id, r := range tpl.Resources {
		if r.Type == "" {
			t.Errorf("resource %s has no Type", id)
		}
	}
	if _, err := parseTemplate([]byte("A: 1\nA: 2\n")); err == nil {
		t.Error("a duplicate key was accepted")
	}
}

func TestRenderReferences(t *testing.T) {
	for _, c := range []struct {
		in   any
		want string
	}{
		{map[string]any{"Ref": "RawBucket"}, "{RawBucket}"},
		{map[string]any{"Fn::GetAtt": []any{"RawBucket", "Arn"}}, "{RawBucket.Arn}"},
		{map[string]any{"Fn::Sub": "${RawBucket.Arn}/*"}, "{RawBucket.Arn}/*"},
		{map[string]any{"Fn::Sub": "x=${!literal}"}, "x=${literal}"},
		{map[string]any{"Fn::Sub": []any{"${A}-${B}", map[string]any{"A": "a"}}}, "a-{B}"},
		{map[string]any{"Fn::Join": []any{":", []any{"a", map[string]any{"Ref": "B"}}}}, "a:{B}"},
		{map[string]any{"Fn::If": []any{"C", map[string]any{"Ref": "A"}, map[string]any{"Ref": "B"}}}, "if(C,{A},{B})"},
	} {
		if got := render(c.in, nil); got != c.want {
			t.Errorf("render(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}
