package deploy

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/paysettle/settle/internal/testkit/reporoot"
)

const module = "github.com/paysettle/settle/"

// pkgInfo is what go list reports of a package.
type pkgInfo struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// listPackages runs go list -json over the module.
func listPackages(t *testing.T) map[string]pkgInfo {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = reporoot.Of(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkgInfo{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkgInfo
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs[strings.TrimPrefix(p.ImportPath, module)] = p
	}
	return pkgs
}

// TestDependencyRules pins the layering: the domain knows no AWS, no engine and no workflow; the
// storage and observability interfaces link no AWS SDK (their AWS implementations are packages of their
// own); the workflow links neither Arrow nor an SDK; and each function's main imports only its wiring.
func TestDependencyRules(t *testing.T) {
	pkgs := listPackages(t)
	forbid := func(pkg string, prefixes ...string) {
		t.Helper()
		p, ok := pkgs[pkg]
		if !ok {
			t.Errorf("no package %s", pkg)
			return
		}
		for _, d := range p.Deps {
			for _, f := range prefixes {
				if strings.HasPrefix(d, f) {
					t.Errorf("%s depends on %s", pkg, d)
				}
			}
		}
	}
	aws := "github.com/aws/"
	sdk, xray, arrow := "github.com/aws/aws-sdk-go-v2", "github.com/aws/aws-xray-sdk-go", "github.com/apache/arrow-go/"
	upper := []string{module + "internal/workflow", module + "internal/engine", module + "internal/local", module + "internal/cloud",
		module + "internal/ops", module + "internal/store", module + "cmd/"}
	for _, domain := range []string{"internal/money", "internal/settlement", "internal/gen", "internal/table", "internal/parquetfile", "internal/ledger"} {
		forbid(domain, append([]string{aws}, upper...)...)
	}
	for _, p := range []string{"internal/store", "internal/testkit/storetest", "internal/testkit/storefault", "internal/engine", "internal/states"} {
		forbid(p, aws)
	}
	forbid("internal/engine", module+"internal/workflow", module+"internal/store")
	forbid("internal/states", module)
	forbid("internal/jsontext", module)
	forbid("internal/obs", sdk, xray)
	forbid("internal/workflow", sdk, xray, arrow, "github.com/apache/iceberg-go", module+"internal/engine", module+"internal/local", module+"internal/icetable")
	forbid("internal/icetable", sdk, xray, module+"internal/engine", module+"internal/local", module+"internal/cloud", module+"internal/ops")
	forbid("internal/cloud", arrow)
	// The operator decides against its own interfaces: it knows neither the local engine nor the data
	// folder, which implement them (internal/local imports ops, never the other way).
	forbid("internal/ops", module+"internal/local", module+"internal/engine")
	// The test-support packages are for tests only: no package of the product depends on one.
	for name := range pkgs {
		if !strings.HasPrefix(name, "internal/testkit/") && !strings.HasPrefix(name, "internal/deploy") && !strings.HasPrefix(name, "internal/rie") {
			forbid(name, module+"internal/testkit/")
		}
	}

	for name, p := range pkgs {
		if !strings.HasPrefix(name, "functions/") {
			continue
		}
		for _, imp := range p.Imports {
			switch {
			case !strings.Contains(imp, "."): // the standard library
			case imp == "github.com/aws/aws-lambda-go/lambda", imp == module+"internal/cloud":
			case imp == module+"internal/parquetfile" && name == "functions/transform":
			case imp == module+"internal/icetable" && (name == "functions/write" || name == "functions/batches"):
			default:
				t.Errorf("%s imports %s: a function's main imports only its wiring (internal/cloud)", name, imp)
			}
		}
	}
}
