package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"
)

// fakeClock advances only when told: Sleep records the wait and moves Now forward at once, and
// deadlines made by WithTimeout expire when Advance passes them.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
	timers []fakeTimer
}

type fakeTimer struct {
	at     time.Time
	cancel context.CancelFunc
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	c.Advance(d)
	return nil
}

func (c *fakeClock) WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	c.mu.Lock()
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), cancel: cancel})
	c.mu.Unlock()
	return ctx, cancel
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var fire []context.CancelFunc
	keep := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			fire = append(fire, t.cancel)
		} else {
			keep = append(keep, t)
		}
	}
	c.timers = keep
	c.mu.Unlock()
	for _, f := range fire {
		f()
	}
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

const testMachineArn = "arn:aws:states:local:000000000000:stateMachine:test"

// newTestEngine builds an engine over a definition without placeholders.
func newTestEngine(t *testing.T, def string, res map[string]TaskFunc) (*Engine, *fakeClock) {
	t.Helper()
	clock := newFakeClock()
	e, err := New(Config{
		Definition:      []byte(def),
		StateMachineARN: testMachineArn,
		Resources:       res,
		Dir:             t.TempDir(),
		Clock:           clock,
		Rand:            func() float64 { return 0.5 },
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e, clock
}

// runOnce starts one execution and returns it with its history.
func runOnce(t *testing.T, e *Engine, input string) (*Execution, []Event) {
	t.Helper()
	x, err := e.Start(t.Context(), "x", []byte(input))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	h, err := e.History("x")
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	return x, h
}

// fixed returns a TaskFunc with a constant result that records its inputs.
func fixed(result string, inputs *[]string) TaskFunc {
	var mu sync.Mutex
	return func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
		mu.Lock()
		defer mu.Unlock()
		if inputs != nil {
			*inputs = append(*inputs, string(in))
		}
		return json.RawMessage(result), nil
	}
}

// failing returns a TaskFunc that fails with the given error names in turn, then succeeds with {}.
func failing(calls *int, names ...string) TaskFunc {
	return func(context.Context, json.RawMessage) (json.RawMessage, error) {
		i := *calls
		*calls++
		if i < len(names) {
			return nil, &TaskError{Name: names[i], Cause: "cause " + names[i]}
		}
		return json.RawMessage(`{}`), nil
	}
}

func eventTypes(h []Event) []string {
	var ts []string
	for _, ev := range h {
		ts = append(ts, ev.Type)
	}
	return ts
}

// sameJSON compares two JSON texts ignoring white space (and NOT key order).
func sameJSON(t *testing.T, got, want string) bool {
	t.Helper()
	var g, w bytes.Buffer
	if err := json.Compact(&g, []byte(got)); err != nil {
		t.Fatalf("bad JSON %q: %v", got, err)
	}
	if err := json.Compact(&w, []byte(want)); err != nil {
		t.Fatalf("bad JSON %q: %v", want, err)
	}
	return g.String() == w.String()
}

const lambdaArn = "arn:aws:lambda:local:000000000000:function:f"
