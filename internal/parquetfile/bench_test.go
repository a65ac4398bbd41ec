package parquetfile_test

import (
	"bytes"
	"io"
	"sync"
	"testing"

	"github.com/paysettle/settle/internal/parquetfile"
	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/table"
)

// The step benchmarks share one generated 1M-row report (about 175 MB) and its staged form.
var bench struct {
	once  sync.Once
	csv   []byte
	stage []byte
}

func benchData(b *testing.B) ([]byte, []byte) {
	bench.once.Do(func() {
		bench.csv = generate(b, 1_000_000, 1)
		var stage bytes.Buffer
		if _, err := table.Stage(bytes.NewReader(bench.csv), &stage, table.StageOptions{Source: table.Source{Provider: "adyen", Key: "k", ETag: "e"}}); err != nil {
			b.Fatal(err)
		}
		bench.stage = stage.Bytes()
	})
	return bench.csv, bench.stage
}

// BenchmarkValidateStep: parse and validate the whole report (the validate step's work). MB/s of CSV.
func BenchmarkValidateStep(b *testing.B) {
	csv, _ := benchData(b)
	b.SetBytes(int64(len(csv)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := settlement.ValidateReport(bytes.NewReader(csv), settlement.Options{}, settlement.DefaultPolicy(), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTransformStep: parse again and stage typed rows as Arrow IPC (the transform step). MB/s of CSV.
func BenchmarkTransformStep(b *testing.B) {
	csv, _ := benchData(b)
	b.SetBytes(int64(len(csv)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := table.Stage(bytes.NewReader(csv), io.Discard, table.StageOptions{Source: table.Source{Provider: "adyen", Key: "k", ETag: "e"}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteStep: read the staged rows and encode Parquet (the write step). MB/s of the original CSV.
func BenchmarkWriteStep(b *testing.B) {
	csv, stage := benchData(b)
	b.SetBytes(int64(len(csv)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := parquetfile.FromStage(bytes.NewReader(stage), io.Discard, parquetfile.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
