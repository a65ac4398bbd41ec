package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/paysettle/settle/internal/fetch"
	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/ops"
)

// defaultReportHost is the report host a backfill asks when no --host is given: Adyen's test Customer
// Area, as the stack's AdyenEnvironment defaults to test.
const defaultReportHost = "https://" + fetch.TestHost

// backfillOptions are the flags of a backfill: settle fetch --merchant M --batches LIST|--missing on the
// data folder, settle aws backfill on a stack.
type backfillOptions struct {
	merchant, batches, host string
	missing, dry, json      bool
	concurrency             int
}

// flags adds the backfill's own flags (--merchant and --json are the command's).
func (o *backfillOptions) flags(cmd *cobra.Command, hostUsage string) {
	f := cmd.Flags()
	f.StringVar(&o.batches, "batches", "", "batch numbers to fetch, such as 1-500 or 3,7,10-12 (with --merchant)")
	f.BoolVar(&o.missing, "missing", false, "fetch every batch the merchant account's ledger lists as missing (with --merchant)")
	f.IntVar(&o.concurrency, "concurrency", ops.DefaultBackfillConcurrency, "batches asked for at once")
	f.BoolVar(&o.dry, "dry-run", false, "show which batches would be asked for, ask for none")
	f.StringVar(&o.host, "host", "", hostUsage)
}

// batchMode says whether the flags ask for a backfill.
func (o *backfillOptions) batchMode() bool { return o.batches != "" || o.missing }

// spec checks the flags and builds what to ask for from the report host at base.
func (o *backfillOptions) spec(command, base string) (ops.BackfillSpec, error) {
	switch {
	case o.merchant == "":
		return ops.BackfillSpec{}, usageError("%s: name the merchant account with --merchant", command)
	case o.batches == "" && !o.missing:
		return ops.BackfillSpec{}, usageError("%s: pass --batches LIST (such as 1-500) or --missing", command)
	case o.batches != "" && o.missing:
		return ops.BackfillSpec{}, usageError("%s: pass --batches LIST or --missing, not both", command)
	case o.concurrency < 1:
		return ops.BackfillSpec{}, usageError("%s: --concurrency %d: want 1 or more", command, o.concurrency)
	}
	s := ops.BackfillSpec{Merchant: o.merchant, Missing: o.missing, Host: base}
	if o.batches != "" {
		var err error
		if s.Batches, err = gen.ParseSequence(o.batches); err != nil {
			return ops.BackfillSpec{}, usageError("%s: --batches: %v", command, err)
		}
	}
	if _, err := fetch.BatchRequest(base, o.merchant, 1); err != nil {
		return ops.BackfillSpec{}, usageError("%s: %v", command, err)
	}
	return s, nil
}

// backfill plans and runs a backfill through d, with a line on stderr as each batch ends and the
// summary on stdout; next is what to look at afterwards. Exit status 1 when a batch failed or the
// backfill was interrupted.
func backfill(ctx context.Context, a *app, op operator, d ops.Downloader, spec ops.BackfillSpec, o backfillOptions, next []string) error {
	plan, err := op.PlanBackfill(ctx, spec)
	if err != nil {
		return err
	}
	pending := plan.Pending()
	if !o.json {
		fmt.Fprintf(a.stderr, "settle: backfill of %s from %s: %s, %d already committed, %d to ask for\n",
			spec.Merchant, plan.Host, plural(len(plan.Items), "batch", "batches"), len(plan.Items)-pending, pending)
	}
	var mu sync.Mutex // progress lines and the interruption's come from several goroutines
	say := func(line string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(a.stderr, line)
	}
	stop := context.AfterFunc(ctx, func() {
		if op.runs() {
			say("settle: interrupted; stopping the downloads in progress and starting no more (a report already downloaded runs to its end)")
		} else {
			say("settle: interrupted; queueing no more batches")
		}
	})
	s := op.Backfill(ctx, plan, d, ops.BackfillOptions{Concurrency: o.concurrency, DryRun: o.dry, Progress: func(it ops.BackfillItem, done, total int) {
		if o.json {
			return
		}
		line := fmt.Sprintf("settle: [%d/%d] batch %d: %s", done, total, it.Batch, outcomeWords(it.Outcome))
		if it.Outcome != ops.BackfillNotFound && it.Error != "" {
			line += ": " + shorten(op.text(it.Error), 200)
		}
		say(line)
	}})
	stop()
	for i := range s.Items {
		s.Items[i].Error = op.text(s.Items[i].Error)
	}
	if o.json {
		if err := printJSON(a.stdout, s); err != nil {
			return err
		}
	} else {
		printBackfill(a.stdout, op, s, plan, spec, next)
	}
	switch {
	case s.Interrupted:
		return failed("interrupted: %s not run; run the same command again to finish (what is committed is skipped)", plural(s.NotRun, "batch", "batches"))
	case s.Failed > 0:
		return failed("%d of %d batches failed", s.Failed, s.Batches)
	}
	return nil
}

