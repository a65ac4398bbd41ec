package obs

import "context"

// Tracer starts trace spans. The zero Tracer is off: Start returns a nil *Span, whose methods do
// nothing. A backend (package xraytrace in the Lambda functions) turns it on.
type Tracer struct{ b TraceBackend }

// TraceBackend records spans for a Tracer: AWS X-Ray in the functions, or OpenTelemetry later.
type TraceBackend interface {
	// Start begins a span named name under the span in ctx, or returns a nil SpanBackend when there
	// is nothing to record it under.
	Start(ctx context.Context, name string) (context.Context, SpanBackend)
}

// SpanBackend is one span of a TraceBackend.
type SpanBackend interface {
	Annotate(key string, value any)
	End(err error)
}

// NewTracer returns a Tracer recording through b (nil: off).
func NewTracer(b TraceBackend) Tracer { return Tracer{b: b} }

// Enabled reports whether spans are recorded.
func (t Tracer) Enabled() bool { return t.b != nil }

// Span is a traced phase of work. A nil *Span does nothing.
type Span struct{ b SpanBackend }

// Start begins a span named name as a child of the span in ctx (in Lambda: of the invocation's
// segment). Pass the returned context to the work it measures, so that AWS calls nest under it.
func (t Tracer) Start(ctx context.Context, name string) (context.Context, *Span) {
	if t.b == nil {
		return ctx, nil
	}
	c, sb := t.b.Start(ctx, name)
	if sb == nil {
		return ctx, nil
	}
	return c, &Span{b: sb}
}

// Annotate adds an indexed, searchable annotation (a string, number or bool): etag, batch, rows.
func (s *Span) Annotate(key string, value any) {
	if s != nil {
		s.b.Annotate(key, value)
	}
}

// End closes the span, recording err when not nil.
func (s *Span) End(err error) {
	if s != nil {
		s.b.End(err)
	}
}
