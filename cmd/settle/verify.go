package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/paysettle/settle/internal/parquetfile"
	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/workflow"
)

// verifyOptions are the flags of verify.
type verifyOptions struct {
	deep bool
	json bool
}

func newVerifyCmd(a *app, t *target) *cobra.Command {
	var o verifyOptions
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check settlement_lines against the manifests: every object committed once, with its bytes",
		Long: `Verify compares what a reader of settlement_lines/ sees with what the manifests (the commit markers)
say was committed: every Parquet object belongs to exactly one committed manifest and holds the bytes
its commit published (with --deep, also its rows and source, read from each footer); every manifest's
partitions exist and its counts add up; no claim is older than the lease (a Write that died mid-commit);
no staged Parquet is older than the redrive window; the batch ledgers list every committed batch from
its committed file. A commit in progress is listed, not counted as a finding.

It exits 1 when it finds anything, with what resolves each finding. On a stack the hourly batch check
runs the same check and alerts once per finding and once when it is resolved.`,
		Example: `  ` + t.prefix() + ` verify
  ` + t.prefix() + ` verify --deep --json`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			op, err := t.open(cmd.Context())
			if err != nil {
				return err
			}
			return runVerify(cmd.Context(), a, op, o)
		}),
	}
	t.flags(cmd)
	cmd.Flags().BoolVar(&o.deep, "deep", false, "also read each committed object's footer: its row count and source")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the report as one JSON object")
	return cmd
}

// footerContent is the deep check's reader: a committed object's row count and sources from its footer.
func footerContent(ctx context.Context, b store.Bucket, obj store.Object) (int64, []string, error) {
	return parquetfile.Sources(ctx, b, obj.Key, obj.ETag, obj.Size)
}

func runVerify(ctx context.Context, a *app, op operator, o verifyOptions) error {
	var content workflow.ContentFunc
	if o.deep {
		content = footerContent
	}
	rep, err := op.Verify(ctx, content)
	if err != nil {
		return err
	}
	if o.json {
		b, err := json.Marshal(rep)
		if err != nil {
			return err
		}
		fmt.Fprintln(a.stdout, string(b))
	} else {
		printVerify(a.stdout, op, rep)
	}
	if !rep.OK() {
		return failed("%d finding(s): the table differs from its manifests", len(rep.Findings))
	}
	return nil
}

// commandLine is a remedy's command (a settle command line without "settle", its arguments in the
// pipeline's words) as the target runs it.
func commandLine(say words, command string) string {
	verb, rest, _ := strings.Cut(command, " ")
	if verb == "table" { // a command of a group: its verb is two words
		sub, more, _ := strings.Cut(rest, " ")
		verb, rest = verb+" "+sub, more
	}
	return strings.TrimSpace(say.command(verb) + " " + say.text(rest))
}

// printVerify prints a report in the operator's words.
func printVerify(w io.Writer, op operator, rep *workflow.VerifyReport) {
	fmt.Fprintf(w, "Checked %s: %d manifests, %d objects, %d rows committed, %d claims, %d staged files.\n",
		op.output(workflow.LinesPrefix), rep.Manifests, rep.Objects, rep.Rows, rep.Claims, rep.Staged)
	for _, f := range rep.InFlight {
		fmt.Fprintf(w, "In flight: batch %s, committed by %s in execution %s since %s (%s show %s).\n", f.Batch, op.file(f.Source),
			f.Execution, f.Since.UTC().Format(time.RFC3339), op.command("show"), f.Execution)
	}
	if rep.OK() {
		what := "the bytes its commit published"
		if rep.Deep {
			what = "the bytes, rows and source its commit published"
		}
		fmt.Fprintf(w, "No finding: every object belongs to exactly one committed manifest and holds %s; the ledgers list every committed batch; the Iceberg table holds every committed version.\n", what)
		return
	}
	fmt.Fprintf(w, "%d finding(s):\n", len(rep.Findings))
	for _, f := range rep.Findings {
		fmt.Fprintf(w, "  %s  %s\n", f.Kind, op.output(f.Key))
		fmt.Fprintf(w, "    %s\n", op.text(f.Detail))
		remedy := f.Remedy
		if f.Command != "" {
			remedy += ": " + commandLine(op, f.Command)
		}
		fmt.Fprintf(w, "    To resolve: %s\n", remedy)
	}
}
