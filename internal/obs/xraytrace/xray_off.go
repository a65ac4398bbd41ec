//go:build settle_noxray

package xraytrace

import (
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/paysettle/settle/internal/obs"
)

// This file replaces xray.go in builds with the tag settle_noxray (make build TAGS=settle_noxray): the
// functions then link no X-Ray SDK, which with its gRPC and fasthttp dependencies is about 10 MB of every
// bootstrap, and record no subsegments. Lambda still traces each invocation when the function's tracing
// is active; logs and metrics are unchanged.

// New returns an off Tracer: this build records no spans.
func New(func(string) string) obs.Tracer { return obs.Tracer{} }

// InstrumentAWS does nothing in this build.
func InstrumentAWS(obs.Tracer, *aws.Config) {}

// SetLogger does nothing in this build.
func SetLogger(obs.Tracer, *slog.Logger) {}
