// Package reporoot finds the repository's root folder from a test's working directory (its package's
// folder), for tests that read the repository's files: template.yaml, testdata, the definition.
package reporoot

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Find is the folder of go.mod, found upwards from the working directory.
func Find() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = up
	}
}

// Of is Find for a test, which it fails when there is no root.
func Of(t testing.TB) string {
	t.Helper()
	dir, err := Find()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}
