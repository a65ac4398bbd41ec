package engine

import (
	"context"
	"time"
)

// Clock is the engine's time: event timestamps come from Now and every retry wait goes through Sleep.
type Clock interface {
	Now() time.Time
	// Sleep waits for d, or returns ctx.Err() if ctx ends first.
	Sleep(ctx context.Context, d time.Duration) error
}

// TimeoutClock is a Clock that also makes the deadline of a Task's TimeoutSeconds. When Config.Clock
// implements it the engine uses WithTimeout instead of context.WithTimeout, so that a test clock can
// expire a deadline by advancing its time instead of waiting.
type TimeoutClock interface {
	Clock
	WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc)
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// Sleep waits for d or until ctx ends.
func (RealClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
