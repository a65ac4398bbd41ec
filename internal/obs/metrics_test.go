package obs_test

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/obs"
	"github.com/paysettle/settle/internal/testkit/emftest"
)

var epoch = time.Date(2024, 5, 7, 9, 0, 0, 0, time.UTC)

func TestMetricsAreEMF(t *testing.T) {
	var buf bytes.Buffer
	m := obs.NewMetrics(&buf, "SettleTest").WithClock(func() time.Time { return epoch })
	ctx := t.Context()
	m.Entry().Put(obs.FilesStarted, 1, obs.Count).Property("outcome", "started").Property("execution", "abc").Emit(ctx)
	m.Entry().Dimensions([]string{obs.DimStep}).Dimension(obs.DimStep, "Validate").Put(obs.StepDuration, 12.5, obs.Milliseconds).Emit(ctx)
	m.Entry().Dimensions([]string{}, []string{obs.DimErrorName}).Dimension(obs.DimErrorName, "ValidationError").Put(obs.FilesFailed, 1, obs.Count).Emit(ctx)
	m.Entry().Put(obs.RowsRejected, 3, obs.Count).Put(obs.BytesProcessed, 1<<20, obs.Bytes).Put(obs.FileAge, 86400*4, obs.Seconds).Emit(ctx)

	docs, err := emftest.Collect(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 4 {
		t.Fatalf("got %d documents, want 4", len(docs))
	}
	var got []string
	for _, d := range docs {
		if !d.Timestamp.Equal(epoch) {
			t.Errorf("Timestamp = %v, want %v", d.Timestamp, epoch)
		}
		for _, m := range d.Metrics() {
			got = append(got, m.String())
		}
	}
	want := "SettleTest/FilesStarted[] SettleTest/StepDuration[Step] SettleTest/FilesFailed[] SettleTest/FilesFailed[ErrorName] " +
		"SettleTest/RowsRejected[] SettleTest/BytesProcessed[] SettleTest/FileAge[]"
	if strings.Join(got, " ") != want {
		t.Errorf("metrics = %s\nwant       %s", strings.Join(got, " "), want)
	}
	if v := docs[1].Values[obs.StepDuration]; len(v) != 1 || v[0] != 12.5 {
		t.Errorf("StepDuration = %v, want [12.5]", v)
	}
	if docs[0].Members["outcome"] != "started" || docs[0].Members["execution"] != "abc" {
		t.Errorf("properties = %v", docs[0].Members)
	}
	if u := docs[3].Directives[0].Metrics[2].Unit; u != "Seconds" {
		t.Errorf("FileAge unit = %q", u)
	}
}

func TestMetricsLimits(t *testing.T) {
	var buf bytes.Buffer
	m := obs.NewMetrics(&buf, "")
	e := m.Entry()
	for i := range 150 {
		e.Put(fmt.Sprintf("M%03d", i), float64(i), obs.Count)
	}
	e.Put("Bad", math.NaN(), obs.Count).Put("Worse", math.Inf(1), obs.Count)
	sets := make([]string, 40)
	for i := range sets {
		sets[i] = fmt.Sprintf("D%02d", i)
		e.Dimension(sets[i], "x")
	}
	e.Dimensions(sets)
	e.Emit(t.Context())
	docs, err := emftest.Collect(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 || len(docs[0].Directives[0].Metrics) != 100 || len(docs[1].Directives[0].Metrics) != 50 {
		t.Fatalf("150 metrics should split 100 + 50, got %d documents", len(docs))
	}
	if n := len(docs[0].Directives[0].Dimensions[0]); n != 30 {
		t.Errorf("dimension set has %d names, want at most 30", n)
	}
	if docs[0].Directives[0].Namespace != obs.DefaultNamespace {
		t.Errorf("namespace = %q, want %q", docs[0].Directives[0].Namespace, obs.DefaultNamespace)
	}
	for _, d := range docs {
		if _, ok := d.Values["Bad"]; ok {
			t.Error("NaN was emitted")
		}
	}
}

func TestMetricsNilAndEmpty(t *testing.T) {
	var m *obs.Metrics
	m.Entry().Put("X", 1, obs.Count).Dimension("A", "b").Emit(t.Context()) // no panic
	var buf bytes.Buffer
	obs.NewMetrics(&buf, "N").Entry().Emit(t.Context())
	if buf.Len() != 0 {
		t.Errorf("an entry without metrics wrote %q", buf.String())
	}
	obs.NewMetrics(&buf, "N").Entry().Dimensions([]string{"Step"}).Dimension("Step", "").Put("X", 1, obs.Count).Emit(t.Context())
	if _, err := emftest.Collect(&buf); err != nil {
		t.Errorf("empty dimension value: %v", err)
	}
}

func TestNamespaceFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if got := obs.NamespaceFromEnv(env(nil)); got != "Settle" {
		t.Errorf("default namespace = %q", got)
	}
	if got := obs.NamespaceFromEnv(env(map[string]string{"METRICS_NAMESPACE": "Settle/prod"})); got != "Settle/prod" {
		t.Errorf("namespace = %q", got)
	}
}

// The validator must refuse what the specification forbids, or the tests that use it prove nothing.
func TestEMFValidatorRefuses(t *testing.T) {
	bad := map[string]string{
		"seconds timestamp":  `{"_aws":{"Timestamp":1715072400,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"M":1}`,
		"no timestamp":       `{"_aws":{"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"M"}]}]},"M":1}`,
		"missing dimension":  `{"_aws":{"Timestamp":1715072400000,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["Step"]],"Metrics":[{"Name":"M"}]}]},"M":1}`,
		"missing metric":     `{"_aws":{"Timestamp":1715072400000,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"M"}]}]}}`,
		"string value":       `{"_aws":{"Timestamp":1715072400000,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"M"}]}]},"M":"1"}`,
		"bad unit":           `{"_aws":{"Timestamp":1715072400000,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"M","Unit":"Rows"}]}]},"M":1}`,
		"dimensions flat":    `{"_aws":{"Timestamp":1715072400000,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":["Step"],"Metrics":[{"Name":"M"}]}]},"M":1,"Step":"a"}`,
		"numeric dimension":  `{"_aws":{"Timestamp":1715072400000,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["Step"]],"Metrics":[{"Name":"M"}]}]},"M":1,"Step":1}`,
		"trailing data":      `{"_aws":{"Timestamp":1715072400000,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"M"}]}]},"M":1} x`,
		"no namespace":       `{"_aws":{"Timestamp":1715072400000,"CloudWatchMetrics":[{"Dimensions":[[]],"Metrics":[{"Name":"M"}]}]},"M":1}`,
		"empty metrics list": `{"_aws":{"Timestamp":1715072400000,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[]}]}}`,
	}
	for name, line := range bad {
		if _, err := emftest.Parse([]byte(line)); err == nil {
			t.Errorf("%s: accepted %s", name, line)
		}
	}
	good := `{"_aws":{"Timestamp":1715072400000,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[],["Step"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"M":[1,2],"Step":"Check"}`
	if _, err := emftest.Parse([]byte(good)); err != nil {
		t.Errorf("refused a valid document: %v", err)
	}
}
