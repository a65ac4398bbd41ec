// Command batches is the scheduled Lambda function that watches each merchant account's batch ledger
// for missing and late settlement reports, and checks the tables against their manifests (see
// workflow.BatchCheck). It links Iceberg (package icetable) to read the table of record.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/paysettle/settle/internal/cloud"
	"github.com/paysettle/settle/internal/icetable"
)

func main() {
	handler, err := cloud.NewBatches(context.Background(), os.Getenv, icetable.ReaderIn)
	if err != nil {
		fmt.Fprintln(os.Stderr, "batches:", err)
		os.Exit(1)
	}
	lambda.Start(handler)
}
