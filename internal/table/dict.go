package table

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"math/bits"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/paysettle/settle/internal/money"
)

// dictIndex is what a dictionary column keeps besides its values: an index per row (0 for a null), the
// index of the last value appended (a file's rows mostly repeat their type, zone and currency), and a
// hash table from values to indices.
//
// The table is open addressing with linear probing, at most half full, of index+1 (0 is an empty slot):
// for the few hundred values of a batch a lookup is a hash, a load and a compare, a fraction of a Go
// map's. The values' order, and so the output, does not depend on the hashes.
type dictIndex struct {
	validity
	indices []int32
	last    int32 // -1 before the first value
	slots   []int32
	shift   uint // 64 - log2(len(slots)): a hash's top bits choose its first slot
	n       int  // values in the table
}

const minSlots = 64

func (d *dictIndex) init() {
	d.last = -1
	d.slots = make([]int32, minSlots)
	d.shift = 64 - uint(bits.TrailingZeros(minSlots))
}

// next starts the next batch: the indices and validity went to the batch, the table is emptied.
func (d *dictIndex) next() {
	d.validity = validity{}
	d.indices = make([]int32, 0, cap(d.indices))
	d.last = -1
	clear(d.slots)
	d.n = 0
}

// mask is the table's size less one: a probe's next slot is (p+1)&mask.
func (d *dictIndex) mask() int { return len(d.slots) - 1 }

// put places index i, of hash h, in the first empty slot from h's.
func (d *dictIndex) put(h uint64, i int32) {
	p, mask := int(h>>d.shift), d.mask()
	for d.slots[p] != 0 {
		p = (p + 1) & mask
	}
	d.slots[p] = i + 1
}

// grow doubles the table once it would be over half full, placing every index again by its hash.
func (d *dictIndex) grow(hash func(int32) uint64) {
	if 2*(d.n+1) <= len(d.slots) {
		return
	}
	d.slots = make([]int32, 2*len(d.slots))
	d.shift--
	for i := range int32(d.n) {
		d.put(hash(i), i)
	}
}

// strDict is a string column built as a dictionary of its distinct values, in order of first appearance.
// A row is first compared with the last value as bytes (an account or a zone repeats in every row); a
// value of up to 24 bytes (currencies, zones, types, payment methods and their variants, accounts) is
// also kept as three words and its length, so that looking it up is four integer compares.
type strDict struct {
	dictIndex
	offsets []int32
	data    []byte
	keys    []strKey // of each value
}

// strKey is a value's hash and, for a value of up to 24 bytes, its bytes as three little-endian words.
type strKey struct {
	a, b, c uint64
	n       int // length
	hash    uint64
}

func (k *strKey) short() bool { return k.n <= 24 }

// seed hashes dictionary strings longer than 24 bytes; it can differ between runs, since the hashes
// decide no order.
var seed = maphash.MakeSeed()

func keyOf(v []byte) strKey {
	n := len(v)
	k := strKey{n: n}
	switch {
	case n > 24:
		k.hash = maphash.Bytes(seed, v)
		return k
	case n > 16: // 8 bytes, 8 more and the last 8 (overlapping) are the value, given its length
		k.a, k.b, k.c = binary.LittleEndian.Uint64(v), binary.LittleEndian.Uint64(v[8:]), binary.LittleEndian.Uint64(v[n-8:])
	case n >= 8: // the first and the last 8 bytes (overlapping)
		k.a, k.b = binary.LittleEndian.Uint64(v), binary.LittleEndian.Uint64(v[n-8:])
	case n >= 4:
		k.a = uint64(binary.LittleEndian.Uint32(v)) | uint64(binary.LittleEndian.Uint32(v[n-4:]))<<32
	case n > 0:
		k.a = uint64(v[0]) | uint64(v[n/2])<<8 | uint64(v[n-1])<<16
	}
	k.hash = hashInt(k.a ^ bits.RotateLeft64(k.b, 21) ^ bits.RotateLeft64(k.c, 42) ^ uint64(n))
	return k
}

func newStrDict() *strDict {
	d := &strDict{offsets: []int32{0}}
	d.init()
	return d
}

func (d *strDict) value(i int32) []byte { return d.data[d.offsets[i]:d.offsets[i+1]] }

// is reports whether value i is v, of key k.
func (d *strDict) is(i int32, k *strKey, v []byte) bool {
	e := &d.keys[i]
	if k.short() {
		return e.a == k.a && e.b == k.b && e.c == k.c && e.n == k.n
	}
	return e.hash == k.hash && bytes.Equal(d.value(i), v)
}

