package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/paysettle/settle/internal/engine"
)

// app is what the commands use of the world outside them: the standard streams, whether a person is at
// a terminal, the clock and the environment. main uses the real ones; tests give their own, so that no
// command needs a shell, a terminal or the wall clock to be tested.
type app struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	// stdinTerminal says whether a person can answer a question on stdin; stderrTerminal whether
	// progress bars can be drawn on stderr.
	stdinTerminal  func() bool
	stderrTerminal func() bool
	// clock is the local pipeline's clock (its executions' times and retries' waits) and the one
	// every command reads "now" from.
	clock engine.Clock
	// progressEvery is how often progress is reported without a terminal; progressRefresh, when set,
	// redraws the bars on a terminal instead of mpb's timer (tests).
	progressEvery   time.Duration
	progressRefresh <-chan any
	getenv          func(string) string
}

func newApp() *app {
	return &app{
		stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin,
		stdinTerminal:  stdinIsTerminal,
		stderrTerminal: func() bool { return isTerminal(os.Stderr) },
		clock:          engine.RealClock{},
		progressEvery:  5 * time.Second,
		getenv:         os.Getenv,
	}
}

func (a *app) now() time.Time { return a.clock.Now() }

// exitError carries an exit status: 1 for a failed file or command, 2 for bad usage.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func usageError(format string, a ...any) error {
	return &exitError{code: exitUsage, msg: fmt.Sprintf(format, a...)}
}

func failed(format string, a ...any) error {
	return &exitError{code: exitFailed, msg: fmt.Sprintf(format, a...)}
}

const rootLong = `settle turns provider settlement reports (Adyen settlement details) into exact, partitioned Parquet.

settle run processes files on a local data folder (--data, default settle-data) with the same state
machine definition and handlers as the deployed stack. The operator commands (status, executions,
show, redrive, reprocess, dlq, batches, ledger) work on that folder, and the same commands under
settle aws work on a deployed stack, with the same flags and the same output.

Configuration is by environment, the variables the Lambda functions read: MAX_REJECTED_ROWS (default
0), BALANCE_CHECK (on|off), MAX_FILE_BYTES, MAX_RECORD_BYTES, SETTLE_TIMEZONES (e.g. CST=-06:00),
BATCH_GRACE_HOURS (default 48), BATCH_CADENCES (e.g. ShopEU=24h,ShopUS=7d); SETTLE_VERBOSE=1 prints
the functions' JSON logs and metrics on stderr.

Exit status: 0 when everything succeeded, 1 when a file or a command failed, 2 for a usage error (an
unknown command or flag, a missing argument, a command that needs --yes).`

// newRoot builds the command tree.
func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "settle",
		Short: "Adyen settlement reports to exact, partitioned Parquet, locally and on AWS",
		Long:  rootLong,
		Example: `  settle run testdata/sample
  settle executions --status FAILED
  settle show 3fde3b99a6baa7a1245af073c8edd8b4
  settle reprocess 3fde3b99a6baa7a1245af073c8edd8b4 --max-rejected 13
  settle aws status --stack settle-prod`,
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	parent(root)
	root.SetVersionTemplate("settle {{.Version}}\n")
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetIn(a.stdin)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError("%v (see %s --help)", err, c.CommandPath())
	})
	root.AddGroup(&cobra.Group{ID: "pipeline", Title: "The local pipeline:"},
		&cobra.Group{ID: "operate", Title: "Operating it (on the data folder; under settle aws, on a stack):"},
		&cobra.Group{ID: "data", Title: "Reports and data:"})

	loc := localTarget(a)
	for _, c := range []*cobra.Command{newRunCmd(a), newFetchCmd(a), newWebhookCmd(a)} {
		c.GroupID = "pipeline"
		root.AddCommand(c)
	}
	for _, c := range operatorCmds(a, loc) {
		c.GroupID = "operate"
		root.AddCommand(c)
	}
	aws := newAWSCmd(a)
	aws.GroupID = "operate"
	root.AddCommand(aws)
	for _, c := range []*cobra.Command{newGenCmd(a), newDumpCmd(a), newZonesCmd(a)} {
		c.GroupID = "data"
		root.AddCommand(c)
	}
	root.SetHelpCommandGroupID("data")
	root.SetCompletionCommandGroupID("data")
	return root
}

// execute runs the command line args and returns the exit status, printing a failure as one line on
// stderr.
func execute(ctx context.Context, args []string, a *app) int {
	root := newRoot(a)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code := exitUsage // cobra's own errors: an unknown command, flag or argument
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintln(a.stderr, "settle:", msg)
	}
	return code
}

// runE adapts a command's work to cobra: an error that is not already an exitError is a failure
// (exit status 1), not a usage error.
func runE(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := f(cmd, args)
		var ee *exitError
		if err != nil && !errors.As(err, &ee) {
			return &exitError{code: exitFailed, msg: err.Error()}
		}
		return err
	}
}

// parent makes cmd a command that only groups others: alone it prints its help; with an argument that is
// not one of its commands it is a usage error (cobra would print the help and exit 0).
func parent(cmd *cobra.Command) *cobra.Command {
	cmd.Args = noArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }
	return cmd
}

// Argument checks that are usage errors (exit status 2) with a sentence saying what to pass.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError("unknown command %q for %s (see %s --help)", args[0], cmd.CommandPath(), cmd.CommandPath())
	}
	return nil
}

func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError("%s: %s (see %s --help)", cmd.CommandPath(), what, cmd.CommandPath())
		}
		return nil
	}
}

func minArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageError("%s: %s (see %s --help)", cmd.CommandPath(), what, cmd.CommandPath())
		}
		return nil
	}
}

func maxArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return usageError("%s: %s (see %s --help)", cmd.CommandPath(), what, cmd.CommandPath())
		}
		return nil
	}
}

// version is the module's version and the VCS revision it was built from, from the build information
// the Go toolchain embeds: "v1.2.0", "(devel) abcdef012345 modified", "(devel)" without VCS data.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" && !strings.Contains(v, rev[:min(12, len(rev))]) {
		v += " " + rev[:min(12, len(rev))]
		if at != "" {
			v += " " + at
		}
		if dirty {
			v += " modified"
		}
	}
	return v + " " + bi.GoVersion
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// stdinIsTerminal reports whether standard input is a terminal: a character device other than the null
// device (which is one too, and is what a job without input gets).
func stdinIsTerminal() bool {
	fi, err := os.Stdin.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(fi, null) {
		return false
	}
	return true
}
