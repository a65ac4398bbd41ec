package main

import (
	"os"
	"runtime/debug"
)

// defaultMemoryLimit keeps the local pipeline's heap near its live data: steps stream, so what is live is
// one row group plus buffers, and without a limit Go's collector lets the heap grow to twice that.
// GOMEMLIMIT, when set, wins.
const defaultMemoryLimit = 192 << 20

func init() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}
