//go:build race

package settlement_test

// raceEnabled: the race detector multiplies the time of the 100 MiB memory tests by five or more, and
// they check memory, not concurrency; make test runs them once more without it.
const raceEnabled = true
