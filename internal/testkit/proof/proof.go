// Package proof is how a test that needs an external tool (the Lambda emulator, qemu, moto, DuckDB's
// Node API) behaves when the tool is missing: in CI (CI set), which must run every proof, it fails;
// elsewhere it is skipped, and the skip is written to the file named by SETTLE_SKIPPED_LOG, so that
// `make test` can end by listing every proof it did not run and what would run it.
package proof

import (
	"fmt"
	"os"
	"testing"
)

// SkipLogEnv names the file a skipped proof is appended to (one line each).
const SkipLogEnv = "SETTLE_SKIPPED_LOG"

// Missing skips t for want of a tool, or fails it in CI. The message should say which tool and how to
// install it.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("CI: %s", msg)
	}
	if log := os.Getenv(SkipLogEnv); log != "" {
		if f, err := os.OpenFile(log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintf(f, "%s: %s\n", t.Name(), msg)
			f.Close()
		}
	}
	t.Skip(msg)
}
