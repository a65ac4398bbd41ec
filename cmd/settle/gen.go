package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/paysettle/settle/internal/gen"
)

// genOptions are the flags of gen.
type genOptions struct {
	rows                int
	seed                uint64
	out, merchant, date string
	batch               int64
	batches             string
	merchants           int
}

func newGenCmd(a *app) *cobra.Command {
	var o genOptions
	cmd := &cobra.Command{
		Use:   "gen",
		Short: "Write a realistic, balanced settlement report (or a history of them)",
		Long: `Gen writes an Adyen settlement details report of any size, balanced per currency, the same bytes for
the same seed. With --batches it writes a history into the folder -o: one report per batch number of the
sequence and merchant account, one a day from --date (numbers left out never come).`,
		Example: `  settle gen --rows 1000000 --seed 1 -o big.csv
  settle gen --batches 1-7,9-20 --merchants 3 -o hist/`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error { return runGen(a, o) }),
	}
	f := cmd.Flags()
	f.IntVar(&o.rows, "rows", 1000, "data rows, payouts included")
	f.Uint64Var(&o.seed, "seed", 1, "random seed: the same seed writes the same bytes")
	f.StringVarP(&o.out, "output", "o", "", "output file (default: standard output), or with --batches the folder")
	f.StringVar(&o.merchant, "merchant", "", "merchant account")
	f.Int64Var(&o.batch, "batch", 0, "batch number")
	f.StringVar(&o.date, "date", "", "settlement date, YYYY-MM-DD")
	f.StringVar(&o.batches, "batches", "", "a history: one report per batch number of this sequence (1-7,9-20), one a day from --date, into the folder -o")
	f.IntVar(&o.merchants, "merchants", 1, "with --batches: this many merchant accounts, each with the whole sequence")
	return cmd
}

func runGen(a *app, o genOptions) error {
	if o.rows < 1 {
		return usageError("gen: --rows must be at least 1")
	}
	if o.batches != "" {
		return genHistory(a, o)
	}
	w := a.stdout
	if o.out != "" {
		f, err := os.Create(o.out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	sum, err := gen.Write(w, gen.Config{Rows: o.rows, Seed: o.seed, Merchant: o.merchant, Batch: o.batch, SettlementDate: o.date})
	if err != nil {
		return usageError("gen: %v", err)
	}
	if o.out != "" {
		fmt.Fprintf(a.stderr, "wrote %s: %d rows, %d bytes, settlement date %s\n", o.out, sum.Rows, sum.Bytes, sum.SettlementDate)
	}
	return nil
}

// genHistory writes a history of batches into the folder o.out: one report per merchant account and
// batch number, named <merchant>_batch_<n>.csv.
func genHistory(a *app, o genOptions) error {
	if o.out == "" {
		return usageError("gen --batches: name the folder to write the reports to with -o")
	}
	numbers, err := gen.ParseSequence(o.batches)
	if err != nil {
		return usageError("gen: %v", err)
	}
	if o.merchants < 1 {
		return usageError("gen: --merchants must be at least 1")
	}
	plan, err := gen.History(gen.HistoryConfig{Merchants: o.merchants, Merchant: o.merchant, Batches: numbers, Start: o.date, Seed: o.seed})
	if err != nil {
		return usageError("gen: %v", err)
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	for _, p := range plan {
		f, err := os.Create(filepath.Join(o.out, p.FileName()))
		if err != nil {
			return err
		}
		_, err = gen.Write(f, gen.Config{Rows: o.rows, Seed: o.seed + uint64(p.Batch), Merchant: p.Merchant, Batch: p.Batch, SettlementDate: p.SettlementDate})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("gen %s: %w", p.FileName(), err)
		}
	}
	fmt.Fprintf(a.stderr, "wrote %d reports to %s: %d merchant accounts, batches %s\n", len(plan), o.out, o.merchants, o.batches)
	return nil
}
