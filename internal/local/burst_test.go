package local_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"go.yaml.in/yaml/v3"

	"github.com/paysettle/settle/internal/engine"
	"github.com/paysettle/settle/internal/gen"
	"github.com/paysettle/settle/internal/local"
	"github.com/paysettle/settle/internal/obs"
	"github.com/paysettle/settle/internal/states"
	"github.com/paysettle/settle/internal/testkit/emftest"
	"github.com/paysettle/settle/internal/testkit/storefault"
	"github.com/paysettle/settle/internal/workflow"
	"github.com/paysettle/settle/statemachine"
)

// The burst: an operator uploads years of reports at once. Step Functions throttles StartExecution at
// random and Lambda throttles the steps at random; the throttling is a function of (seed, execution,
// step, attempt), so the run is the same whatever order the goroutines take.
const (
	burstFiles       = 500
	burstDuplicates  = 50  // deliveries of the same event twice (SQS and EventBridge are at-least-once)
	burstSeed        = 4   // chosen so that some step is throttled longer than the transient retrier lasts
	startThrottling  = 0.3 // probability that a StartExecution is throttled
	lambdaThrottling = 0.4 // probability that a step's invocation is throttled
	// Under the race detector, which makes the real handlers about 5 times slower, the first fifth of
	// the files run (the same files and throttling); `make test` also runs the full burst without it.
	raceFraction = 5
)

// retryPolicy is a Retry entry of the definition.
type retryPolicy struct {
	ErrorEquals     []string
	IntervalSeconds float64
	MaxAttempts     int
	BackoffRate     float64
	MaxDelaySeconds float64
	JitterStrategy  string
}

// cap is the longest wait before retry n (1-based); with FULL jitter the wait is uniform below it.
func (r retryPolicy) cap(n int) time.Duration {
	d := math.Min(r.IntervalSeconds*math.Pow(r.BackoffRate, float64(n-1)), r.MaxDelaySeconds)
	return time.Duration(d * float64(time.Second))
}

// lambdaRetriers returns, from the definition itself, the retrier each Lambda step uses for an error.
func lambdaRetriers(t *testing.T, errorName string) map[string]retryPolicy {
	t.Helper()
	var d struct {
		States map[string]struct {
			Resource string
			Retry    []retryPolicy
		}
	}
	if err := json.Unmarshal(statemachine.Definition, &d); err != nil {
		t.Fatal(err)
	}
	out := map[string]retryPolicy{}
	for name, st := range d.States {
		if !strings.HasSuffix(st.Resource, "FunctionArn}") {
			continue
		}
		for _, r := range st.Retry {
			if slices.Contains(r.ErrorEquals, errorName) {
				out[name] = r
				break
			}
		}
	}
	if len(out) != 4 {
		t.Fatalf("%s is retried in %d Lambda steps, want 4", errorName, len(out))
	}
	return out
}

// ingestSettings reads what shapes the deliveries from template.yaml: the SQS event source's batch size
// and maximum concurrency (its parameter's default), and the receives before the ingest DLQ.
func ingestSettings(t *testing.T) (batch, concurrency, maxReceives int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	num := func(n *yaml.Node, what string) int {
		if n == nil {
			t.Fatalf("template.yaml has no %s", what)
		}
		v, err := strconv.Atoi(n.Value)
		if err != nil {
			t.Fatalf("template.yaml %s = %q: %v", what, n.Value, err)
		}
		return v
	}
	res := get(root, "Resources")
	ev := get(get(get(get(get(res, "StarterFunction"), "Properties"), "Events"), "Ingest"), "Properties")
	batch = num(get(ev, "BatchSize"), "StarterFunction's SQS BatchSize")
	if mc := get(get(ev, "ScalingConfig"), "MaximumConcurrency"); mc != nil && mc.Tag == "!Ref" {
		concurrency = num(get(get(get(root, "Parameters"), mc.Value), "Default"), mc.Value+" default")
	} else {
		concurrency = num(mc, "MaximumConcurrency")
	}
	maxReceives = num(get(get(get(get(res, "IngestQueue"), "Properties"), "RedrivePolicy"), "maxReceiveCount"), "IngestQueue maxReceiveCount")
	return batch, concurrency, maxReceives
}

