//go:build !race

package local_test

// raceEnabled: the race detector makes the pipeline three to four times slower.
const raceEnabled = false
