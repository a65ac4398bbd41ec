//go:build !settle_noxray

package xraytrace_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-xray-sdk-go/v2/xray"
	"github.com/aws/aws-xray-sdk-go/v2/xraylog"

	"github.com/paysettle/settle/internal/obs"
	"github.com/paysettle/settle/internal/obs/xraytrace"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// Outside Lambda the tracer is off: nothing reaches the X-Ray SDK, which therefore never logs
// "context missing", and AWS clients are not instrumented.
func TestTracerOffOutsideLambda(t *testing.T) {
	var xlog bytes.Buffer
	xray.SetLogger(xraylog.NewDefaultLogger(&xlog, xraylog.LogLevelDebug))
	defer xray.SetLogger(xraylog.NewDefaultLogger(&bytes.Buffer{}, xraylog.LogLevelError))

	for name, e := range map[string]map[string]string{
		"cli":               nil,
		"lambda, disabled":  {"AWS_LAMBDA_FUNCTION_NAME": "settle-check", "AWS_XRAY_SDK_DISABLED": "true"},
		"disabled, no func": {"AWS_XRAY_SDK_DISABLED": "TRUE"},
	} {
		tr := xraytrace.New(env(e))
		if tr.Enabled() {
			t.Errorf("%s: tracer on", name)
		}
		var cfg aws.Config
		xraytrace.InstrumentAWS(tr, &cfg)
		if len(cfg.APIOptions) != 0 {
			t.Errorf("%s: AWS clients instrumented", name)
		}
		ctx, sp := tr.Start(t.Context(), "read")
		if sp != nil || ctx != t.Context() {
			t.Errorf("%s: Start returned a span", name)
		}
		sp.Annotate("rows", int64(3))
		sp.End(errors.New("x"))
	}
	var zero obs.Tracer
	_, sp := zero.Start(t.Context(), "x")
	sp.End(nil)
	// In Lambda, but outside an invocation (no trace header): no span, no "context missing".
	on := xraytrace.New(env(map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "settle-check"}))
	if _, sp := on.Start(t.Context(), "init"); sp != nil {
		t.Error("a span without a trace header")
	}
	if xlog.Len() != 0 {
		t.Errorf("the X-Ray SDK logged: %s", xlog.String())
	}
}

// In Lambda, spans are subsegments of the invocation's trace, with their annotations, nested, sent
// to the X-Ray daemon over UDP (here a listener standing in for the daemon Lambda runs).
func TestTracerInLambda(t *testing.T) {
	t.Setenv("AWS_XRAY_SDK_DISABLED", "false")
	daemon, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer daemon.Close()
	if err := xray.Configure(xray.Config{DaemonAddr: daemon.LocalAddr().String()}); err != nil {
		t.Fatal(err)
	}
	tr := xraytrace.New(env(map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "settle-validate"}))
	if !tr.Enabled() {
		t.Fatal("tracer off in Lambda")
	}
	var cfg aws.Config
	xraytrace.InstrumentAWS(tr, &cfg)
	if len(cfg.APIOptions) == 0 {
		t.Error("AWS clients not instrumented")
	}
	//lint:ignore SA1029 aws-lambda-go stores the invocation's trace header under this plain string key
	ctx := context.WithValue(t.Context(), "x-amzn-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
	sctx, step := tr.Start(ctx, "Validate")
	step.Annotate("etag", "9e107d9d372bb6826bd81d3542a419d6")
	step.Annotate("batch", int64(57))
	_, phase := tr.Start(sctx, "validate")
	phase.Annotate("rows", int64(2000))
	phase.End(nil)
	step.End(nil)

	buf := make([]byte, 64<<10)
	_ = daemon.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := daemon.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no segment reached the daemon: %v", err)
	}
	_, body, _ := strings.Cut(string(buf[:n]), "\n") // a header line, then the segment
	var seg struct {
		Name        string         `json:"name"`
		TraceID     string         `json:"trace_id"`
		ParentID    string         `json:"parent_id"`
		Type        string         `json:"type"`
		Annotations map[string]any `json:"annotations"`
		Subsegments []struct {
			Name        string         `json:"name"`
			Annotations map[string]any `json:"annotations"`
		} `json:"subsegments"`
	}
	if err := json.Unmarshal([]byte(body), &seg); err != nil {
		t.Fatalf("segment %q: %v", body, err)
	}
	if seg.Name != "Validate" || seg.TraceID != "1-5759e988-bd862e3fe1be46a994272793" || seg.ParentID != "53995c3f42cd8ad8" || seg.Type != "subsegment" {
		t.Errorf("segment %+v", seg)
	}
	if seg.Annotations["etag"] != "9e107d9d372bb6826bd81d3542a419d6" || seg.Annotations["batch"] != 57.0 {
		t.Errorf("annotations = %v", seg.Annotations)
	}
	if len(seg.Subsegments) != 1 || seg.Subsegments[0].Name != "validate" || seg.Subsegments[0].Annotations["rows"] != 2000.0 {
		t.Errorf("subsegments = %+v", seg.Subsegments)
	}
}
