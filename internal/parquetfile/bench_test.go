package parquetfile_test

import (
	"bytes"
	"io"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/paysettle/settle/internal/parquetfile"
	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/table"
)

// The step benchmarks share one generated 1M-row report (about 175 MB).
var bench struct {
	once sync.Once
	csv  []byte
}

func benchData(b *testing.B) []byte {
	bench.once.Do(func() { bench.csv = generate(b, 1_000_000, 1) })
	return bench.csv
}

var benchJob = settlement.Job{Key: "k", ETag: "e"}

// loop runs step b.N times and reports, besides the wall time, the CPU-seconds per run: on a machine
// shared with other work the wall time drifts with the load, the CPU time much less, and it is what a
// Lambda function's bill follows at a given memory size.
func loop(b *testing.B, step func()) {
	b.ResetTimer()
	start := cpuTime(b)
	for b.Loop() {
		step()
	}
	if start >= 0 {
		b.ReportMetric((cpuTime(b)-start).Seconds()/float64(b.N), "cpu-s/op")
	}
}

// BenchmarkValidateStep: parse and validate the whole report (the validate step's work). MB/s of CSV.
func BenchmarkValidateStep(b *testing.B) {
	csv := benchData(b)
	b.SetBytes(int64(len(csv)))
	loop(b, func() {
		if _, err := settlement.ValidateReport(bytes.NewReader(csv), settlement.Options{}, settlement.DefaultPolicy(), io.Discard); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkBuildRows: parse again and build typed record batches, without encoding them (the first half
// of the transform step). MB/s of CSV.
func BenchmarkBuildRows(b *testing.B) {
	csv := benchData(b)
	b.SetBytes(int64(len(csv)))
	loop(b, func() {
		if _, err := table.Stage(bytes.NewReader(csv), discard{}, benchJob, nil); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkTransformStep: parse, build and encode Parquet (the transform step). MB/s of CSV.
func BenchmarkTransformStep(b *testing.B) {
	csv := benchData(b)
	b.SetBytes(int64(len(csv)))
	loop(b, func() {
		if _, err := parquetfile.Stage(bytes.NewReader(csv), io.Discard, benchJob); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkEncodeRows: encode record batches built beforehand as Parquet (the second half of the
// transform step), on all cores as the step does. MB/s of CSV.
func BenchmarkEncodeRows(b *testing.B) {
	csv := benchData(b)
	var batches keep
	if _, err := table.Stage(bytes.NewReader(csv), &batches, benchJob, nil); err != nil {
		b.Fatal(err)
	}
	defer batches.release()
	b.SetBytes(int64(len(csv)))
	loop(b, func() {
		pw, err := parquetfile.NewWriter(io.Discard, parquetfile.Options{})
		if err != nil {
			b.Fatal(err)
		}
		for _, rec := range batches {
			if err := pw.Write(rec); err != nil {
				b.Fatal(err)
			}
		}
		if err := pw.Close(); err != nil {
			b.Fatal(err)
		}
	})
}

// keep holds the record batches it is given.
type keep []arrow.RecordBatch

func (k *keep) Write(rec arrow.RecordBatch) error {
	rec.Retain()
	*k = append(*k, rec)
	return nil
}

func (k keep) release() {
	for _, rec := range k {
		rec.Release()
	}
}

type discard struct{}

func (discard) Write(arrow.RecordBatch) error { return nil }
