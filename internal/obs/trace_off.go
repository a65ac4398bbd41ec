//go:build settle_noxray

package obs

import (
	"context"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// This file replaces trace.go in builds with the tag settle_noxray (make build TAGS=settle_noxray): the
// functions then link no X-Ray SDK, which with its gRPC and fasthttp dependencies is about 10 MB of every
// bootstrap, and record no subsegments. Lambda still traces each invocation when the function's tracing
// is active; logs and metrics are unchanged.

// Tracer is off in this build: Start returns a nil *Span, whose methods do nothing.
type Tracer struct{}

// NewTracer returns the Tracer, which is always off in this build.
func NewTracer(func(string) string) Tracer { return Tracer{} }

// Enabled reports false: this build records no spans.
func (Tracer) Enabled() bool { return false }

// InstrumentAWS does nothing in this build.
func (Tracer) InstrumentAWS(*aws.Config) {}

// SetLogger does nothing in this build.
func (Tracer) SetLogger(*slog.Logger) {}

// Span is a traced phase of work; in this build there are none.
type Span struct{}

// Start returns ctx and a nil *Span.
func (Tracer) Start(ctx context.Context, _ string) (context.Context, *Span) { return ctx, nil }

// Annotate does nothing.
func (*Span) Annotate(string, any) {}

// End does nothing.
func (*Span) End(error) {}
