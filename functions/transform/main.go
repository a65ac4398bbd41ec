// Command transform is the Lambda function of the state machine's Transform step (see
// workflow.Steps.Transform). It is the one function that links Arrow and Parquet.
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
	handler, err := cloud.NewTransform(context.Background(), os.Getenv, parquetfile.Stage)
	if err != nil {
		fmt.Fprintln(os.Stderr, "transform:", err)
		os.Exit(1)
	}
	lambda.Start(handler)
}
