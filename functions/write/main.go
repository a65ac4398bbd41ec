// Command write is the Lambda function of the state machine's Write step (see workflow.Steps.Write).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/paysettle/settle/internal/cloud"
)

func main() {
	handler, err := cloud.NewWrite(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "write:", err)
		os.Exit(1)
	}
	lambda.Start(handler)
}
