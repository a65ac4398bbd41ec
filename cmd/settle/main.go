// Command settle runs the settlement pipeline: locally on a folder (`settle run`), and against a deployed
// stack (`settle aws …`). See `settle help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
)

const usage = `settle turns provider settlement reports (Adyen settlement details) into exact, partitioned Parquet.

Local pipeline (no AWS account; the same state machine and handlers as the deployed stack):
  settle run [--data DIR] [--json] FILE|DIR...   process files; prints one line per file
  settle executions [--data DIR]                 list executions, newest first
  settle show [--data DIR] NAME                  an execution's history, like the console's event list
  settle redrive [--data DIR] NAME               rerun a failed execution from the step that failed
  settle batches [--merchant M] [--json]         each merchant account's batches: gaps, cadence, lateness, what to do
  settle batches ack --merchant M --batch N|--closed --by WHO --reason WHY   a batch that will never come
  settle batches check                           run the hourly batch check once (alerts to notifications.jsonl)
  settle ledger --rebuild                        write the batch ledgers again from the manifests

Reports from Adyen, locally (the same receiver and fetch handler as the deployed stack):
  settle fetch [--report-user FILE] URL...       download reports into the local raw bucket and run them
  settle webhook replay --secret FILE BODY.json  post a saved REPORT_AVAILABLE notification to the receiver
  settle webhook sign --secret FILE URL          print a signed REPORT_AVAILABLE notification for a report

Deployed stack (see settle aws help):
  settle aws status|executions|show|redrive|replay|dlq|reprocess|batches …

Data:
  settle gen [--rows N] [--seed S] [-o FILE]     write a realistic, balanced settlement report
  settle gen --batches 1-7,9-20 [--merchants N] -o DIR   a history: one report per batch and account
  settle dump FILE.parquet                       print a Parquet file of settlement_lines as JSON Lines
  settle zones                                   list the time-zone abbreviations and their offsets

Environment (the same variables the Lambda functions read): MAX_REJECTED_ROWS (default 0),
BALANCE_CHECK (on|off), MAX_FILE_BYTES, MAX_RECORD_BYTES, SETTLE_TIMEZONES (e.g. CST=-06:00),
BATCH_GRACE_HOURS (default 48), BATCH_CADENCES (e.g. ShopEU=24h,ShopUS=7d).
`

// exitError carries an exit status: 1 for a failed file or command, 2 for bad usage.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func usageError(format string, a ...any) error {
	return &exitError{code: 2, msg: fmt.Sprintf(format, a...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	stopProfile := startProfile()
	code := report(run(ctx, os.Args[1:], os.Stdout, os.Stderr), os.Stderr)
	stopProfile()
	if code != 0 {
		os.Exit(code)
	}
}

// report prints a command's error as one line on stderr and returns the exit status: 0 for nil, else
// the exitError's code, or 1.
func report(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintln(stderr, "settle:", msg)
	}
	return code
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &exitError{code: 2}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, rest, stdout, stderr)
	case "executions":
		return cmdExecutions(rest, stdout)
	case "show":
		return cmdShow(rest, stdout)
	case "redrive":
		return cmdRedrive(ctx, rest, stdout)
	case "fetch":
		return cmdFetch(ctx, rest, stdout, stderr)
	case "webhook":
		return cmdWebhook(ctx, rest, stdout, stderr)
	case "aws":
		return cmdAWS(ctx, rest, stdout, stderr)
	case "batches":
		return cmdBatches(ctx, rest, stdout, stderr)
	case "ledger":
		return cmdLedger(ctx, rest, stdout, stderr)
	case "gen":
		return cmdGen(rest, stdout)
	case "dump":
		return cmdDump(rest, stdout)
	case "zones":
		return cmdZones(stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return usageError("unknown command %q; see settle help", cmd)
	}
}
