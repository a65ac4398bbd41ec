// Command settle runs the settlement pipeline: locally on a folder (`settle run`), and operates it
// there and on a deployed stack (`settle aws …`) with the same verbs. See `settle --help`.
package main

import (
	"context"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	stopProfile := startProfile()
	code := execute(ctx, os.Args[1:], newApp())
	stopProfile()
	stop()
	os.Exit(code)
}
