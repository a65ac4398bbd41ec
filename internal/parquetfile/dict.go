package parquetfile

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
)

// dictChunk is a dictionary column's part of the row group being filled: the row group's dictionary, in
// order of first appearance, and an index per row. The builder made each record batch's column a
// dictionary of its few distinct values; add maps those onto the row group's dictionary, a lookup per
// distinct value and an array index per row, where pqarrow would hash every row's value again. The
// dictionary and the indices are handed to the column writer as they are when the row group ends.
//
// The dictionary, and so the file, does not depend on how the rows were batched: a value enters it when
// a row of the row group first holds it.
type dictChunk struct {
	kind     arrow.Type // STRING, INT64 (the batch number, and fees as unscaled decimals) or DECIMAL128
	nullable bool

	offsets []int32 // STRING values
	data    []byte
	strs    map[string]int32
	ints    []int64 // INT64 values
	intIdx  map[int64]int32
	decs    []byte // DECIMAL128 values, 16 bytes each, big-endian as in Parquet
	decIdx  map[decimal128.Num]int32

	indices []int32 // one per row, 0 for a null
	valid   []byte  // validity bits of the indices, when nullable
	defs    []int16 // definition levels, when nullable
	nulls   int

	remap []int32 // a batch's dictionary index → the row group's, -1 until a row holds it
}

// newDictChunk returns the chunk of a dictionary column whose values are of kind (the dictionary's
// value type).
func newDictChunk(kind arrow.Type, nullable bool) *dictChunk {
	d := &dictChunk{kind: kind, nullable: nullable}
	d.reset()
	return d
}

// len is the number of distinct values.
func (d *dictChunk) len() int {
	switch d.kind {
	case arrow.STRING:
		return len(d.offsets) - 1
	case arrow.DECIMAL128:
		return len(d.decs) / decimalBytes
	}
	return len(d.ints)
}

// decimalBytes is the width of a DECIMAL(38,_) in Parquet, a FIXED_LEN_BYTE_ARRAY.
const decimalBytes = 16

// dictBytes is the dictionary's size as a PLAIN-encoded dictionary page.
func (d *dictChunk) dictBytes() int {
	switch d.kind {
	case arrow.STRING:
		return len(d.data) + 4*d.len()
	case arrow.DECIMAL128:
		return len(d.decs)
	}
	return 8 * len(d.ints)
}

// insert adds value j of a batch's dictionary to the row group's and returns its index there.
func (d *dictChunk) insert(dict arrow.Array, j int) int32 {
	switch v := dict.(type) {
	case *array.String:
		o := v.ValueOffsets()
		b := v.ValueBytes()[o[j]:o[j+1]]
		if i, ok := d.strs[string(b)]; ok {
			return i
		}
		i := int32(d.len())
		d.data = append(d.data, b...)
		d.offsets = append(d.offsets, int32(len(d.data)))
		d.strs[string(b)] = i
		return i
	case *array.Int64:
		return d.insertInt(v.Value(j))
	case *array.Decimal64:
		return d.insertInt(int64(v.Value(j)))
	case *array.Decimal128:
		x := v.Value(j)
		if i, ok := d.decIdx[x]; ok {
			return i
		}
		i := int32(d.len())
		d.decs = binary.BigEndian.AppendUint64(d.decs, uint64(x.HighBits()))
		d.decs = binary.BigEndian.AppendUint64(d.decs, x.LowBits())
		d.decIdx[x] = i
		return i
	}
	panic(fmt.Sprintf("parquetfile: no dictionary of %s", dict.DataType()))
}

func (d *dictChunk) insertInt(x int64) int32 {
	if i, ok := d.intIdx[x]; ok {
		return i
	}
	i := int32(len(d.ints))
	d.ints = append(d.ints, x)
	d.intIdx[x] = i
	return i
}

