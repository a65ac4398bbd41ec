// Command check is the Lambda function of the state machine's Check step (see workflow.Steps.Check).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/paysettle/settle/internal/cloud"
)

func main() {
	handler, err := cloud.NewCheck(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "check:", err)
		os.Exit(1)
	}
	lambda.Start(handler)
}
