// Command batches is the scheduled Lambda function that watches each merchant account's batch ledger
// for missing and late settlement reports (see workflow.BatchCheck).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/paysettle/settle/internal/cloud"
)

func main() {
	handler, err := cloud.NewBatches(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "batches:", err)
		os.Exit(1)
	}
	lambda.Start(handler)
}
