package store_test

import (
	"testing"

	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/testkit/storetest"
)

func newDir(t *testing.T) store.Bucket {
	t.Helper()
	d, err := store.NewDir("raw", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDirConformance(t *testing.T) {
	storetest.Run(t, storetest.Conformance{
		NewBucket:          func(t *testing.T) store.Bucket { return newDir(t) },
		CommitETagIsStored: true,
		Conditional:        true,
	})
}

// TestDirWithoutSyncConformance: a bucket without fsync behaves the same for every reader.
func TestDirWithoutSyncConformance(t *testing.T) {
	storetest.Run(t, storetest.Conformance{
		NewBucket: func(t *testing.T) store.Bucket {
			d, err := store.NewDir("raw", t.TempDir(), store.WithoutSync())
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
		CommitETagIsStored: true,
		Conditional:        true,
	})
}
