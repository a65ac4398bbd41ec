//go:build !unix

package parquetfile_test

import (
	"testing"
	"time"
)

// cpuTime is -1 where the process's CPU time is not read: the benchmarks report wall time only.
func cpuTime(*testing.B) time.Duration { return -1 }