// add appends the rows of a batch's dictionary column.
func (d *dictChunk) add(col *array.Dictionary) {
	dict := col.Dictionary()
	d.remap = d.remap[:0]
	for range dict.Len() {
		d.remap = append(d.remap, -1)
	}
	n, start, nulls := col.Len(), len(d.indices), col.NullN()
	bits, off := col.NullBitmapBytes(), col.Data().Offset()
	switch idx := col.Indices().(type) {
	case *array.Int8: // a one-value column
		d.indices = appendIndices(d, dict, idx.Int8Values(), bits, off, nulls)
	case *array.Int32:
		d.indices = appendIndices(d, dict, idx.Int32Values(), bits, off, nulls)
	default:
		panic(fmt.Sprintf("parquetfile: dictionary indices of %s", idx.DataType()))
	}
	if !d.nullable {
		if nulls > 0 {
			panic("parquetfile: a null in a required dictionary column")
		}
		return
	}
	d.valid = slices.Grow(d.valid, int(bitutil.BytesForBits(int64(start+n)))-len(d.valid))
	d.valid = d.valid[:bitutil.BytesForBits(int64(start+n))]
	d.defs = slices.Grow(d.defs, n)
	if nulls == 0 {
		bitutil.SetBitsTo(d.valid, int64(start), int64(n), true)
		for range n {
			d.defs = append(d.defs, 1)
		}
		return
	}
	bitutil.CopyBitmap(bits, off, n, d.valid, start)
	for r := off; r < off+n; r++ {
		d.defs = append(d.defs, int16(bits[r>>3]>>(r&7)&1))
	}
	d.nulls += nulls
}

// appendIndices appends the row group's index of each of a batch's rows, given by values, indices into
// the batch's dictionary dict, and the batch's validity bits (when it has nulls).
func appendIndices[T int8 | int32](d *dictChunk, dict arrow.Array, values []T, bits []byte, off, nulls int) []int32 {
	out := d.indices
	for r, j := range values {
		if nulls > 0 && bits[(off+r)>>3]>>((off+r)&7)&1 == 0 {
			out = append(out, 0)
			continue
		}
		i := d.remap[j]
		if i < 0 {
			i = d.insert(dict, int(j))
			d.remap[j] = i
		}
		out = append(out, i)
	}
	return out
}

// dictEncoder is what the column writer's dictionary encoder offers to seed it with a whole dictionary.
type dictEncoder interface {
	PutDictionary(arrow.Array) error
	NumEntries() int
}

// write encodes the row group's column into cw and resets for the next row group: the dictionary as
// the encoder's, the indices as they are, the statistics from the dictionary (every value of it is
// held by a row), and the data page compressed here, on the calling worker. A dictionary over the
// writer's dictionary page limit is written as plain values instead, as the column writer itself would.
func (d *dictChunk) write(cw file.ColumnChunkWriter) error {
	defer d.reset()
	rows := len(d.indices)
	if rows == 0 {
		return nil
	}
	var defs []int16
	if d.nullable {
		defs = d.defs
	}
	if int64(d.dictBytes()) >= cw.Properties().DictionaryPageSizeLimit() {
		return d.writePlain(cw, defs)
	}
	var data arrow.ArrayData
	switch d.kind {
	case arrow.STRING:
		data = array.NewData(arrow.BinaryTypes.String, d.len(), []*memory.Buffer{nil,
			memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(d.offsets)), memory.NewBufferBytes(d.data)}, nil, 0, 0)
	case arrow.DECIMAL128:
		data = array.NewData(&arrow.FixedSizeBinaryType{ByteWidth: decimalBytes}, d.len(), []*memory.Buffer{nil,
			memory.NewBufferBytes(d.decs)}, nil, 0, 0)
	default:
		data = array.NewData(arrow.PrimitiveTypes.Int64, d.len(), []*memory.Buffer{nil,
			memory.NewBufferBytes(arrow.Int64Traits.CastToBytes(d.ints))}, nil, 0, 0)
	}
	dict := array.MakeFromData(data)
	data.Release()
	defer dict.Release()
	enc, ok := cw.CurrentEncoder().(dictEncoder)
	if !ok {
		return fmt.Errorf("column writer encodes with %T, not a dictionary", cw.CurrentEncoder())
	}
	if err := enc.PutDictionary(dict); err != nil {
		return err
	}
	if enc.NumEntries() != dict.Len() {
		return fmt.Errorf("dictionary of %d values has %d distinct ones", dict.Len(), enc.NumEntries())
	}
	if err := d.updateStats(cw.PageStatistics(), dict); err != nil {
		return err
	}
	var valid *memory.Buffer
	if d.nulls > 0 {
		valid = memory.NewBufferBytes(d.valid)
	}
	data = array.NewData(arrow.PrimitiveTypes.Int32, rows, []*memory.Buffer{valid,
		memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(d.indices))}, nil, d.nulls, 0)
	indices := array.MakeFromData(data)
	data.Release()
	defer indices.Release()
	if err := cw.WriteDictIndices(indices, defs, nil); err != nil {
		return err
	}
	f, ok := cw.(interface{ FlushCurrentPage() error })
	if !ok {
		return fmt.Errorf("parquetfile: the column writer %T cannot flush its page", cw)
	}
	return f.FlushCurrentPage()
}