// outcomeWords is an outcome as the summary names it.
func outcomeWords(outcome string) string { return strings.ReplaceAll(outcome, "-", " ") }

// printBackfill prints a backfill's summary: the count of each outcome (queued rather than fetched when
// the downloads went to a stack's queue), then the batches not found, failed (each with why) and not run.
func printBackfill(w io.Writer, op operator, s ops.BackfillSummary, plan *ops.BackfillPlan, spec ops.BackfillSpec, next []string) {
	queues := !op.runs()
	what := "batches " + batchRanges(numbers(s.Items, ""), 0)
	if spec.Missing {
		what = "the missing batches"
	}
	if s.Batches == 0 {
		if spec.Missing {
			fmt.Fprintf(w, "Nothing to backfill: the ledger of %s lists no missing batch.\n", s.Merchant)
		} else {
			fmt.Fprintln(w, "Nothing to backfill.")
		}
		return
	}
	fmt.Fprintf(w, "Backfill of %s, %s, from %s:\n\n", s.Merchant, what, s.Host)
	tw := table(w)
	row := func(outcome string, n int) { fmt.Fprintf(tw, "  %s\t%d\n", outcomeWords(outcome), n) }
	switch {
	case s.DryRun:
		row("to ask for", s.Planned)
	case queues:
		row(ops.BackfillQueued, s.Queued)
	default:
		row(ops.BackfillFetched, s.Fetched)
	}
	row(ops.BackfillAlreadyThere, s.AlreadyThere)
	if !s.DryRun && !queues {
		row(ops.BackfillNotFound, s.NotFound)
	}
	if !s.DryRun {
		row(ops.BackfillFailed, s.Failed)
	}
	if s.NotRun > 0 {
		row("not run (interrupted)", s.NotRun)
	}
	tw.Flush()
	if s.DryRun {
		fmt.Fprintf(w, "\nTo ask for: %s.\n", batchRanges(numbers(s.Items, ops.BackfillPlanned), 40))
	}
	if n := numbers(s.Items, ops.BackfillNotFound); len(n) > 0 {
		fmt.Fprintf(w, "\nNot found (the report host has no such report, or not yet): %s.\n", batchRanges(n, 40))
	}
	if s.Failed > 0 {
		fmt.Fprintln(w, "\nFailed:")
		for _, it := range s.Items {
			if it.Outcome == ops.BackfillFailed {
				line := fmt.Sprintf("  batch %d: %s", it.Batch, it.Error)
				if it.Execution != "" {
					line += " (" + op.command("show "+it.Execution) + " explains it)"
				}
				fmt.Fprintln(w, line)
			}
		}
	}
	if n := numbers(s.Items, ops.BackfillNotRun); len(n) > 0 {
		fmt.Fprintf(w, "\nNot run (interrupted): %s; run the same command again to finish.\n", batchRanges(n, 40))
	}
	if b := plan.Beyond(); b > 0 && queues && plan.LastCommitted > 0 {
		fmt.Fprintf(w, "\n%s above %d, the last committed batch: Adyen may not have generated %s yet; the fetch function acknowledges a report it does not find (RepairNotFound metric, no dead letter), and settle aws batches shows what is still missing.\n",
			plural(b, "batch is", "batches are"), plan.LastCommitted, map[bool]string{true: "it", false: "them"}[b == 1])
	}
	if len(next) > 0 {
		fmt.Fprintln(w)
		for _, l := range next {
			fmt.Fprintln(w, l)
		}
	}
}

