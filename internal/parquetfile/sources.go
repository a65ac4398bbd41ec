package parquetfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
)

// RangeReader reads byte ranges of an object (store.Bucket's OpenRange), so that a footer is read with
// a few ranged requests instead of the whole object.
type RangeReader interface {
	OpenRange(ctx context.Context, key, ifMatch string, offset, length int64) (io.ReadCloser, error)
}

// Sources reads a settlement_lines object's footer: its row count and the distinct source ETags its rows
// carry, from the source_etag column's statistics (every row of a file carries its source's, so each
// row group's minimum equals its maximum). The object is read at etag: a change meanwhile is an error.
func Sources(ctx context.Context, b RangeReader, key, etag string, size int64) (int64, []string, error) {
	r := &objectReader{ctx: ctx, b: b, key: key, etag: etag, size: size}
	pf, err := file.NewParquetReader(r)
	if err != nil {
		return 0, nil, fmt.Errorf("open parquet %s: %w", key, err)
	}
	defer pf.Close()
	col := pf.MetaData().Schema.ColumnIndexByName("source_etag")
	if col < 0 {
		return 0, nil, fmt.Errorf("%s has no source_etag column", key)
	}
	var sources []string
	for i := range pf.NumRowGroups() {
		md, err := pf.MetaData().RowGroup(i).ColumnChunk(col)
		if err != nil {
			return 0, nil, fmt.Errorf("%s row group %d: %w", key, i, err)
		}
		st, err := md.Statistics()
		if err != nil {
			return 0, nil, fmt.Errorf("%s row group %d: %w", key, i, err)
		}
		bs, ok := st.(*metadata.ByteArrayStatistics)
		if !ok || !bs.HasMinMax() {
			return 0, nil, fmt.Errorf("%s row group %d: source_etag has no statistics", key, i)
		}
		for _, v := range []string{string(bs.Min()), string(bs.Max())} {
			if !slices.Contains(sources, v) {
				sources = append(sources, v)
			}
		}
	}
	slices.Sort(sources)
	return pf.NumRows(), sources, nil
}

// Metadata reads the value of key in an object's footer key-value metadata (settlement.Job's Metadata),
// and whether the footer has it. The object is read at etag, when set.
func Metadata(ctx context.Context, b RangeReader, obj, etag string, size int64, key string) (string, bool, error) {
	r := &objectReader{ctx: ctx, b: b, key: obj, etag: etag, size: size}
	pf, err := file.NewParquetReader(r)
	if err != nil {
		return "", false, fmt.Errorf("open parquet %s: %w", obj, err)
	}
	defer pf.Close()
	v := pf.MetaData().KeyValueMetadata().FindValue(key)
	if v == nil {
		return "", false, nil
	}
	return *v, true, nil
}

// objectReader is an io.ReaderAt and io.Seeker over ranged reads of one object.
type objectReader struct {
	ctx       context.Context
	b         RangeReader
	key, etag string
	size, off int64
}

func (r *objectReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	rc, err := r.b.OpenRange(r.ctx, r.key, r.etag, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, p)
	if errors.Is(err, io.ErrUnexpectedEOF) && off+int64(n) == r.size {
		err = io.EOF
	}
	return n, err
}

func (r *objectReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, fmt.Errorf("seek %s: bad whence %d", r.key, whence)
	}
	if offset < 0 {
		return 0, fmt.Errorf("seek %s: negative offset", r.key)
	}
	r.off = offset
	return offset, nil
}
