package ui_test

import (
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/paysettle/settle/internal/ledger"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/testkit/reporoot"
	"github.com/paysettle/settle/internal/ui"
	"github.com/paysettle/settle/internal/workflow"
	"github.com/paysettle/settle/statemachine"
)

// console is a console over a data folder, served on 127.0.0.1.
type console struct {
	URL    string
	Server *ui.Server
	Env    *local.Env
	Op     *ops.Operator
	// Results are what running the files gave, in order.
	Results []local.FileResult
}

// sample are the quick start's reports; bad the rejected-file walkthrough's (rows that do not parse,
// a batch that does not balance, a file that is not a report).
var (
	sample = []string{"testdata/sample"}
	bad    = []string{"testdata/bad"}
)

// newConsole runs the reports (files and folders, relative to the repository's root unless absolute) through the pipeline
// into a new data folder, then serves the console over that folder's operator, with the options the
// test sets in tune (nil: none).
func newConsole(t testing.TB, tune func(*ui.Options), reports ...string) *console {
	t.Helper()
	return newConsoleWith(t, local.Options{}, tune, reports...)
}

// newConsoleWith is newConsole with the data folder's options (its configuration is the default's).
func newConsoleWith(t testing.TB, lo local.Options, tune func(*ui.Options), reports ...string) *console {
	t.Helper()
	conf, err := workflow.LoadConfig(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "settle-data")
	lo.Config, lo.Batches = conf, ledger.Policy{}
	env, err := local.Open(data, lo)
	if err != nil {
		t.Fatal(err)
	}
	c := &console{Env: env}
	root := reporoot.Of(t)
	var paths []string
	for _, r := range reports {
		if !filepath.IsAbs(r) {
			r = filepath.Join(root, r)
		}
		paths = append(paths, r)
	}
	if len(paths) > 0 {
		ins, err := local.Inputs(paths)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range ins {
			c.Results = append(c.Results, env.RunInput(t.Context(), in))
		}
	}
	c.Op = env.Operator(data, func(verb string) string { return "settle " + verb + " --data " + data })
	o := ui.Options{
		Operator:   c.Op,
		Where:      "Data folder " + data,
		Command:    func(verb string) string { return "settle " + verb + " --data " + data },
		File:       func(f workflow.FileRef) string { return filepath.Join(data, f.Bucket, filepath.FromSlash(f.Key)) },
		Definition: statemachine.Definition,
		Loopback:   true,
	}
	if tune != nil {
		tune(&o)
	}
	c.Server, err = ui.New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Server)
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}
