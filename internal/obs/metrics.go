package obs

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"strings"
	"sync"
	"time"
)

// The pipeline's metrics: the contract with the dashboard and alarms of template.yaml (a test checks
// that every metric they use is emitted). All are published in one namespace (METRICS_NAMESPACE).
const (
	FilesStarted        = "FilesStarted"        // starter: an execution started, restarted (-rN) or redriven; property outcome
	DuplicateDeliveries = "DuplicateDeliveries" // starter: the content is already processed or being processed
	IgnoredMessages     = "IgnoredMessages"     // starter: not an Object Created event of the raw bucket; acknowledged, not retried
	RetriedMessages     = "RetriedMessages"     // starter: a call failed (Step Functions throttling, S3): back to the queue
	DeferredMessages    = "DeferredMessages"    // starter: not attempted, the invocation's deadline was near: back to the queue
	FilesSucceeded      = "FilesSucceeded"      // write: a batch committed
	FilesFailed         = "FilesFailed"         // any step returning a data error; dimension sets [] and [ErrorName]
	RowsWritten         = "RowsWritten"         // write
	RowsRejected        = "RowsRejected"        // validate
	BytesProcessed      = "BytesProcessed"      // validate: bytes of the report read
	StepDuration        = "StepDuration"        // every step, dimension set [Step]
	FileAge             = "FileAge"             // validate: arrival time − 00:00 UTC of the settlement date
)

// The batch ledger's metrics, from the scheduled batches function: dimension sets [] (the aggregate the
// alarm watches: the sum of missing batches, the largest age) and [Provider, MerchantAccount].
const (
	MissingBatches      = "MissingBatches"      // batches of unacknowledged gaps past their grace period
	HoursSinceLastBatch = "HoursSinceLastBatch" // hours since the newest batch of the account arrived
	// TableFindings is the inconsistencies between settlement_lines and its manifests (dimension set []).
	TableFindings = "TableFindings"
)

// Dimension names. Their values come from small closed sets: the four steps, the error type names.
const (
	DimStep      = "Step"
	DimErrorName = "ErrorName"
	// The batches function's per-account metrics; merchant accounts are a small set chosen by the
	// business (each account's pair of metrics is billed as two custom metrics).
	DimProvider        = "Provider"
	DimMerchantAccount = "MerchantAccount"
)

// DefaultNamespace is the metrics namespace when METRICS_NAMESPACE is not set.
const DefaultNamespace = "Settle"

// Unit is a CloudWatch metric unit.
type Unit string

// The units the pipeline uses.
const (
	Count        Unit = "Count"
	Seconds      Unit = "Seconds"
	Milliseconds Unit = "Milliseconds"
	Bytes        Unit = "Bytes"
	None         Unit = "None"
)

// Limits of the Embedded Metric Format.
const (
	maxMetricsPerDirective = 100
	maxDimensionsPerSet    = 30
)

// Metrics writes CloudWatch Embedded Metric Format documents, one JSON line each, to w (standard
// output in Lambda, which CloudWatch Logs reads). A nil *Metrics drops everything.
type Metrics struct {
	w         io.Writer
	namespace string
	now       func() time.Time
	mu        sync.Mutex
}

// NewMetrics returns metrics in namespace (DefaultNamespace when empty) written to w.
func NewMetrics(w io.Writer, namespace string) *Metrics {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	return &Metrics{w: w, namespace: namespace, now: time.Now}
}

// NamespaceFromEnv is METRICS_NAMESPACE, or DefaultNamespace.
func NamespaceFromEnv(getenv func(string) string) string {
	if ns := strings.TrimSpace(getenv("METRICS_NAMESPACE")); ns != "" {
		return ns
	}
	return DefaultNamespace
}

// WithClock makes m stamp documents with now (tests).
func (m *Metrics) WithClock(now func() time.Time) *Metrics {
	if m != nil {
		m.now = now
	}
	return m
}

// Entry is one EMF document being built: metric values that share dimension sets, plus properties
// (the dimension values, and context such as the execution name, which CloudWatch keeps as log fields
// but does not turn into dimensions).
type Entry struct {
	m       *Metrics
	sets    [][]string
	metrics []metricValue
	props   []prop
}

