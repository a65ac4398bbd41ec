// Command validate is the Lambda function of the state machine's Validate step (see workflow.Steps.Validate).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/paysettle/settle/internal/cloud"
)

func main() {
	handler, err := cloud.NewValidate(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "validate:", err)
		os.Exit(1)
	}
	lambda.Start(handler)
}