// numbers are the batches with an outcome ("": all).
func numbers(items []ops.BackfillItem, outcome string) []int64 {
	var out []int64
	for _, it := range items {
		if outcome == "" || it.Outcome == outcome {
			out = append(out, it.Batch)
		}
	}
	return out
}

// batchRanges writes sorted batch numbers as "3, 7, 10-12", at most max runs (0: all) and how many
// more.
func batchRanges(ns []int64, max int) string {
	var runs []string
	for i := 0; i < len(ns); {
		j := i
		for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
			j++
		}
		if i == j {
			runs = append(runs, fmt.Sprint(ns[i]))
		} else {
			runs = append(runs, fmt.Sprintf("%d-%d", ns[i], ns[j]))
		}
		i = j + 1
	}
	if max > 0 && len(runs) > max {
		return strings.Join(runs[:max], ", ") + fmt.Sprintf(" and %d more", len(runs)-max)
	}
	return strings.Join(runs, ", ")
}

func newBackfillCmd(a *app, t *target) *cobra.Command {
	var o backfillOptions
	cmd := &cobra.Command{
		Use:   "backfill --merchant M --batches LIST|--missing",
		Short: "Queue downloads of a merchant account's reports by batch number, skipping what is committed",
		Long: `Backfill asks the report host for a merchant account's settlement details reports by batch number:
each report's URL follows from the account and the number. It reads the account's batch ledger first
and skips the batches committed already; each other batch's request goes to the stack's webhook queue,
where the fetch function downloads it as it does Adyen's notifications (the report user's credentials,
retries, the fetch dead-letter queue for a report it cannot download), and the pipeline commits it.

--missing asks for the batches the ledger lists as missing (gaps past the grace period, not
acknowledged). A line goes to stderr as each batch is queued, and the summary to stdout; run it again
once the webhook queue has drained: what was committed is skipped. The stack downloads from its
AdyenEnvironment's Customer Area only: pass --host https://ca-live.adyen.com for a live stack.`,
		Example: `  settle aws backfill --merchant AcmeShopNL --batches 1-500 --dry-run
  settle aws backfill --merchant AcmeShopNL --missing --stack settle-prod`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			base := o.host
			if base == "" {
				base = defaultReportHost
			}
			spec, err := o.spec(t.prefix()+" backfill", base)
			if err != nil {
				return err
			}
			op, err := t.open(cmd.Context())
			if err != nil {
				return err
			}
			if op.stack != nil && op.stack.Stack.Out(ops.OutWebhookQueueURL) == "" && !o.dry {
				return failed("stack %s has no webhook queue (output %s): it was deployed without the report intake, so nothing downloads the reports", op.stack.Stack.Name, ops.OutWebhookQueueURL)
			}
			next := []string{
				"The fetch function downloads the queued reports (" + op.command("status") + " shows the webhook queue draining); " +
					op.command("batches --merchant "+o.merchant) + " shows the committed batches, " + op.command("dlq list fetch") + " the reports that could not be downloaded.",
			}
			return backfill(cmd.Context(), a, op, op.WebhookQueue(), spec, o, next)
		}),
	}
	t.flags(cmd)
	cmd.Flags().StringVar(&o.merchant, "merchant", "", "merchant account")
	cmd.Flags().BoolVar(&o.json, "json", false, "print the summary as one JSON object")
	o.flags(cmd, "the report host's address (default "+defaultReportHost+"; a live stack's is https://"+fetch.LiveHost+")")
	return cmd
}
