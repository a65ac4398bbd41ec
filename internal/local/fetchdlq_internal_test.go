package local

import (
	"os"
	"path/filepath"
	"testing"
)

// The local fetch dead-letter queue is a folder kept across runs: a dead letter of one run never
// overwrites another run's, even for the same report, though each process counts its messages from 1.
func TestFetchDeadLettersOfTwoRunsAreKept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), FetchDLQDir)
	letter := []byte(`{"key":"incoming/AcmeShopNL/settlement_detail_report_batch_58.csv","reason":"not-found","error":"run %d","action":"x","time":"2024-05-03T06:00:00Z"}`)
	defer messages.Store(messages.Load())
	for run := range 3 {
		messages.Store(0) // a new process
		if err := (dirQueue{dir: dir}).Send(t.Context(), letter); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("%s holds %v after three runs, want three dead letters", FetchDLQDir, names)
	}
}
