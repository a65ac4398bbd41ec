package deploy

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/testkit/reporoot"
)

// functionDeps lists, per function, the packages its bootstrap links when built with tags.
func functionDeps(t *testing.T, tags string) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-tags", tags, "-f", `{{.ImportPath}} {{join .Deps " "}}`, "./functions/...")
	cmd.Dir = reporoot.Of(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		fn := fields[0][strings.LastIndex(fields[0], "/")+1:]
		deps[fn] = fields[1:]
	}
	if len(deps) != 8 {
		t.Fatalf("go list found functions %v", deps)
	}
	return deps
}

func links(deps []string, prefix string) bool {
	for _, d := range deps {
		if strings.HasPrefix(d, prefix) {
			return true
		}
	}
	return false
}

// TestFunctionsLinkOnlyTheirLibraries: Arrow and Parquet are in the transform bootstrap, and in the write
// and batches bootstraps through Iceberg (which builds on Arrow; the batch check reads the table), only; that keeps the others small. With the
// settle_noxray tag no bootstrap links the X-Ray SDK.
func TestFunctionsLinkOnlyTheirLibraries(t *testing.T) {
	for fn, deps := range functionDeps(t, "lambda.norpc") {
		iceberg := fn == "write" || fn == "batches"
		if got, want := links(deps, "github.com/apache/arrow-go/"), fn == "transform" || iceberg; got != want {
			t.Errorf("%s links arrow-go: %v, want %v", fn, got, want)
		}
		if got, want := links(deps, "github.com/apache/iceberg-go"), iceberg; got != want {
			t.Errorf("%s links iceberg-go: %v, want %v", fn, got, want)
		}
		if !links(deps, "github.com/aws/aws-xray-sdk-go/v2/xray") {
			t.Errorf("%s does not link the X-Ray SDK in the default build", fn)
		}
	}
	for fn, deps := range functionDeps(t, "lambda.norpc settle_noxray") {
		if links(deps, "github.com/aws/aws-xray-sdk-go/") {
			t.Errorf("%s links the X-Ray SDK although built with settle_noxray", fn)
		}
	}
}
