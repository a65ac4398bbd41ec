package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/paysettle/settle/internal/sfn"
	"github.com/paysettle/settle/internal/states"
)

func dataFlag(name string, args []string) (string, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	data := fs.String("data", DefaultData, "data folder")
	if err := fs.Parse(args); err != nil {
		return "", nil, &exitError{code: 2}
	}
	return *data, fs.Args(), nil
}

func cmdExecutions(args []string, stdout io.Writer) error {
	data, _, err := dataFlag("executions", args)
	if err != nil {
		return err
	}
	env, err := openEnv(data, io.Discard, false)
	if err != nil {
		return err
	}
	list, err := env.Engine.List()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tSTARTED\tDURATION\tFILE\tERROR")
	for _, x := range list {
		var in struct {
			File struct{ Key string } `json:"file"`
		}
		_ = json.Unmarshal(x.Input, &in)
		dur := "-"
		if !x.StopDate.IsZero() {
			dur = x.StopDate.Sub(x.StartDate).Round(time.Millisecond).String()
		}
		why := x.Error
		if why == "" && x.Status == states.Aborted { // no error name: the cause says why
			why = x.Cause
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", x.Name, x.Status, x.StartDate.UTC().Format(time.RFC3339), dur, in.File.Key, orDash(why))
	}
	return tw.Flush()
}

func cmdShow(args []string, stdout io.Writer) error {
	data, rest, err := dataFlag("show", args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError("show: name one execution (settle executions lists them)")
	}
	env, err := openEnv(data, io.Discard, false)
	if err != nil {
		return err
	}
	x, err := env.Engine.Describe(rest[0])
	if err != nil {
		return err
	}
	events, err := env.Engine.History(rest[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Execution %s  %s\n", x.Name, x.Status)
	fmt.Fprintf(stdout, "  ARN      %s\n  Started  %s\n", x.ExecutionARN, x.StartDate.UTC().Format(time.RFC3339Nano))
	if !x.StopDate.IsZero() {
		fmt.Fprintf(stdout, "  Stopped  %s (%s)\n", x.StopDate.UTC().Format(time.RFC3339Nano), x.StopDate.Sub(x.StartDate).Round(time.Millisecond))
	}
	if x.Status != states.Succeeded && x.Status != states.Running {
		fmt.Fprintf(stdout, "  Failed at  %s\n  Error    %s\n  Cause    %s\n  Redrive  %s %s\n", x.FailedState, orDash(x.Error), x.Cause, x.RedriveStatus, x.RedriveStatusReason)
	}
	fmt.Fprintf(stdout, "  Input    %s\n\n", x.Input)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTYPE\tSTEP\tELAPSED\tDETAIL")
	for _, ev := range events {
		step, detail := eventDetail(ev)
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", ev.ID, ev.Type, orDash(step), ev.Timestamp.Sub(x.StartDate).Round(time.Millisecond), orDash(detail))
	}
	return tw.Flush()
}

// eventDetail picks the readable part of an event, like the console's event list.
func eventDetail(ev sfn.Event) (step, detail string) {
	b, _ := json.Marshal(ev)
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	for k, v := range m {
		if !strings.HasSuffix(k, "EventDetails") {
			continue
		}
		var d map[string]any
		_ = json.Unmarshal(v, &d)
		if n, ok := d["name"].(string); ok {
			step = n
		}
		if e, ok := d["error"].(string); ok {
			detail = e
			if c, ok := d["cause"].(string); ok && c != "" {
				detail += ": " + shorten(c, 160)
			}
		} else if c, ok := d["cause"].(string); ok { // aborted: a cause without an error name
			detail = shorten(c, 160)
		} else if r, ok := d["resource"].(string); ok {
			detail = r
		} else if c, ok := d["redriveCount"].(float64); ok {
			detail = fmt.Sprintf("redrive %d", int(c))
		}
	}
	return step, detail
}

func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func cmdRedrive(ctx context.Context, args []string, stdout io.Writer) error {
	data, rest, err := dataFlag("redrive", args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError("redrive: name one failed execution (settle executions lists them)")
	}
	env, err := openEnv(data, io.Discard, false)
	if err != nil {
		return err
	}
	r, err := env.Redrive(ctx, rest[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s  %s  written %d  rejected %d  %s\n", r.Execution, r.Status, r.RowsWritten, r.RowsRejected, orDash(r.Error))
	if r.Status != "SUCCEEDED" {
		return &exitError{code: 1, msg: "the execution failed again"}
	}
	return nil
}
