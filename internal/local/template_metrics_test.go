package local_test

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/paysettle/settle/internal/testkit/emftest"
)

// templateMetrics lists the metrics of the custom namespace (the MetricsNamespace parameter) that a
// CloudFormation template's alarms and dashboards use, as "Name[dimension names]". It reads the YAML
// as nodes, so that short-form intrinsics (!Ref, !Sub, !GetAtt, …) need no special types.
func templateMetrics(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty", path)
	}
	root := doc.Content[0]
	namespace := "MetricsNamespace"
	if p := get(get(get(root, "Parameters"), "MetricsNamespace"), "Default"); p != nil {
		namespace = p.Value
	}
	custom := func(ns string) bool {
		return ns == namespace || ns == "${MetricsNamespace}" || ns == "MetricsNamespace"
	}
	seen := map[string]bool{}
	add := func(name string, dims []string) { seen[name+"["+emftest.SetKey(dims)+"]"] = true }

	resources := get(root, "Resources")
	if resources == nil {
		return nil, fmt.Errorf("%s: no Resources", path)
	}
	for i := 0; i+1 < len(resources.Content); i += 2 {
		res := resources.Content[i+1]
		typ := get(res, "Type")
		props := get(res, "Properties")
		if typ == nil || props == nil {
			continue
		}
		switch typ.Value {
		case "AWS::CloudWatch::Alarm":
			if ns := intrinsic(get(props, "Namespace")); custom(ns) {
				add(intrinsic(get(props, "MetricName")), dimensionNames(get(props, "Dimensions")))
			}
			if ms := get(props, "Metrics"); ms != nil { // metric math alarms
				for _, q := range ms.Content {
					m := get(get(q, "MetricStat"), "Metric")
					if m != nil && custom(intrinsic(get(m, "Namespace"))) {
						add(intrinsic(get(m, "MetricName")), dimensionNames(get(m, "Dimensions")))
					}
				}
			}
		case "AWS::CloudWatch::Dashboard":
			body := subBody(get(props, "DashboardBody"))
			if err := dashboardMetrics(body, custom, add); err != nil {
				return nil, fmt.Errorf("%s: dashboard: %w", path, err)
			}
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// get returns a mapping node's value for key, or nil.
func get(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// intrinsic renders a scalar, "!Ref X" or "Ref: X" as its text or the referenced name, and !Sub as its
// template string.
func intrinsic(n *yaml.Node) string {
	switch {
	case n == nil:
		return ""
	case n.Kind == yaml.ScalarNode && (n.Tag == "!Ref" || n.Tag == "!Sub"):
		return n.Value
	case n.Kind == yaml.ScalarNode:
		return n.Value
	case get(n, "Ref") != nil:
		return get(n, "Ref").Value
	case get(n, "Fn::Sub") != nil:
		return intrinsic(get(n, "Fn::Sub"))
	case n.Kind == yaml.SequenceNode && n.Tag == "!Sub" && len(n.Content) > 0:
		return n.Content[0].Value
	}
	return ""
}

func dimensionNames(n *yaml.Node) []string {
	if n == nil {
		return nil
	}
	var out []string
	for _, d := range n.Content {
		out = append(out, intrinsic(get(d, "Name")))
	}
	return out
}

var subVar = regexp.MustCompile(`\$\{(!?)([^}]*)\}`)

// subBody returns a dashboard body with its !Sub variables resolved: ${MetricsNamespace} stays as
// written (the caller recognises it), other variables become their names.
func subBody(n *yaml.Node) string {
	s := intrinsic(n)
	return subVar.ReplaceAllStringFunc(s, func(v string) string {
		m := subVar.FindStringSubmatch(v)
		switch {
		case m[1] == "!":
			return "${" + m[2] + "}"
		case m[2] == "MetricsNamespace":
			return v
		default:
			return m[2]
		}
	})
}

// searchRE reads a SEARCH expression's schema: {Namespace,Dim1,…} MetricName="X".
var searchRE = regexp.MustCompile(`\{((?:\$\{[^}]*\}|[^{}$])*)\}[^']*?MetricName\s*=\s*"([^"]+)"`)

// dashboardMetrics walks the "metrics" arrays of a dashboard body. A metric is
// [namespace, name, dim, value, …, {options}], where "." repeats the previous line's value at that
// position and "..." repeats everything of the previous line up to the dimensions that follow; an
// object alone is an expression, of which SEARCH schemas are read.
func dashboardMetrics(body string, custom func(string) bool, add func(string, []string)) error {
	var dash struct {
		Widgets []struct {
			Properties struct {
				Metrics []json.RawMessage `json:"metrics"`
			} `json:"properties"`
		} `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(body), &dash); err != nil {
		return err
	}
	for _, w := range dash.Widgets {
		var prev []string
		for _, raw := range w.Properties.Metrics {
			var items []any
			if err := json.Unmarshal(raw, &items); err != nil {
				return err
			}
			var line []string
			for _, it := range items {
				switch v := it.(type) {
				case string:
					line = append(line, v)
				case map[string]any:
					if expr, ok := v["expression"].(string); ok {
						for _, m := range searchRE.FindAllStringSubmatch(expr, -1) {
							parts := strings.Split(m[1], ",")
							for i := range parts {
								parts[i] = strings.Trim(strings.TrimSpace(parts[i]), `"`)
							}
							if custom(parts[0]) {
								add(m[2], parts[1:])
							}
						}
					}
				}
			}
			if len(line) == 0 {
				continue
			}
			if line[0] == "..." {
				if len(prev) < 2 {
					return fmt.Errorf(`"..." without a previous metric`)
				}
				line = append(append([]string(nil), prev[:len(prev)-len(line)+1]...), line[1:]...)
			}
			for i := range line {
				if line[i] == "." && i < len(prev) {
					line[i] = prev[i]
				}
			}
			prev = line
			if len(line) < 2 || !custom(line[0]) {
				continue
			}
			var dims []string
			for i := 2; i+1 < len(line); i += 2 {
				dims = append(dims, line[i])
			}
			add(line[1], dims)
		}
	}
	return nil
}
