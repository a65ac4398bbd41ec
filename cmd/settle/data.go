package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/obs"
	"github.com/paysettle/settle/internal/parquetfile"
	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/store"
)

func cmdGen(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	rows := fs.Int("rows", 1000, "data rows, payouts included")
	seed := fs.Uint64("seed", 1, "random seed: the same seed writes the same bytes")
	out := fs.String("o", "", "output file (default: standard output)")
	merchant := fs.String("merchant", "", "merchant account")
	batch := fs.Int64("batch", 0, "batch number")
	date := fs.String("date", "", "settlement date, YYYY-MM-DD")
	batches := fs.String("batches", "", "a history: one report per batch number of this sequence (1-7,9-20), one a day from --date, into the folder -o")
	merchants := fs.Int("merchants", 1, "with --batches: this many merchant accounts, each with the whole sequence")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	if *rows < 1 {
		return usageError("gen: --rows must be at least 1")
	}
	if *batches != "" {
		return genHistory(*batches, *merchants, *merchant, *date, *rows, *seed, *out)
	}
	w := stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	sum, err := gen.Write(w, gen.Config{Rows: *rows, Seed: *seed, Merchant: *merchant, Batch: *batch, SettlementDate: *date})
	if err != nil {
		return usageError("gen: %v", err)
	}
	if *out != "" {
		fmt.Fprintf(os.Stderr, "wrote %s: %d rows, %d bytes, settlement date %s\n", *out, sum.Rows, sum.Bytes, sum.SettlementDate)
	}
	return nil
}

func cmdDump(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return usageError("dump: name one Parquet file")
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriter(stdout)
	defer bw.Flush()
	return parquetfile.Dump(f, nil, func(line []byte) error {
		bw.Write(line)
		return bw.WriteByte('\n')
	})
}

func cmdZones(stdout io.Writer) error {
	zones := map[string]int{}
	if z := os.Getenv("SETTLE_TIMEZONES"); z != "" {
		var err error
		if zones, err = settlement.ParseZones(z); err != nil {
			return usageError("SETTLE_TIMEZONES: %v", err)
		}
	}
	fmt.Fprintln(stdout, strings.Join(settlement.ZoneTable(zones), "\n"))
	return nil
}

// newLogger logs JSON to stderr when SETTLE_VERBOSE is set, and nothing otherwise.
func newLogger(stderr io.Writer) *slog.Logger {
	if os.Getenv("SETTLE_VERBOSE") == "" {
		return obs.Discard()
	}
	return obs.NewLogger(stderr, slog.LevelDebug)
}

// newMetrics prints the Embedded Metric Format lines the functions would send to CloudWatch, among the
// JSON logs, when SETTLE_VERBOSE is set.
func newMetrics(stderr io.Writer) *obs.Metrics {
	if os.Getenv("SETTLE_VERBOSE") == "" {
		return nil
	}
	return obs.NewMetrics(stderr, obs.NamespaceFromEnv(os.Getenv))
}

// newProgress decorates the raw bucket so that reading a large file shows how far it got.
func newProgress(stderr io.Writer) func(store.Bucket) store.Bucket {
	return func(b store.Bucket) store.Bucket { return &progressBucket{Bucket: b, w: stderr} }
}

type progressBucket struct {
	store.Bucket
	w  io.Writer
	mu sync.Mutex
}

func (p *progressBucket) Open(ctx context.Context, key, ifMatch string) (io.ReadCloser, error) {
	rc, err := p.Bucket.Open(ctx, key, ifMatch)
	if err != nil {
		return nil, err
	}
	obj, err := p.Bucket.Head(ctx, key)
	if err != nil || obj.Size < 8<<20 {
		return rc, nil
	}
	return &progressReader{ReadCloser: rc, p: p, key: key, size: obj.Size}, nil
}

type progressReader struct {
	io.ReadCloser
	p         *progressBucket
	key       string
	size, n   int64
	lastShown int64
}

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.ReadCloser.Read(b)
	r.n += int64(n)
	if pct := r.n * 100 / r.size; pct != r.lastShown {
		r.lastShown = pct
		r.p.mu.Lock()
		fmt.Fprintf(r.p.w, "\r  reading %s %3d%% of %d MB ", r.key, pct, r.size>>20)
		r.p.mu.Unlock()
	}
	return n, err
}

func (r *progressReader) Close() error {
	r.p.mu.Lock()
	fmt.Fprintf(r.p.w, "\r%s\r", strings.Repeat(" ", 60+len(r.key)))
	r.p.mu.Unlock()
	return r.ReadCloser.Close()
}

// genHistory writes a history of batches into the folder dir: one report per merchant account and
// batch number, named <merchant>_batch_<n>.csv.
func genHistory(seq string, merchants int, merchant, start string, rows int, seed uint64, dir string) error {
	if dir == "" {
		return usageError("gen --batches: name the folder to write the reports to with -o")
	}
	numbers, err := gen.ParseSequence(seq)
	if err != nil {
		return usageError("gen: %v", err)
	}
	if merchants < 1 {
		return usageError("gen: --merchants must be at least 1")
	}
	plan, err := gen.History(gen.HistoryConfig{Merchants: merchants, Merchant: merchant, Batches: numbers, Start: start, Seed: seed})
	if err != nil {
		return usageError("gen: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, p := range plan {
		f, err := os.Create(filepath.Join(dir, p.FileName()))
		if err != nil {
			return err
		}
		_, err = gen.Write(f, gen.Config{Rows: rows, Seed: seed + uint64(p.Batch), Merchant: p.Merchant, Batch: p.Batch, SettlementDate: p.SettlementDate})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("gen %s: %w", p.FileName(), err)
		}
	}
	fmt.Fprintf(os.Stderr, "wrote %d reports to %s: %d merchant accounts, batches %s\n", len(plan), dir, merchants, seq)
	return nil
}