// updateStats sets the page statistics (nil when the column has none) from the dictionary: the same
// minimum and maximum as the rows', and the counts of the rows.
func (d *dictChunk) updateStats(stats metadata.TypedStatistics, dict arrow.Array) error {
	values := int64(len(d.indices) - d.nulls)
	switch s := stats.(type) {
	case nil:
		return nil
	case *metadata.ByteArrayStatistics:
		vals := make([]parquet.ByteArray, d.len())
		for i := range vals {
			vals[i] = d.data[d.offsets[i]:d.offsets[i+1]]
		}
		s.Update(vals, int64(d.nulls))
	case *metadata.Int64Statistics:
		s.Update(d.ints, int64(d.nulls))
	case *metadata.FixedLenByteArrayStatistics:
		s.Update(d.decimals(), int64(d.nulls))
	default:
		return fmt.Errorf("statistics of %T", stats)
	}
	stats.IncNumValues(values - int64(dict.Len()))
	return nil
}

// writePlain writes the column as plain values, when the dictionary is too large.
func (d *dictChunk) writePlain(cw file.ColumnChunkWriter, defs []int16) error {
	cw.FallbackToPlain()
	n := len(d.indices) - d.nulls
	var err error
	switch w := cw.(type) {
	case *file.ByteArrayColumnChunkWriter:
		vals := make([]parquet.ByteArray, 0, n)
		for r, i := range d.indices {
			if !d.nullable || bitutil.BitIsSet(d.valid, r) {
				vals = append(vals, d.data[d.offsets[i]:d.offsets[i+1]])
			}
		}
		_, err = w.WriteBatch(vals, defs, nil)
	case *file.Int64ColumnChunkWriter:
		vals := make([]int64, 0, n)
		for r, i := range d.indices {
			if !d.nullable || bitutil.BitIsSet(d.valid, r) {
				vals = append(vals, d.ints[i])
			}
		}
		_, err = w.WriteBatch(vals, defs, nil)
	case *file.FixedLenByteArrayColumnChunkWriter:
		decs := d.decimals()
		vals := make([]parquet.FixedLenByteArray, 0, n)
		for r, i := range d.indices {
			if !d.nullable || bitutil.BitIsSet(d.valid, r) {
				vals = append(vals, decs[i])
			}
		}
		_, err = w.WriteBatch(vals, defs, nil)
	default:
		err = fmt.Errorf("a dictionary column needs a BYTE_ARRAY, INT64 or FIXED_LEN_BYTE_ARRAY column writer, not %T", cw)
	}
	return err
}

// reset empties the chunk for the next row group. The dictionary's buffers went to the column writer's
// encoder, which keeps them until the row group is written: they are not reused.
func (d *dictChunk) reset() {
	switch d.kind {
	case arrow.STRING:
		d.offsets, d.data = []int32{0}, nil
		d.strs = make(map[string]int32)
	case arrow.DECIMAL128:
		d.decs = nil
		d.decIdx = make(map[decimal128.Num]int32)
	default:
		d.ints = nil
		d.intIdx = make(map[int64]int32)
	}
	d.indices, d.valid, d.defs, d.nulls = d.indices[:0], d.valid[:0], d.defs[:0], 0
}

// decimals are the DECIMAL128 values as Parquet byte arrays.
func (d *dictChunk) decimals() []parquet.FixedLenByteArray {
	out := make([]parquet.FixedLenByteArray, d.len())
	for i := range out {
		out[i] = d.decs[i*decimalBytes : (i+1)*decimalBytes]
	}
	return out
}
