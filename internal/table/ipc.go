package table

import (
	"fmt"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// StageWriter writes settlement_lines record batches as an Arrow IPC stream with zstd-compressed buffers:
// the staging format between the transform and write steps. IPC keeps the typed columns as they are, so
// the next step reads them back without parsing anything.
type StageWriter struct {
	w *ipc.Writer
}

// NewStageWriter starts an IPC stream on w.
func NewStageWriter(w io.Writer, mem memory.Allocator) *StageWriter {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	return &StageWriter{w: ipc.NewWriter(w, ipc.WithSchema(Schema), ipc.WithAllocator(mem), ipc.WithZstd(), ipc.WithCompressConcurrency(2))}
}

// Write appends a record batch.
func (s *StageWriter) Write(rec arrow.RecordBatch) error {
	if err := s.w.Write(rec); err != nil {
		return fmt.Errorf("staging write: %w", err)
	}
	return nil
}

// Close ends the stream (it does not close the underlying writer).
func (s *StageWriter) Close() error {
	if err := s.w.Close(); err != nil {
		return fmt.Errorf("staging close: %w", err)
	}
	return nil
}

// StageReader reads a staging stream back.
type StageReader struct {
	r *ipc.Reader
}

// NewStageReader opens an IPC stream and checks that it holds settlement_lines.
func NewStageReader(r io.Reader, mem memory.Allocator) (*StageReader, error) {
	if mem == nil {
		mem = memory.DefaultAllocator
	}
	rd, err := ipc.NewReader(r, ipc.WithAllocator(mem))
	if err != nil {
		return nil, fmt.Errorf("staging read: %w", err)
	}
	if !rd.Schema().Equal(Schema) {
		rd.Release()
		return nil, fmt.Errorf("staging read: the staged schema is not settlement_lines: %s", rd.Schema())
	}
	return &StageReader{r: rd}, nil
}

// Next returns the next record batch, owned by the reader until the following call, or io.EOF.
func (s *StageReader) Next() (arrow.RecordBatch, error) {
	if s.r.Next() {
		return s.r.RecordBatch(), nil
	}
	if err := s.r.Err(); err != nil {
		return nil, fmt.Errorf("staging read: %w", err)
	}
	return nil, io.EOF
}

// Release frees the reader.
func (s *StageReader) Release() { s.r.Release() }
