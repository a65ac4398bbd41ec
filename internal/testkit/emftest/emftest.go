// Package emftest checks CloudWatch Embedded Metric Format documents against the specification, for
// tests: the root is a JSON object with _aws.Timestamp (milliseconds since the epoch) and
// _aws.CloudWatchMetrics, an array of directives {Namespace, Dimensions: [[name…]…], Metrics:
// [{Name, Unit}…]}; every dimension and metric a directive names is a member of the root; metric values
// are numbers (or arrays of at most 100 numbers); a directive has at most 100 metrics and a dimension set
// at most 30 names.
package emftest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Document is a parsed EMF document.
type Document struct {
	Timestamp  time.Time
	Directives []Directive
	// Values holds every metric's values; Members every root member (metrics, dimensions, properties).
	Values  map[string][]float64
	Members map[string]any
}

// Directive is one MetricDirective.
type Directive struct {
	Namespace  string
	Dimensions [][]string
	Metrics    []Definition
}

// Definition is one MetricDefinition.
type Definition struct {
	Name string
	Unit string
}

// Metric is a metric as CloudWatch extracts it: namespace, name and the names of one dimension set.
type Metric struct {
	Namespace  string
	Name       string
	Dimensions string // dimension names, sorted, comma-separated; "" for the empty set
}

func (m Metric) String() string { return m.Namespace + "/" + m.Name + "[" + m.Dimensions + "]" }

// Metrics lists the metrics the document publishes, one per metric and dimension set.
func (d *Document) Metrics() []Metric {
	var out []Metric
	for _, dir := range d.Directives {
		for _, set := range dir.Dimensions {
			for _, m := range dir.Metrics {
				out = append(out, Metric{Namespace: dir.Namespace, Name: m.Name, Dimensions: SetKey(set)})
			}
		}
	}
	return out
}

