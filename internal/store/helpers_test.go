package store

import (
	"crypto/md5"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"testing"
)

// The helpers of the folder bucket's own tests; the conformance suite (storetest) has its own, which
// these tests cannot import from inside the package.

func etagOf(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

func payload(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func readAll(t *testing.T, rc io.ReadCloser) []byte {
	t.Helper()
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return b
}

func mustPut(t *testing.T, b Bucket, key string, data []byte) Object {
	t.Helper()
	obj, err := b.Put(t.Context(), key, data)
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return obj
}

func keys(objs []Object) []string {
	var ks []string
	for _, o := range objs {
		ks = append(ks, o.Key)
	}
	return ks
}

// specialKey is a key as settlement files arrive: spaces, a plus, a percent escape that must stay
// literal, and non-ASCII.
const specialKey = "incoming/Settlement report +%20 ü.csv"

// writeInChunks writes data in uneven chunks, as a CSV or Parquet writer would.
func writeInChunks(t *testing.T, w io.Writer, data []byte) {
	t.Helper()
	for len(data) > 0 {
		n := min(len(data), 7919)
		if _, err := w.Write(data[:n]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		data = data[n:]
	}
}
