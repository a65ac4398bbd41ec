package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/paysettle/settle/internal/ops"
	"github.com/paysettle/settle/internal/ui"
	"github.com/paysettle/settle/statemachine"
)

// uiOptions are the flags of ui.
type uiOptions struct {
	listen string
}

// DefaultListen is the console's address: the loopback interface, on a port the system picks.
const DefaultListen = "127.0.0.1:0"

func newUICmd(a *app, t *target) *cobra.Command {
	var o uiOptions
	cmd := &cobra.Command{
		Use:   "ui",
		Short: "The operator's console in a browser: executions, the state machine, batches, actions",
		Long: `UI serves the operator's console on the loopback interface and prints the URL to open: the
executions with the counts of status, an execution's state machine with the path it took and the state
that failed, its cause, what to do and the batch it committed, each merchant account's batches with
their gaps, the failed files and a file's rejected rows. Its actions (redrive, reprocess with a policy,
acknowledge a gap, restart a dead-letter queue) are the commands' own, with the same refusals, dry runs
and confirmations; they are forms carrying a token made for this run, so another site cannot send them.

--listen takes another address; one that is not a loopback address makes the console reachable from
other machines, without authentication: settle warns, and it should only be done behind something that
authenticates. Ctrl-C stops it.`,
		Example: `  ` + t.prefix() + ` ui
  ` + t.prefix() + ` ui --listen 127.0.0.1:8080`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if _, _, err := net.SplitHostPort(o.listen); err != nil {
				return usageError("--listen %q: want host:port, such as %s", o.listen, DefaultListen)
			}
			op, err := t.open(cmd.Context())
			if err != nil {
				return err
			}
			return runUI(cmd.Context(), a, t, op, o)
		}),
	}
	t.flags(cmd)
	cmd.Flags().StringVar(&o.listen, "listen", DefaultListen, "address to listen on (host:port; port 0 picks a free one)")
	return cmd
}

// uiOptionsOf is the console over an operator, in its words.
func uiOptionsOf(a *app, t *target, op operator) ui.Options {
	return ui.Options{
		Operator:   op.Operator,
		Where:      op.where(&ops.Status{Stack: op.Operator.Stack}),
		Command:    op.command,
		File:       op.file,
		Output:     op.output,
		Text:       op.text,
		Advice:     func(d *ops.Detail) string { return advice(op, d) },
		Cause:      func(s string) string { return indentCause(s, "") },
		Definition: statemachine.Definition,
		Since:      t.since,
		ParseSince: func(s string) (time.Time, error) { return parseSince(s, a.now()) },
	}
}

func runUI(ctx context.Context, a *app, t *target, op operator, o uiOptions) error {
	host, _, _ := net.SplitHostPort(o.listen)
	loopback := isLoopback(host)
	opts := uiOptionsOf(a, t, op)
	opts.Loopback, opts.Context = loopback, ctx
	if op.stack != nil { // the graph is drawn from the definition the stack runs
		def, err := op.stack.Definition(ctx)
		if err == nil {
			_, err = ui.ParseGraph(def)
		}
		if err != nil {
			fmt.Fprintf(a.stderr, "settle: warning: %v; the graph shows the definition this settle was built with\n", err)
		} else {
			opts.Definition = def
		}
	}
	srv, err := ui.New(opts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return failed("cannot listen on %s: %v", o.listen, err)
	}
	if !loopback {
		fmt.Fprintln(a.stderr, exposedWarning(ln.Addr()))
	}
	fmt.Fprintf(a.stdout, "Serving the console of %s at %s (Ctrl-C stops it)\n", strings.ToLower(opts.Where[:1])+opts.Where[1:], consoleURL(ln.Addr()))
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// exposedWarning is the warning for a console listening on an address that is not a loopback one.
func exposedWarning(addr net.Addr) string {
	return fmt.Sprintf("settle: warning: listening on %s, which is not a loopback address: anyone who can reach it can read the "+
		"executions and, with a page's token, redrive and reprocess; the console has no authentication of its own.", addr)
}

// isLoopback reports whether a listen host is a loopback address or name.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// consoleURL is the URL to open for a listener's address: a wildcard address is opened on loopback.
func consoleURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String() + "/"
	}
	ip := tcp.IP
	if ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return "http://" + net.JoinHostPort(ip.String(), fmt.Sprint(tcp.Port)) + "/"
}
