package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/settlement"
	"github.com/paysettle/settle/internal/workflow"
)

// cmdBatches is `settle batches [--merchant M] [--json]`, `settle batches ack …` and `settle batches
// check` on the local data folder.
func cmdBatches(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "ack" {
		return cmdBatchesAck(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "check" {
		return cmdBatchesCheck(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("batches", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", DefaultData, "data folder")
	merchant := fs.String("merchant", "", "only this merchant account")
	asJSON := fs.Bool("json", false, "print one JSON object per merchant account")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	env, err := openEnv(*data, io.Discard, false)
	if err != nil {
		return err
	}
	sts, err := env.Batches(ctx, *merchant)
	if err != nil {
		return err
	}
	return printBatches(stdout, sts, *asJSON, *merchant)
}

// printBatches prints statuses as a table with advice, or as JSON lines.
func printBatches(w io.Writer, sts []ledger.Status, asJSON bool, merchant string) error {
	if asJSON {
		for _, s := range sts {
			b, err := json.Marshal(s)
			if err != nil {
				return err
			}
			fmt.Fprintln(w, string(b))
		}
		return nil
	}
	if len(sts) == 0 {
		if merchant != "" {
			fmt.Fprintf(w, "No batch of merchant account %s is committed.\n", merchant)
		} else {
			fmt.Fprintln(w, "No batch is committed yet.")
		}
		return nil
	}
	return ledger.WriteTable(w, sts)
}

// ackFlags are the flags of an acknowledgement, local or on a stack.
type ackFlags struct {
	provider, merchant, batches, by, reason *string
	closed                                  *bool
}

func newAckFlags(fs *flag.FlagSet) ackFlags {
	return ackFlags{
		provider: fs.String("provider", settlement.ProviderAdyen, "provider"),
		merchant: fs.String("merchant", "", "merchant account"),
		batches:  fs.String("batch", "", "batch number N, or N-M, that will never come"),
		closed:   fs.Bool("closed", false, "the merchant account is closed: no more batches"),
		by:       fs.String("by", os.Getenv("USER"), "who decides (default $USER)"),
		reason:   fs.String("reason", "", "why, such as the provider's answer"),
	}
}

// ack builds the acknowledgement the flags describe.
func (f ackFlags) ack(cmd string) (ledger.Ack, error) {
	if *f.merchant == "" {
		return ledger.Ack{}, usageError("%s: name the merchant account with --merchant", cmd)
	}
	a := ledger.Ack{Closed: *f.closed, By: *f.by, Reason: *f.reason}
	if (*f.batches == "") == !*f.closed {
		return ledger.Ack{}, usageError("%s: pass --batch N (or N-M) for batches that will never come, or --closed for a closed account", cmd)
	}
	if *f.batches != "" {
		lo, hi, isRange := strings.Cut(*f.batches, "-")
		var err1, err2 error
		a.First, err1 = strconv.ParseInt(lo, 10, 64)
		a.Last, err2 = a.First, nil
		if isRange {
			a.Last, err2 = strconv.ParseInt(hi, 10, 64)
		}
		if err1 != nil || err2 != nil {
			return ledger.Ack{}, usageError("%s: --batch %q is not a batch number N or a range N-M", cmd, *f.batches)
		}
	}
	return a, nil
}

func cmdBatchesAck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("batches ack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", DefaultData, "data folder")
	f := newAckFlags(fs)
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	a, err := f.ack("batches ack")
	if err != nil {
		return err
	}
	env, err := openEnv(*data, io.Discard, false)
	if err != nil {
		return err
	}
	added, err := env.Acknowledge(ctx, *f.provider, *f.merchant, a)
	if err != nil {
		return err
	}
	printAck(stdout, *f.provider, *f.merchant, a, added)
	return nil
}

func printAck(w io.Writer, provider, merchant string, a ledger.Ack, added bool) {
	what := "batch " + a.Numbers()
	if a.Closed {
		what = "closed"
	}
	if !added {
		fmt.Fprintf(w, "%s/%s %s was already acknowledged by %s.\n", provider, merchant, what, a.By)
		return
	}
	fmt.Fprintf(w, "Acknowledged %s/%s %s by %s: %s. No alert is sent about it from now on.\n", provider, merchant, what, a.By, a.Reason)
}

// cmdBatchesCheck runs the scheduled batch check once on the local data folder.
func cmdBatchesCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	data, _, err := dataFlag("batches check", args)
	if err != nil {
		return err
	}
	env, err := openEnv(data, stderr, false)
	if err != nil {
		return err
	}
	res, err := env.CheckBatches(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d merchant accounts, %d missing batches, %d late; sent %d alerts and %d resolutions to %s/notifications.jsonl.\n",
		res.Accounts, res.MissingBatches, res.Late, res.Alerts, res.Resolutions, data)
	return nil
}

// cmdLedger is `settle ledger --rebuild`: every ledger written again from the manifests.
func cmdLedger(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ledger", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", DefaultData, "data folder")
	rebuild := fs.Bool("rebuild", false, "write every merchant account's ledger again from the manifests")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	if !*rebuild {
		return usageError("ledger: pass --rebuild (settle batches shows the ledgers)")
	}
	env, err := openEnv(*data, io.Discard, false)
	if err != nil {
		return err
	}
	res, err := env.RebuildLedgers(ctx)
	if err != nil {
		return err
	}
	printRebuild(stdout, res)
	return nil
}

func printRebuild(w io.Writer, res workflow.RebuildResult) {
	fmt.Fprintf(w, "Rebuilt the ledgers of %d merchant accounts from %d manifests: %d differed and were rewritten, %d without manifests removed.\n",
		res.Accounts, res.Batches, res.Rewritten, res.Removed)
}