type metricValue struct {
	name  string
	unit  Unit
	value float64
}

type prop struct {
	key   string
	value any
}

// Entry starts a document with the empty dimension set: its metrics are aggregated over everything.
func (m *Metrics) Entry() *Entry {
	if m == nil {
		return nil
	}
	return &Entry{m: m, sets: [][]string{{}}}
}

// Dimensions replaces the document's dimension sets. Every name used must get a value with Dimension.
func (e *Entry) Dimensions(sets ...[]string) *Entry {
	if e == nil {
		return nil
	}
	e.sets = sets
	return e
}

// Dimension sets a dimension's value; an empty value is reported as "unknown", since EMF needs every
// dimension of a set as a member.
func (e *Entry) Dimension(name, value string) *Entry {
	if value == "" {
		value = "unknown"
	}
	return e.Property(name, value)
}

// Property adds a member that is not a metric: a dimension value, or context for the log line.
// Empty strings are left out.
func (e *Entry) Property(key string, value any) *Entry {
	if e == nil {
		return nil
	}
	if s, ok := value.(string); ok && s == "" {
		return e
	}
	for i := range e.props {
		if e.props[i].key == key {
			e.props[i].value = value
			return e
		}
	}
	e.props = append(e.props, prop{key, value})
	return e
}

// Put adds a metric value. NaN and infinities, which JSON cannot carry, are dropped.
func (e *Entry) Put(name string, value float64, unit Unit) *Entry {
	if e == nil || math.IsNaN(value) || math.IsInf(value, 0) {
		return e
	}
	e.metrics = append(e.metrics, metricValue{name, unit, value})
	return e
}

// Emit writes the document as one line. A document without metrics writes nothing.
func (e *Entry) Emit(ctx context.Context) {
	if e == nil || len(e.metrics) == 0 {
		return
	}
	m := e.m
	var lines [][]byte
	for start := 0; start < len(e.metrics); start += maxMetricsPerDirective {
		lines = append(lines, e.encode(e.metrics[start:min(start+maxMetricsPerDirective, len(e.metrics))]))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range lines {
		_, _ = m.w.Write(l) // metrics must never fail a step
	}
}

// encode writes one EMF document: {"_aws":{"Timestamp":ms,"CloudWatchMetrics":[directive]}, metrics…, properties…}.
func (e *Entry) encode(metrics []metricValue) []byte {
	type definition struct {
		Name string `json:"Name"`
		Unit Unit   `json:"Unit,omitempty"`
	}
	type directive struct {
		Namespace  string       `json:"Namespace"`
		Dimensions [][]string   `json:"Dimensions"`
		Metrics    []definition `json:"Metrics"`
	}
	d := directive{Namespace: e.m.namespace, Dimensions: make([][]string, 0, len(e.sets))}
	for _, s := range e.sets {
		if s == nil {
			s = []string{}
		}
		d.Dimensions = append(d.Dimensions, s[:min(len(s), maxDimensionsPerSet)])
	}
	seen := map[string]bool{}
	for _, mv := range metrics {
		if !seen[mv.name] {
			seen[mv.name] = true
			d.Metrics = append(d.Metrics, definition{mv.name, mv.unit})
		}
	}
	meta, _ := json.Marshal(struct {
		Timestamp         int64       `json:"Timestamp"`
		CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
	}{e.m.now().UnixMilli(), []directive{d}})

	var b bytes.Buffer
	b.WriteString(`{"_aws":`)
	b.Write(meta)
	member := func(k string, v any) {
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(v)
		if err != nil {
			return
		}
		b.WriteByte(',')
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	// A metric put twice becomes an array of values, as EMF allows.
	values := map[string][]float64{}
	var order []string
	for _, mv := range metrics {
		if _, ok := values[mv.name]; !ok {
			order = append(order, mv.name)
		}
		values[mv.name] = append(values[mv.name], mv.value)
	}
	for _, name := range order {
		if v := values[name]; len(v) == 1 {
			member(name, v[0])
		} else {
			member(name, v)
		}
	}
	for _, p := range e.props {
		if !seen[p.key] {
			member(p.key, p.value)
		}
	}
	b.WriteString("}\n")
	return b.Bytes()
}
