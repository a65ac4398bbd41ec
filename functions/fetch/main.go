// Command fetch is the SQS-triggered Lambda function that downloads each queued report into the raw
// bucket (see fetch.Handler).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/paysettle/settle/internal/cloud"
)

func main() {
	h, err := cloud.NewFetchHandler(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fetch:", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
