package icetable

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/store/s3store"
	"github.com/paysettle/settle/internal/testkit/motoserver"
)

var motoBuckets atomic.Int64

// motoBucket is a fresh bucket of moto's S3, which enforces If-None-Match as S3 does (gofakes3 does not:
// the table's compare-and-swap is proven on S3 only here).
func motoBucket(t testing.TB, srv *motoserver.Server) store.Bucket {
	t.Helper()
	client := s3.NewFromConfig(srv.Config(), func(o *s3.Options) { o.UsePathStyle = true })
	name := fmt.Sprintf("processed-%d", motoBuckets.Add(1))
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	return s3store.New(client, name)
}

// TestCommittersOnMotoS3: ten committers commit their own batches and one shared batch to a table in
// moto's S3 at once: every batch is in the table once, the shared one added by exactly one of them.
func TestCommittersOnMotoS3(t *testing.T) {
	srv := motoserver.Start(t)
	b := motoBucket(t, srv)
	tab := openTest(b)
	if tab.Home.Location != "s3://"+b.Name()+"/"+TablePrefix {
		t.Fatalf("location %s", tab.Home.Location)
	}
	const committers = 10
	var wg sync.WaitGroup
	var added atomic.Int64
	var lost atomic.Int64
	for i := range committers {
		wg.Go(func() {
			for _, n := range []int64{1, int64(100 + i)} {
				out, err := tab.Commit(context.Background(), wants(benchVersion(n)))
				if err != nil {
					t.Error(err)
					return
				}
				lost.Add(int64(out.LostSwaps))
				if n == 1 && out.Action == "added" {
					added.Add(1)
				}
			}
		})
	}
	wg.Wait()
	st, err := tab.State(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Batches) != committers+1 || len(st.Files) != committers+1 || st.Version != committers+2 || added.Load() != 1 {
		t.Fatalf("%d batches, %d files, version %d, the shared batch added %d times", len(st.Batches), len(st.Files), st.Version, added.Load())
	}
	if n := snapshotsAdding(t, tab, benchVersion(1).File); n != 1 {
		t.Errorf("%d snapshots added the shared batch", n)
	}
	t.Logf("%d committers on moto's S3: %d commits, %d lost swaps", committers, st.Version-1, lost.Load())
}

// BenchmarkCommit10CommittersMoto is BenchmarkCommit10Committers against moto's S3.
func BenchmarkCommit10CommittersMoto(b *testing.B) {
	srv := motoserver.Start(b)
	benchCommitters(b, Open(motoBucket(b, srv)))
}

// BenchmarkCommit10CommittersS3TablesMoto is BenchmarkCommit10Committers against moto's S3 Tables (the
// stack's catalog) and its warehouse bucket.
func BenchmarkCommit10CommittersS3TablesMoto(b *testing.B) {
	srv := motoserver.Start(b)
	benchCommitters(b, In(motoS3Table(b, srv)()))
}
