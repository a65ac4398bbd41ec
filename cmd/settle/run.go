package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/workflow"
)

// DefaultData is the data folder when --data is not given.
const DefaultData = "settle-data"

func openEnv(dir string, stderr io.Writer, progress bool) (*local.Env, error) {
	conf, err := workflow.LoadConfig(os.Getenv)
	if err != nil {
		return nil, usageError("%v", err)
	}
	batches, err := ledger.PolicyFromEnv(os.Getenv)
	if err != nil {
		return nil, usageError("%v", err)
	}
	opts := local.Options{Config: conf, Log: newLogger(stderr), Metrics: newMetrics(stderr), Batches: batches}
	if progress {
		opts.WrapRaw = newProgress(stderr)
	}
	return local.Open(dir, opts)
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", DefaultData, "data folder")
	asJSON := fs.Bool("json", false, "print one JSON object per file")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	if fs.NArg() == 0 {
		return usageError("run: name at least one file or folder, e.g. settle run testdata/sample")
	}
	files, err := local.Inputs(fs.Args())
	if err != nil {
		return usageError("run: %v", err)
	}
	env, err := openEnv(*data, stderr, !*asJSON && isTerminal(stderr))
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	if !*asJSON {
		fmt.Fprintln(tw, "FILE\tSTATUS\tEXECUTION\tWRITTEN\tREJECTED\tPARTITIONS\tERROR")
	}
	failed, skipped := 0, 0
	var results []local.FileResult
	for _, f := range files {
		r := env.RunInput(ctx, f)
		results = append(results, r)
		switch r.Status {
		case local.Failed:
			failed++
		case local.Skipped:
			skipped++
		}
		if *asJSON {
			if r.Partitions == nil {
				r.Partitions = []string{}
			}
			b, _ := json.Marshal(r)
			fmt.Fprintln(stdout, string(b))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", r.File, r.Status, r.Execution, r.RowsWritten, r.RowsRejected,
			orDash(strings.Join(r.Partitions, ",")), orDash(r.Error))
	}
	tw.Flush()
	if !*asJSON {
		fmt.Fprintf(stdout, "\nOutput in %s/processed (Parquet under settlement_lines/), failed files in %s/dlq, alerts in %s/notifications.jsonl.\n", *data, *data, *data)
	}
	if w, err := env.GapWarning(ctx, results); err == nil && w != "" {
		fmt.Fprintln(stderr, "settle:", w)
	}
	if failed > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d of %d files failed", failed, len(files)-skipped)}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
