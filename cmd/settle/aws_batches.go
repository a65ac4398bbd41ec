package main

import (
	"context"
	"io"
)

// awsBatches is `settle aws batches [--merchant M] [--json]` and `settle aws batches ack …`: the
// stack's batch ledgers, read from its processed bucket.
func awsBatches(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "ack" {
		return awsBatchesAck(ctx, args[1:], stdout, stderr)
	}
	f := newAWSFlags("batches", stderr)
	merchant := f.fs.String("merchant", "", "only this merchant account")
	asJSON := f.fs.Bool("json", false, "print one JSON object per merchant account")
	if _, err := f.parse(args); err != nil {
		return err
	}
	o, err := f.connect(ctx)
	if err != nil {
		return err
	}
	sts, err := o.Batches(ctx, *merchant)
	if err != nil {
		return err
	}
	return printBatches(stdout, sts, *asJSON, *merchant)
}

func awsBatchesAck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAWSFlags("batches ack", stderr)
	a := newAckFlags(f.fs)
	if _, err := f.parse(args); err != nil {
		return err
	}
	ack, err := a.ack("aws batches ack")
	if err != nil {
		return err
	}
	o, err := f.connect(ctx)
	if err != nil {
		return err
	}
	added, err := o.Acknowledge(ctx, *a.provider, *a.merchant, ack)
	if err != nil {
		return err
	}
	printAck(stdout, *a.provider, *a.merchant, ack, added)
	return nil
}

// awsLedger is `settle aws ledger --rebuild`: the stack's ledgers written again from its manifests.
func awsLedger(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newAWSFlags("ledger", stderr)
	rebuild := f.fs.Bool("rebuild", false, "write every merchant account's ledger again from the manifests")
	if _, err := f.parse(args); err != nil {
		return err
	}
	if !*rebuild {
		return usageError("aws ledger: pass --rebuild (settle aws batches shows the ledgers)")
	}
	o, err := f.connect(ctx)
	if err != nil {
		return err
	}
	res, err := o.RebuildLedgers(ctx)
	if err != nil {
		return err
	}
	printRebuild(stdout, res)
	return nil
}
