// Command starter is the SQS-triggered Lambda function that starts one Step Functions execution per
// settlement file, named by its ETag (see workflow.Starter).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/paysettle/settle/internal/cloud"
)

func main() {
	handler, err := cloud.NewStarter(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starter:", err)
		os.Exit(1)
	}
	lambda.Start(handler)
}
