package motostack

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/testkit/proof"
)

// Without python3 the expansion says so, as a MissingError (a skip outside CI, a failure in it).
func TestExpandWithoutPython(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := expand()
	var m *MissingError
	if !errors.As(err, &m) || !strings.Contains(err.Error(), "python3 not found") {
		t.Errorf("expand without python3: %v", err)
	}
}

// The script names what it cannot translate and exits 1, not 3 ("not installed"): a template that
// does not translate fails the tests even outside CI.
func TestSamExpandReportsTheReason(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := filepath.Join(t.TempDir(), "template.yaml")
	// An SQS event without its queue.
	if err := os.WriteFile(tmpl, []byte(`Transform: AWS::Serverless-2016-10-31
Resources:
  Starter:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: .
      Handler: bootstrap
      Runtime: provided.al2023
      Events:
        Ingest:
          Type: SQS
          Properties: {}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("python3", filepath.Join(root, "scripts", "sam-expand.py"), tmpl, "--code-uri", "s3://b/k")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == 3, errors.Is(err, exec.ErrNotFound):
		proof.Missing(t, "python3 or aws-sam-translator %s missing (pip install aws-sam-translator==%s): %s", TranslatorVersion, TranslatorVersion, out)
	case !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "Starter") || !strings.Contains(string(out), "Queue"):
		t.Errorf("%v, output:\n%s", err, out)
	}
}
