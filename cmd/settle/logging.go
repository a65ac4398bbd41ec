package main

import (
	"io"
	"log/slog"

	"github.com/paysettle/settle/internal/obs"
)

// newLogger logs JSON to stderr when SETTLE_VERBOSE is set, and nothing otherwise.
func newLogger(a *app, stderr io.Writer) *slog.Logger {
	if a.getenv("SETTLE_VERBOSE") == "" {
		return obs.Discard()
	}
	return obs.NewLogger(stderr, slog.LevelDebug)
}

// newMetrics prints the Embedded Metric Format lines the functions would send to CloudWatch, among the
// JSON logs, when SETTLE_VERBOSE is set.
func newMetrics(a *app, stderr io.Writer) *obs.Metrics {
	if a.getenv("SETTLE_VERBOSE") == "" {
		return nil
	}
	return obs.NewMetrics(stderr, obs.NamespaceFromEnv(a.getenv))
}
