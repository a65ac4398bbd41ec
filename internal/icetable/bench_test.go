package icetable

import (
	"context"
	"crypto/md5"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/workflow"
)

func benchVersion(batch int64) *workflow.TableVersion {
	// ETags and execution names as long as real ones (32 hex digits), and an arrival: the index entry
	// and the summary the size of the pipeline's.
	etag := fmt.Sprintf("%x", md5.Sum([]byte(strconv.FormatInt(batch, 10))))
	file := workflow.TableFile("2024-05-03", "AcmeShopNL", batch, fmt.Sprintf("%x", md5.Sum([]byte(etag))))
	return &workflow.TableVersion{Provider: "adyen", MerchantAccount: "AcmeShopNL", Batch: batch, SettlementDate: "2024-05-03",
		File: file, Rows: 2000, Bytes: 150_000, Source: "s3://settle-prod-raw-123456789012/incoming/settlement_detail_report_batch_" + strconv.FormatInt(batch, 10) + ".csv",
		SourceETag: etag, Execution: etag, Arrived: time.Date(2024, 5, 3, 9, 0, 0, 123456789, time.UTC).Add(time.Duration(batch) * time.Hour)}
}

func quantile(d []time.Duration, q float64) time.Duration {
	slices.Sort(d)
	return d[min(len(d)-1, int(q*float64(len(d))))]
}

// BenchmarkCommit10Committers: ten committers commit distinct batches to one table folder at once; each
// commit's latency includes the swaps it lost. Reports p50/p99 per commit and commits per second.
func BenchmarkCommit10Committers(b *testing.B) {
	d, err := store.NewDir("processed", b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	benchCommitters(b, Open(d))
}

func benchCommitters(b *testing.B, tab *Table) {
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	lost := 0
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				t0 := time.Now()
				out, err := tab.Commit(context.Background(), wants(benchVersion(n)))
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				lat = append(lat, time.Since(t0))
				lost += out.LostSwaps
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(quantile(lat, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(quantile(lat, 0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "commits/s")
	b.ReportMetric(float64(lost)/float64(b.N), "lost-swaps/commit")
}

// BenchmarkTableGrowth commits SETTLE_BENCH_BATCHES batches (default 1000) one after another, with
// maintenance every 100 commits (expiring all but the last 100 snapshots) or without, and reports the
// metadata's size and the mean commit time of the last 100 commits.
func BenchmarkTableGrowth(b *testing.B) {
	batches := 1000
	if v, err := strconv.Atoi(os.Getenv("SETTLE_BENCH_BATCHES")); err == nil && v > 100 {
		batches = v
	}
	for _, maintained := range []bool{false, true} {
		b.Run(fmt.Sprintf("batches=%d/maintained=%v", batches, maintained), func(b *testing.B) {
			for range b.N {
				d, err := store.NewDir("processed", b.TempDir(), store.WithoutSync())
				if err != nil {
					b.Fatal(err)
				}
				tab := Open(d)
				var last time.Duration
				for n := 1; n <= batches; n++ {
					t0 := time.Now()
					if _, err := tab.Commit(context.Background(), wants(benchVersion(int64(n)))); err != nil {
						b.Fatal(err)
					}
					if n > batches-100 {
						last += time.Since(t0)
					}
					if maintained && n%100 == 0 {
						tbl, _, err := tab.Current(context.Background())
						if err != nil {
							b.Fatal(err)
						}
						// Keep the last 100 snapshots: the retention an hour of commits at this rate.
						keep := time.Since(time.UnixMilli(tbl.Metadata().Snapshots()[max(0, len(tbl.Metadata().Snapshots())-100)].TimestampMs))
						if _, err := tab.Maintain(context.Background(), keep, 365*24*time.Hour, false); err != nil {
							b.Fatal(err)
						}
					}
				}
				_, v, err := tab.Current(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				obj, err := d.Head(context.Background(), workflow.TableKey(metadataFile(v)))
				if err != nil {
					b.Fatal(err)
				}
				mans, err := d.List(context.Background(), TablePrefix+"/metadata/")
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(obj.Size)/1024, "metadata-KiB")
				b.ReportMetric(float64(len(mans)), "metadata-files")
				b.ReportMetric(float64(last.Microseconds())/100/1000, "last100-commit-ms")
			}
		})
	}
}
