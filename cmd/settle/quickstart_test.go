package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQuickStartTranscript runs the README's first command as a newcomer does, from a folder holding the
// repository's testdata: the sample twice (committed, then duplicates) and the bad files (rejected, exit
// status 1). The transcript is testdata/quickstart.txt, which the docs quote (internal/deploy keeps them
// equal).
func TestQuickStartTranscript(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(repo, "testdata"), filepath.Join(dir, "testdata")); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	var b strings.Builder
	for _, args := range [][]string{{"run", "testdata/sample"}, {"run", "testdata/sample"}, {"run", "testdata/bad"}} {
		out, code := localCLI(args...)
		fmt.Fprintf(&b, "$ settle %s\n%s", strings.Join(args, " "), out)
		if code != 0 {
			fmt.Fprintf(&b, "(exit status %d)\n", code)
		}
	}
	golden(t, filepath.Join(repo, "cmd/settle/testdata/quickstart.txt"), b.String())
}
