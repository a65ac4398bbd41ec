package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/settlement"
)

// runOptions are the flags of settle run.
type runOptions struct {
	data  string
	json  bool
	paths []string
}

func newRunCmd(a *app) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run FILE|DIR...",
		Short: "Process settlement reports on the local data folder",
		Long: `Run puts each file into the data folder's raw bucket and delivers its Object Created event to the
starter, which starts an execution of the state machine; the local engine runs it with the same
handlers as the Lambda functions. A folder stands for the files under it (those the cloud's ingest rule
takes: names ending in .csv; the others are listed as SKIPPED).

Each file's line is printed as soon as it ends: its status (SUCCEEDED, DUPLICATE for content already
committed, FAILED, ABORTED when interrupted), execution, rows written and rejected, partition, warnings
(the count and the first; settle show NAME has them all) and error; then the totals per currency of
what was committed. On a terminal each step shows a progress bar; otherwise a progress line goes to
stderr every few seconds for a long file.`,
		Example: `  settle run testdata/sample
  settle run --data /tmp/settle report.csv --json
  MAX_REJECTED_ROWS=20 settle run reports/`,
		Args: minArgs(1, "name at least one file or folder, e.g. settle run testdata/sample"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			o.paths = args
			return runFiles(cmd.Context(), a, o)
		}),
	}
	cmd.Flags().StringVar(&o.data, "data", DefaultData, "data folder (made when missing)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print one JSON object per file")
	return cmd
}

// runFiles is settle run.
func runFiles(ctx context.Context, a *app, o runOptions) error {
	files, err := local.Inputs(o.paths)
	if err != nil {
		return usageError("run: %v", err)
	}
	prog := newProgress(a)
	env, err := openData(a, o.data, a.stderr, &local.Options{WrapRaw: prog.wrap, OnEvent: prog.onEvent}, local.Open)
	if err != nil {
		return err
	}
	op := localOperator(env, o.data)
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Path
	}
	s := newSummary(a.stdout, op, names)
	failedN, ran := 0, 0
	var results []local.FileResult
	for i, f := range files {
		if ctx.Err() != nil {
			fmt.Fprintf(a.stderr, "settle: interrupted; %s not run\n", plural(len(files)-i, "file was", "files were"))
			break
		}
		var size int64
		if fi, err := os.Stat(f.Path); err == nil {
			size = fi.Size()
		}
		prog.begin(f.Path, size)
		r := env.RunInput(ctx, f)
		prog.end()
		results = append(results, r)
		if r.Status != local.Skipped {
			ran++
		}
		if r.Failed() {
			failedN++
		}
		if o.json {
			if err := printJSON(a.stdout, fileJSON(op, r)); err != nil {
				return err
			}
			continue
		}
		s.add(r)
	}
	if !o.json {
		s.end()
		fmt.Fprintf(a.stdout, "\nOutput in %s/processed: the Iceberg table iceberg/settlement_lines/ (point readers there; the same Parquet\nunder settlement_lines/). Failed files in %s/dlq, alerts in %s/notifications.jsonl.\n", o.data, o.data, o.data)
		if failedN > 0 {
			fmt.Fprintf(a.stdout, "%s explains a failed file: the step, the cause and what to do.\n", op.command("show NAME"))
		}
	}
	if w, err := env.GapWarning(ctx, results); err == nil && w != "" {
		fmt.Fprintln(a.stderr, "settle:", w)
	}
	if failedN > 0 {
		return failed("%d of %d files failed", failedN, ran)
	}
	return nil
}

// fileJSON is a file's result as --json prints it: lists empty rather than null, the error in local
// words.
func fileJSON(op operator, r local.FileResult) local.FileResult {
	if r.Partitions == nil {
		r.Partitions = []string{}
	}
	if r.Warnings == nil {
		r.Warnings = []settlement.Warning{}
	}
	if r.Currencies == nil {
		r.Currencies = []settlement.Totals{}
	}
	r.Error = op.text(r.Error)
	return r
}
