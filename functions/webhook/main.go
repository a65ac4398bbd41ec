// Command webhook is the Lambda function behind the webhook URL that Adyen calls: it checks and queues
// REPORT_AVAILABLE notifications (see webhook.Receiver).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/paysettle/settle/internal/cloud"
)

func main() {
	recv, err := cloud.NewReceiver(context.Background(), os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "webhook:", err)
		os.Exit(1)
	}
	lambda.Start(recv.HandleURL)
}