// SetKey is the canonical form of a dimension set: names sorted and comma-separated.
func SetKey(names []string) string {
	s := append([]string(nil), names...)
	for i := 1; i < len(s); i++ { // insertion sort: sets are tiny
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return strings.Join(s, ",")
}

// Units CloudWatch accepts.
var units = map[string]bool{}

func init() {
	for _, u := range strings.Fields(`Seconds Microseconds Milliseconds Bytes Kilobytes Megabytes Gigabytes Terabytes
		Bits Kilobits Megabits Gigabits Terabits Percent Count Bytes/Second Kilobytes/Second Megabytes/Second
		Gigabytes/Second Terabytes/Second Bits/Second Kilobits/Second Megabits/Second Gigabits/Second
		Terabits/Second Count/Second None`) {
		units[u] = true
	}
}

// Parse checks one log line against the specification and parses it.
func Parse(line []byte) (*Document, error) {
	line = bytes.TrimRight(line, "\r\n")
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("data after the JSON object")
	}
	aws, ok := root["_aws"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("no _aws object")
	}
	ts, ok := aws["Timestamp"].(json.Number)
	if !ok {
		return nil, fmt.Errorf("_aws.Timestamp is not a number")
	}
	ms, err := ts.Int64()
	if err != nil {
		return nil, fmt.Errorf("_aws.Timestamp %s is not a whole number of milliseconds", ts)
	}
	// Milliseconds, not seconds: any time after 2001 in ms is above 1e12; in seconds it is below 1e10.
	if ms < 1e12 || ms > 1e14 {
		return nil, fmt.Errorf("_aws.Timestamp %d is not in milliseconds since the epoch", ms)
	}
	cwm, ok := aws["CloudWatchMetrics"].([]any)
	if !ok || len(cwm) == 0 {
		return nil, fmt.Errorf("_aws.CloudWatchMetrics is not a non-empty array")
	}
	doc := &Document{Timestamp: time.UnixMilli(ms).UTC(), Values: map[string][]float64{}, Members: map[string]any{}}
	for k, v := range root {
		if k != "_aws" {
			doc.Members[k] = v
		}
	}
	for i, raw := range cwm {
		d, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("directive %d is not an object", i)
		}
		var dir Directive
		if dir.Namespace, ok = d["Namespace"].(string); !ok || dir.Namespace == "" || len(dir.Namespace) > 255 {
			return nil, fmt.Errorf("directive %d: Namespace must be a string of 1 to 255 characters", i)
		}
		sets, ok := d["Dimensions"].([]any)
		if !ok {
			return nil, fmt.Errorf("directive %d: Dimensions must be an array of dimension sets", i)
		}
		for j, rs := range sets {
			set, ok := rs.([]any)
			if !ok {
				return nil, fmt.Errorf("directive %d: dimension set %d is not an array", i, j)
			}
			if len(set) > 30 {
				return nil, fmt.Errorf("directive %d: dimension set %d has %d dimensions, more than 30", i, j, len(set))
			}
			var names []string
			for _, rn := range set {
				name, ok := rn.(string)
				if !ok || name == "" {
					return nil, fmt.Errorf("directive %d: dimension set %d holds a non-string or empty name", i, j)
				}
				v, present := root[name]
				if !present {
					return nil, fmt.Errorf("directive %d: dimension %q is not a member of the root", i, name)
				}
				if s, ok := v.(string); !ok || s == "" {
					return nil, fmt.Errorf("directive %d: dimension %q must have a non-empty string value, has %v", i, name, v)
				}
				names = append(names, name)
			}
			dir.Dimensions = append(dir.Dimensions, names)
		}
		mets, ok := d["Metrics"].([]any)
		if !ok || len(mets) == 0 {
			return nil, fmt.Errorf("directive %d: Metrics must be a non-empty array", i)
		}
		if len(mets) > 100 {
			return nil, fmt.Errorf("directive %d: %d metrics, more than 100", i, len(mets))
		}
		for j, rm := range mets {
			m, ok := rm.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("directive %d: metric %d is not an object", i, j)
			}
			var def Definition
			if def.Name, ok = m["Name"].(string); !ok || def.Name == "" || len(def.Name) > 255 {
				return nil, fmt.Errorf("directive %d: metric %d has no Name", i, j)
			}
			if u, present := m["Unit"]; present {
				if def.Unit, ok = u.(string); !ok || !units[def.Unit] {
					return nil, fmt.Errorf("directive %d: metric %s has unit %v, not a CloudWatch unit", i, def.Name, u)
				}
			}
			values, err := metricValues(root[def.Name])
			if err != nil {
				return nil, fmt.Errorf("directive %d: metric %s: %w", i, def.Name, err)
			}
			doc.Values[def.Name] = values
			dir.Metrics = append(dir.Metrics, def)
		}
		doc.Directives = append(doc.Directives, dir)
	}
	return doc, nil
}

func metricValues(v any) ([]float64, error) {
	num := func(x any) (float64, error) {
		n, ok := x.(json.Number)
		if !ok {
			return 0, fmt.Errorf("value %v is not a number", x)
		}
		f, err := n.Float64()
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, fmt.Errorf("value %v is not a finite number", x)
		}
		return f, nil
	}
	switch x := v.(type) {
	case nil:
		return nil, fmt.Errorf("not a member of the root")
	case []any:
		if len(x) == 0 || len(x) > 100 {
			return nil, fmt.Errorf("an array of %d values (1 to 100 allowed)", len(x))
		}
		out := make([]float64, 0, len(x))
		for _, e := range x {
			f, err := num(e)
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		}
		return out, nil
	default:
		f, err := num(x)
		if err != nil {
			return nil, err
		}
		return []float64{f}, nil
	}
}

// Collect reads log lines and parses those that are EMF documents (JSON objects with an _aws member);
// other lines (ordinary log lines) are skipped. The first invalid document is an error.
func Collect(r io.Reader) ([]*Document, error) {
	var docs []*Document
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(`"_aws"`)) {
			continue
		}
		d, err := Parse(line)
		if err != nil {
			return docs, fmt.Errorf("line %d: %w: %s", n, err, line)
		}
		docs = append(docs, d)
	}
	return docs, sc.Err()
}
