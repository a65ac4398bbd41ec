// Command write is the Lambda function of the state machine's Write step (see workflow.Steps.Write). It
// links Iceberg (package icetable) to commit each batch to the table of record.
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
	handler, err := cloud.NewWrite(context.Background(), os.Getenv, icetable.For)
	if err != nil {
		fmt.Fprintln(os.Stderr, "write:", err)
		os.Exit(1)
	}
	lambda.Start(handler)
}
