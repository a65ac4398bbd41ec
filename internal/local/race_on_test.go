//go:build race

package local_test

// raceDetector reports whether the tests run under the race detector, whose overhead makes the
// heaviest scenarios run smaller.
const raceDetector = true
