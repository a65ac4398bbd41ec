// Command transform is the Lambda function of the state machine's Transform step (see workflow.Steps).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/paysettle/settle/internal/cloud"
	"github.com/paysettle/settle/internal/parquetfile"
)

func main() {
	steps, err := cloud.NewSteps(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "transform:", err)
		os.Exit(1)
	}
	steps.Stage = parquetfile.Stage
	lambda.Start(steps.Transform)
}