// chance is a deterministic draw in [0,1) for the given parts.
func chance(parts ...string) float64 {
	h := sha256.New()
	fmt.Fprintf(h, "%d", burstSeed)
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return float64(binary.BigEndian.Uint64(h.Sum(nil))>>11) / (1 << 53)
}

type execKey struct{}

// executionOf is the execution a context belongs to (set by throttledStarts when it starts one).
func executionOf(ctx context.Context) string {
	name, _ := ctx.Value(execKey{}).(string)
	return name
}

// throttledStarts is Step Functions for the starter, refusing StartExecution at random as an account
// near its StartExecution quota does.
type throttledStarts struct {
	workflow.Executions
	mu        sync.Mutex
	attempts  map[string]int
	throttled int
}

func (x *throttledStarts) Start(ctx context.Context, name string, input []byte) error {
	x.mu.Lock()
	x.attempts[name]++
	n := x.attempts[name]
	throttle := chance("start", name, strconv.Itoa(n)) < startThrottling
	if throttle {
		x.throttled++
	}
	x.mu.Unlock()
	if throttle {
		return fmt.Errorf("start execution %s: api error ThrottlingException: Rate exceeded", name)
	}
	return x.Executions.Start(context.WithValue(ctx, execKey{}, name), name, input)
}

// throttledLambda puts a throttling Lambda service in front of the step handlers: an invocation is
// refused at random with Lambda.TooManyRequestsException and never reaches its handler. It tracks,
// per execution, how many times in a row the current step was throttled.
type throttledLambda struct {
	mu       sync.Mutex
	attempts map[string]int // per execution and step
	run      map[string]int // per execution: consecutive throttles of the current step
	longest  int
	total    int
}

func (l *throttledLambda) wrap(arn string, f engine.TaskFunc) engine.TaskFunc {
	if !strings.HasPrefix(arn, "arn:aws:lambda:") {
		return f // the SQS and SNS integrations
	}
	step := arn[strings.LastIndex(arn, "-")+1:]
	return func(ctx context.Context, input json.RawMessage) (json.RawMessage, error) {
		name := executionOf(ctx)
		if name == "" {
			return nil, errors.New("a step ran outside an execution the test started")
		}
		l.mu.Lock()
		l.attempts[name+"/"+step]++
		throttle := chance("lambda", name, step, strconv.Itoa(l.attempts[name+"/"+step])) < lambdaThrottling
		if throttle {
			l.run[name]++
			l.total++
			l.longest = max(l.longest, l.run[name])
		} else {
			l.run[name] = 0
		}
		l.mu.Unlock()
		if throttle {
			return nil, &engine.TaskError{Name: "Lambda.TooManyRequestsException", Cause: "Rate Exceeded."}
		}
		return f(ctx, input)
	}
}

func (l *throttledLambda) consecutive(name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.run[name]
}

// burstClock is a fake clock whose every wait is checked against the throttling retrier's jitter
// bounds: the n-th consecutive throttle of a step must be followed by a wait in [0, cap(n)].
type burstClock struct {
	mu      sync.Mutex
	now     time.Time
	lambda  *throttledLambda
	retrier retryPolicy
	waits   int
	lowHalf int // waits below half their cap: about half of them, for a uniform (FULL) jitter
	errs    []string
}

func (c *burstClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Millisecond)
	return c.now
}

func (c *burstClock) Sleep(ctx context.Context, d time.Duration) error {
	name := executionOf(ctx)
	n := c.lambda.consecutive(name)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.waits++
	switch limit := c.retrier.cap(n); {
	case n == 0:
		c.errs = append(c.errs, fmt.Sprintf("%s waited %v without being throttled", name, d))
	case d < 0 || d > limit:
		c.errs = append(c.errs, fmt.Sprintf("%s waited %v after %d throttles; FULL jitter allows [0, %v]", name, d, n, limit))
	case d < limit/2:
		c.lowHalf++
	}
	return ctx.Err()
}