func (d *strDict) add(row int, v []byte, ok bool) {
	d.validity.add(row, ok)
	if !ok {
		d.indices = append(d.indices, 0)
		return
	}
	if i := d.last; i >= 0 && string(d.value(i)) == string(v) {
		d.indices = append(d.indices, i)
		return
	}
	k := keyOf(v)
	i := int32(-1)
	for p, mask := int(k.hash>>d.shift), d.mask(); d.slots[p] != 0; p = (p + 1) & mask {
		if j := d.slots[p] - 1; d.is(j, &k, v) {
			i = j
			break
		}
	}
	if i < 0 {
		d.grow(func(i int32) uint64 { return d.keys[i].hash })
		i = int32(d.n)
		d.data = append(d.data, v...)
		d.offsets = append(d.offsets, int32(len(d.data)))
		d.keys = append(d.keys, k)
		d.n++
		d.put(k.hash, i)
	}
	d.last = i
	d.indices = append(d.indices, i)
}

// values returns the dictionary as Arrow data and starts the next batch.
func (d *strDict) values() arrow.ArrayData {
	data := array.NewData(arrow.BinaryTypes.String, d.n, []*memory.Buffer{nil,
		memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(d.offsets)), memory.NewBufferBytes(d.data)}, nil, 0, 0)
	d.next()
	d.offsets, d.data, d.keys = []int32{0}, nil, d.keys[:0]
	return data
}

// hashInt spreads an integer over 64 bits (Fibonacci hashing): the top bits choose the slot.
func hashInt(v uint64) uint64 { return v * 0x9e3779b97f4a7c15 }

// intDict is an int64 or Decimal64 column built as a dictionary, like strDict.
type intDict struct {
	dictIndex
	vals []int64
}

func newIntDict() *intDict {
	d := &intDict{}
	d.init()
	return d
}

func (d *intDict) add(row int, v int64, ok bool) {
	d.validity.add(row, ok)
	if !ok {
		d.indices = append(d.indices, 0)
		return
	}
	if i := d.last; i >= 0 && d.vals[i] == v {
		d.indices = append(d.indices, i)
		return
	}
	h := hashInt(uint64(v))
	i := int32(-1)
	for p, mask := int(h>>d.shift), d.mask(); d.slots[p] != 0; p = (p + 1) & mask {
		if j := d.slots[p] - 1; d.vals[j] == v {
			i = j
			break
		}
	}
	if i < 0 {
		d.grow(func(i int32) uint64 { return hashInt(uint64(d.vals[i])) })
		i = int32(d.n)
		d.vals = append(d.vals, v)
		d.n++
		d.put(h, i)
	}
	d.last = i
	d.indices = append(d.indices, i)
}

// values returns the dictionary as Arrow data of type t and starts the next batch.
func (d *intDict) values(t arrow.DataType) arrow.ArrayData {
	data := array.NewData(t, d.n, []*memory.Buffer{nil, memory.NewBufferBytes(arrow.Int64Traits.CastToBytes(d.vals))}, nil, 0, 0)
	d.next()
	d.vals = nil
	return data
}

// rateDict is the exchange rate column built as a dictionary, like strDict: a file's rates are 1 when
// no currency is converted, and a few per currency pair and day when one is.
type rateDict struct {
	dictIndex
	vals []uint64 // low, high word of each decimal128
}

func newRateDict() *rateDict {
	d := &rateDict{}
	d.init()
	return d
}

func hashRate(lo, hi uint64) uint64 { return hashInt(lo ^ bits.RotateLeft64(hi, 32)) }

func (d *rateDict) add(row int, v money.NullRate) {
	d.validity.add(row, v.Valid)
	if !v.Valid {
		d.indices = append(d.indices, 0)
		return
	}
	lo, hi := v.V.Lo, v.V.Hi
	if i := d.last; i >= 0 && d.vals[2*i] == lo && d.vals[2*i+1] == hi {
		d.indices = append(d.indices, i)
		return
	}
	h := hashRate(lo, hi)
	i := int32(-1)
	for p, mask := int(h>>d.shift), d.mask(); d.slots[p] != 0; p = (p + 1) & mask {
		if j := d.slots[p] - 1; d.vals[2*j] == lo && d.vals[2*j+1] == hi {
			i = j
			break
		}
	}
	if i < 0 {
		d.grow(func(i int32) uint64 { return hashRate(d.vals[2*i], d.vals[2*i+1]) })
		i = int32(d.n)
		d.vals = append(d.vals, lo, hi)
		d.n++
		d.put(h, i)
	}
	d.last = i
	d.indices = append(d.indices, i)
}

// values returns the dictionary as Arrow data of type t and starts the next batch.
func (d *rateDict) values(t arrow.DataType) arrow.ArrayData {
	data := array.NewData(t, d.n, []*memory.Buffer{nil, memory.NewBufferBytes(arrow.Uint64Traits.CastToBytes(d.vals))}, nil, 0, 0)
	d.next()
	d.vals = nil
	return data
}
