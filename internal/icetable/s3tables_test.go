package icetable

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3tables"

	"github.com/paysettle/settle/internal/cloud"
	"github.com/paysettle/settle/internal/testkit/motoserver"
	"github.com/paysettle/settle/internal/workflow"
)

var motoTables atomic.Int64

// motoS3Table creates a table bucket, the namespace and an empty table in moto's S3 Tables, which
// refuses an UpdateTableMetadataLocation with a stale version token as S3 Tables does; it returns a
// function opening the table as a fresh committer would (its own clients, its own GetTableMetadataLocation).
func motoS3Table(t testing.TB, srv *motoserver.Server) func() workflow.TableHome {
	t.Helper()
	ctx := t.Context()
	client := s3tables.NewFromConfig(srv.Config())
	b, err := client.CreateTableBucket(ctx, &s3tables.CreateTableBucketInput{Name: aws.String(fmt.Sprintf("settle-tables-%d", motoTables.Add(1)))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateNamespace(ctx, &s3tables.CreateNamespaceInput{TableBucketARN: b.Arn, Namespace: []string{cloud.DefaultTableNamespace}}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateTable(ctx, &s3tables.CreateTableInput{TableBucketARN: b.Arn, Namespace: aws.String(cloud.DefaultTableNamespace),
		Name: aws.String(cloud.DefaultTableName), Format: "ICEBERG"}); err != nil {
		t.Fatal(err)
	}
	return func() workflow.TableHome {
		cfg := srv.Config()
		home, err := cloud.S3TablesHome(context.Background(), s3tables.NewFromConfig(cfg), s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }),
			aws.ToString(b.Arn), cloud.DefaultTableNamespace, cloud.DefaultTableName)
		if err != nil {
			t.Fatal(err)
		}
		return home
	}
}

// TestCommittersOnS3TablesMoto: eight committers, each with its own clients, commit a shared batch and
// four of their own to one S3 Tables table at once: every batch is in the table once, the shared one
// added by exactly one of them, and S3 Tables names the metadata the last commit wrote.
func TestCommittersOnS3TablesMoto(t *testing.T) {
	srv := motoserver.Start(t)
	open := motoS3Table(t, srv)
	// The staged Parquet the write step publishes from: another bucket, so the files are streamed in.
	staged := motoBucket(t, srv)
	const committers = 8
	var wg sync.WaitGroup
	var added, lost atomic.Int64
	for i := range committers {
		wg.Go(func() {
			tab := &Table{Home: open(), Wait: noWait}
			for _, n := range []int64{1, int64(100 + 10*i + 1), int64(100 + 10*i + 2), int64(100 + 10*i + 3), int64(100 + 10*i + 4)} {
				v := benchVersion(n)
				src := "staging/" + strconv.Itoa(i) + "/" + v.File
				if _, err := staged.Put(context.Background(), src, []byte("parquet of batch "+strconv.FormatInt(n, 10))); err != nil {
					t.Error(err)
					return
				}
				if err := tab.Publish(context.Background(), staged, src, "", v.File); err != nil {
					t.Error(err)
					return
				}
				out, err := tab.Commit(context.Background(), wants(v))
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
	home := open()
	tab := In(home)
	st, err := tab.State(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := 1 + 4*committers
	if len(st.Batches) != want || len(st.Files) != want || st.Version != want+1 || added.Load() != 1 {
		t.Fatalf("%d batches, %d files, version %d, the shared batch added %d times; want %d, %d, %d, once",
			len(st.Batches), len(st.Files), st.Version, added.Load(), want, want, want+1)
	}
	if n := snapshotsAdding(t, tab, benchVersion(1).File); n != 1 {
		t.Errorf("%d snapshots added the shared batch", n)
	}
	for _, f := range st.Files {
		if ok, err := tab.HasFile(t.Context(), f); !ok || err != nil {
			t.Errorf("the table reads %s, which is not in its warehouse (%v)", f, err)
		}
	}
	t.Logf("%d committers on moto's S3 Tables: %d commits, %d lost swaps", committers, st.Version-1, lost.Load())
}

// A swap built on a version token another commit has moved on from is refused by S3 Tables, and the
// table stays as that commit made it.
func TestS3TablesRefusesAStaleToken(t *testing.T) {
	srv := motoserver.Start(t)
	home := motoS3Table(t, srv)()
	cat := home.Catalog
	cur, err := cat.Load(t.Context())
	if err != nil || cur.Version != 0 || cur.Token == "" {
		t.Fatalf("a new table: %+v, %v", cur, err)
	}
	first, err := cat.Swap(t.Context(), cur, []byte(`{"first":true}`))
	if err != nil || first.Version != 1 {
		t.Fatalf("first swap: %+v, %v", first, err)
	}
	if _, err := cat.Swap(t.Context(), cur, []byte(`{"second":true}`)); !errors.Is(err, workflow.ErrLostSwap) {
		t.Fatalf("a swap on the stale token answered %v, want ErrLostSwap", err)
	}
	now, err := cat.Load(t.Context())
	if err != nil || now.Key != first.Key || now.Version != 1 {
		t.Fatalf("after the refused swap the table names %+v (%v), want %+v", now, err, first)
	}
}

// dyingCatalog is a catalog in the committer of a dying bucket: its calls count towards the death, and
// a swap can land with the committer dead before it hears so.
type dyingCatalog struct {
	workflow.TableCatalog
	d *dying
}

func (c dyingCatalog) Load(ctx context.Context) (workflow.TablePointer, error) {
	if err := c.d.call(); err != nil {
		return workflow.TablePointer{}, err
	}
	return c.TableCatalog.Load(ctx)
}

func (c dyingCatalog) Swap(ctx context.Context, cur workflow.TablePointer, metadata []byte) (workflow.TablePointer, error) {
	if err := c.d.call(); err != nil {
		return cur, err
	}
	next, err := c.TableCatalog.Swap(ctx, cur, metadata)
	if err == nil {
		err = c.d.call() // the swap landed; did the committer live to hear it?
	}
	return next, err
}

// A commit to S3 Tables that dies at any of its calls (reads, the metadata's write, the swap, right after
// the swap), then runs again, leaves the table holding the version once: a first commit, and a replace.
func TestS3TablesCrashAtEveryCallConverges(t *testing.T) {
	srv := motoserver.Start(t)
	v1 := benchVersion(3)
	v2 := benchVersion(3)
	v2.File, v2.SourceETag, v2.Revision = workflow.TableFile(v2.SettlementDate, v2.MerchantAccount, 3, "second"), "second", 1
	for _, replace := range []bool{false, true} {
		t.Run(fmt.Sprintf("replace=%v", replace), func(t *testing.T) {
			setup := func() workflow.TableHome {
				home := motoS3Table(t, srv)()
				if replace {
					if _, err := (&Table{Home: home, Wait: noWait}).Commit(t.Context(), wants(v1)); err != nil {
						t.Fatal(err)
					}
				}
				return home
			}
			want := v1
			if replace {
				want = v2
			}
			// dyingHome is home whose committer dies after n calls: to the warehouse and to S3 Tables.
			dyingHome := func(home workflow.TableHome, n int) (workflow.TableHome, *dying) {
				d := &dying{Bucket: home.Bucket, n: n}
				cat := *home.Catalog.(*cloud.S3Tables)
				cat.Warehouse = d
				home.Bucket, home.Catalog = d, dyingCatalog{&cat, d}
				return home, d
			}
			calls := crashAtEveryCall(t, setup, dyingHome, want, false)
			t.Logf("a crash at each of %d calls to S3 Tables and its warehouse converges", calls)
		})
	}
}