// TestBurstOfFiles delivers 500 files at once (plus 50 duplicate deliveries) to the starter, as the SQS
// event source does: batches of the template's BatchSize, at most its MaximumConcurrency at a time,
// failed messages back to the queue until the template's maxReceiveCount sends them to the ingest DLQ.
// StartExecution and the steps' Lambda invocations are throttled at random. Every file must end
// SUCCEEDED by exactly one execution, with no alert (no DLQ message, no notification, no failed
// execution, nothing in the ingest DLQ), and every retry wait within its jitter bounds.
func TestBurstOfFiles(t *testing.T) {
	files, duplicates := burstFiles, burstDuplicates
	if raceEnabled {
		files, duplicates = burstFiles/raceFraction, burstDuplicates/raceFraction
	}
	batchSize, concurrency, maxReceives := ingestSettings(t)
	throttling := lambdaRetriers(t, "Lambda.TooManyRequestsException")
	throttleRetrier := throttling["Transform"]
	for step, r := range throttling {
		if !reflect.DeepEqual(r, throttleRetrier) {
			t.Fatalf("%s retries throttling with %+v, Transform with %+v; the clock's bounds assume one policy", step, r, throttleRetrier)
		}
	}
	transient := lambdaRetriers(t, "Lambda.ServiceException")["Transform"]

	lambda := &throttledLambda{attempts: map[string]int{}, run: map[string]int{}}
	clock := &burstClock{now: time.Date(2024, 5, 7, 9, 0, 0, 0, time.UTC), lambda: lambda, retrier: throttleRetrier}
	var metrics syncBuffer
	e := &env{t: t, clock: newClock(), faults: &storefault.Bucket{}, dir: t.TempDir(), files: t.TempDir()}
	var err error
	// A seeded jitter source: whatever order the executions draw in, the set of draws is the same.
	var randMu sync.Mutex
	rnd := rand.New(rand.NewPCG(burstSeed, burstSeed))
	jitter := func() float64 {
		randMu.Lock()
		defer randMu.Unlock()
		return rnd.Float64()
	}
	e.Env, err = local.Open(e.dir, local.Options{Config: workflow.Config{}, Clock: clock, Rand: jitter,
		Metrics:  obs.NewMetrics(&metrics, "SettleTest").WithClock(clock.Now),
		WrapTask: lambda.wrap})
	if err != nil {
		t.Fatal(err)
	}
	starts := &throttledStarts{Executions: e.Starter.Exec, attempts: map[string]int{}}
	starter := *e.Starter
	starter.Exec = starts

	// Upload every report, then deliver their events all at once.
	type pending struct {
		msg      events.SQSMessage
		receives int
	}
	var queue []*pending
	want := map[string]bool{} // execution names
	for i := range files {
		path := e.report(fmt.Sprintf("settlement_%04d.csv", i), gen.Config{Rows: 12, Seed: uint64(1000 + i), Batch: int64(1000 + i)})
		obj, err := e.Upload(t.Context(), path, local.RawKey(path))
		if err != nil {
			t.Fatal(err)
		}
		want[workflow.ExecutionName(obj.ETag)] = true
		queue = append(queue, &pending{msg: local.ObjectCreatedMessage(obj, clock.Now(), i)})
		if i%(burstFiles/burstDuplicates) == 0 {
			dup := local.ObjectCreatedMessage(obj, clock.Now(), files+i)
			queue = append(queue, &pending{msg: dup})
		}
	}
	if len(want) != files {
		t.Fatalf("%d distinct contents, want %d", len(want), files)
	}

	// The event source: each round, the visible messages in batches, at most `concurrency` invocations
	// at once; a batch item failure comes back next round (after the visibility timeout).
	var ingestDLQ []string
	for round := 1; len(queue) > 0; round++ {
		if round > maxReceives+1 {
			t.Fatalf("messages still queued after %d rounds", round)
		}
		var (
			mu    sync.Mutex
			again []*pending
			wg    sync.WaitGroup
			slots = make(chan struct{}, concurrency)
		)
		for start := 0; start < len(queue); start += batchSize {
			batch := queue[start:min(start+batchSize, len(queue))]
			wg.Add(1)
			slots <- struct{}{}
			go func() {
				defer func() { <-slots; wg.Done() }()
				byID := map[string]*pending{}
				var ev events.SQSEvent
				for _, p := range batch {
					p.receives++
					byID[p.msg.MessageId] = p
					ev.Records = append(ev.Records, p.msg)
				}
				resp, err := starter.Handle(t.Context(), ev)
				if err != nil {
					t.Errorf("the starter failed a whole batch: %v", err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, f := range resp.BatchItemFailures {
					p := byID[f.ItemIdentifier]
					if p == nil {
						t.Errorf("batch item failure %q is not a message of the batch", f.ItemIdentifier)
						continue
					}
					if p.receives >= maxReceives {
						ingestDLQ = append(ingestDLQ, p.msg.MessageId)
						continue
					}
					again = append(again, p)
				}
			}()
		}
		wg.Wait()
		queue = again
	}

	// No alert of any kind.
	if len(ingestDLQ) > 0 {
		t.Errorf("%d messages reached the ingest DLQ after %d receives: %v", len(ingestDLQ), maxReceives, ingestDLQ)
	}
	if d, n := e.dlq(), e.notifications(); len(d)+len(n) > 0 {
		t.Errorf("%d failed-files messages and %d notifications, want none", len(d), len(n))
	}
	// Every file SUCCEEDED, by exactly one execution, never redriven.
	list, err := e.Engine.List()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, x := range list {
		if got[x.Name] {
			t.Errorf("execution %s listed twice", x.Name)
		}
		got[x.Name] = true
		if !want[x.Name] || x.Status != states.Succeeded || x.RedriveCount != 0 {
			t.Errorf("execution %s: %s %s, redriven %d; want a SUCCEEDED execution of an uploaded file", x.Name, x.Status, x.Error, x.RedriveCount)
		}
	}
	if len(got) != files {
		t.Errorf("%d executions for %d files", len(got), files)
	}
	if n := len(e.keys("_manifests/")); n != files {
		t.Errorf("%d manifests, want %d", n, files)
	}
	if n := len(e.keys("settlement_lines/")); n != files {
		t.Errorf("%d Parquet files, want %d", n, files)
	}
	// The metrics tell the story: every file started once, each duplicate counted, every throttled
	// StartExecution a retried message.
	docs, err := emftest.Collect(strings.NewReader(metrics.String()))
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]float64{}
	for _, d := range docs {
		for name, vs := range d.Values {
			for _, v := range vs {
				sums[name] += v
			}
		}
	}
	if sums[obs.FilesStarted] != float64(files) || sums[obs.FilesSucceeded] != float64(files) ||
		sums[obs.DuplicateDeliveries] != float64(duplicates) || sums[obs.RetriedMessages] != float64(starts.throttled) {
		t.Errorf("metrics %v; want %d started and succeeded, %d duplicates, %d retried", sums, files, duplicates, starts.throttled)
	}

	// The waits: each within its bounds, spread as a uniform jitter spreads them, and the throttling
	// outlasted what the transient retrier would have allowed.
	for _, msg := range clock.errs[:min(len(clock.errs), 10)] {
		t.Error(msg)
	}
	if clock.waits != lambda.total {
		t.Errorf("%d retry waits for %d throttled invocations", clock.waits, lambda.total)
	}
	if low := float64(clock.lowHalf) / float64(clock.waits); clock.waits < files/2 || low < 0.4 || low > 0.6 {
		t.Errorf("%d waits, %.2f of them below half their cap; want hundreds, about half (FULL jitter)", clock.waits, low)
	}
	if starts.throttled == 0 {
		t.Error("StartExecution was never throttled")
	}
	if lambda.longest <= transient.MaxAttempts {
		t.Errorf("at most %d throttles in a row: the burst did not outlast the transient retrier's %d attempts", lambda.longest, transient.MaxAttempts)
	}
	t.Logf("%d files, %d duplicate deliveries; StartExecution throttled %d times; Lambda throttled %d times, up to %d in a row (the transient retrier allows %d); %d waits, %.2f below half their cap",
		files, duplicates, starts.throttled, lambda.total, lambda.longest, transient.MaxAttempts, clock.waits, float64(clock.lowHalf)/float64(clock.waits))
}
