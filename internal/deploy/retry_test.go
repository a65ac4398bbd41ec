package deploy

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paysettle/settle/internal/workflow"
	"github.com/paysettle/settle/statemachine"
)

// Step Functions reads a Retry list top to bottom and uses only the FIRST retrier whose ErrorEquals
// matches; asl-validator checks none of that, nor a BackoffRate below 1, a bad JitterStrategy or
// States.ALL out of place. These tests pin the definition's retry policy as AWS will run it.

// retrier is one entry of a state's Retry, with Step Functions' defaults filled in.
type retrier struct {
	ErrorEquals     []string
	IntervalSeconds *float64
	MaxAttempts     *int
	BackoffRate     *float64
	MaxDelaySeconds *float64
	JitterStrategy  string
}

func (r retrier) interval() float64 { return deref(r.IntervalSeconds, 1) }
func (r retrier) attempts() int     { return deref(r.MaxAttempts, 3) }
func (r retrier) backoff() float64  { return deref(r.BackoffRate, 2) }

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// cap is the longest wait before retry n (1-based): IntervalSeconds × BackoffRate^(n−1), capped at
// MaxDelaySeconds. With JitterStrategy FULL the actual wait is uniform between 0 and it.
func (r retrier) cap(n int) time.Duration {
	d := r.interval() * math.Pow(r.backoff(), float64(n-1))
	if r.MaxDelaySeconds != nil && d > *r.MaxDelaySeconds {
		d = *r.MaxDelaySeconds
	}
	return time.Duration(d * float64(time.Second))
}

// worstCase is the longest an error can keep a state retrying: every wait at its cap.
func (r retrier) worstCase() time.Duration {
	var total time.Duration
	for n := 1; n <= r.attempts(); n++ {
		total += r.cap(n)
	}
	return total
}

type taskState struct {
	Type     string
	Resource string
	Retry    []retrier
}

func definitionTasks(t *testing.T) map[string]taskState {
	t.Helper()
	var d struct{ States map[string]taskState }
	if err := json.Unmarshal(statemachine.Definition, &d); err != nil {
		t.Fatal(err)
	}
	out := map[string]taskState{}
	for name, s := range d.States {
		if s.Type == "Task" {
			out[name] = s
		}
	}
	return out
}

// lambdaResource matches the definition's Lambda tasks (a function ARN substituted by SAM).
var lambdaResource = regexp.MustCompile(`^\$\{[A-Za-z]+FunctionArn\}$`)

// firstMatch is the retrier Step Functions uses for an error name, or -1. States.ALL matches every
// error but States.Runtime.
func firstMatch(rs []retrier, name string) int {
	for i, r := range rs {
		for _, e := range r.ErrorEquals {
			if e == name || e == "States.ALL" && name != "States.Runtime" {
				return i
			}
		}
	}
	return -1
}

// Lambda's transient invocation errors, as Step Functions names them, and the handlers' own.
var transientErrors = []string{"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
	"Lambda.ClientExecutionTimeoutException", "TransientError"}

const throttled = "Lambda.TooManyRequestsException"

// ThrottleWaitMinutes is the worst-case total wait of a step that Lambda keeps throttling, rounded
// down: docs/operations.md states it, and the definition must keep it in tens of
// minutes (a burst drains) but not hours (a stuck function still fails, alerts and can be redriven).
const ThrottleWaitMinutes = 45

func TestRetryPolicy(t *testing.T) {
	tasks := definitionTasks(t)
	if len(tasks) == 0 {
		t.Fatal("no Task states in the definition")
	}
	lambdas := 0
	for name, st := range tasks {
		// What asl-validator lets through.
		for i, r := range st.Retry {
			where := fmt.Sprintf("%s: retrier %d %v", name, i, r.ErrorEquals)
			if len(r.ErrorEquals) == 0 {
				t.Errorf("%s: empty ErrorEquals", where)
			}
			if slices.Contains(r.ErrorEquals, "States.ALL") && (len(r.ErrorEquals) != 1 || i != len(st.Retry)-1) {
				t.Errorf("%s: States.ALL must be alone in the last retrier", where)
			}
			if r.backoff() < 1 {
				t.Errorf("%s: BackoffRate %v is below 1", where, r.backoff())
			}
			if r.interval() < 1 || r.attempts() < 0 {
				t.Errorf("%s: IntervalSeconds %v, MaxAttempts %d out of range", where, r.interval(), r.attempts())
			}
			if r.JitterStrategy != "FULL" {
				t.Errorf("%s: JitterStrategy %q, want FULL: executions that fail together must not retry together", where, r.JitterStrategy)
			}
			if r.MaxDelaySeconds == nil {
				t.Errorf("%s: no MaxDelaySeconds: the waits would grow without bound", where)
			}
			for j, e := range r.ErrorEquals {
				if slices.Contains(r.ErrorEquals[j+1:], e) || firstMatch(st.Retry[:i], e) >= 0 {
					t.Errorf("%s: %s is already matched before; this entry is never used", where, e)
				}
			}
		}
		if !lambdaResource.MatchString(st.Resource) {
			continue
		}
		lambdas++
		for _, e := range caughtErrors(t) {
			if i := firstMatch(st.Retry, e); i >= 0 {
				t.Errorf("%s retries the data error %s (retrier %d): retrying cannot fix a file", name, e, i)
			}
		}
		if i := firstMatch(st.Retry, "StorageError"); i >= 0 {
			t.Errorf("%s retries StorageError (retrier %d): access denied stays denied", name, i)
		}
		ti := firstMatch(st.Retry, throttled)
		if ti < 0 {
			t.Errorf("%s does not retry %s", name, throttled)
			continue
		}
		thr := st.Retry[ti]
		if got := thr.worstCase(); got < 10*time.Minute || got > time.Hour {
			t.Errorf("%s: throttling waits at most %v in all, want tens of minutes", name, got)
		} else if m := int(got / time.Minute); m != ThrottleWaitMinutes {
			t.Errorf("%s: throttling waits at most %d minutes, the docs say %d (ThrottleWaitMinutes)", name, m, ThrottleWaitMinutes)
		}
		if first := thr.cap(1); first > 10*time.Second {
			t.Errorf("%s: the first wait after a throttle may be %v; a brief throttle should cost seconds", name, first)
		}
		for _, e := range transientErrors {
			i := firstMatch(st.Retry, e)
			if i < 0 {
				t.Errorf("%s does not retry %s", name, e)
				continue
			}
			if i == ti {
				t.Errorf("%s: %s shares the throttling retrier; a failing service would be retried for %v", name, e, thr.worstCase())
			}
			if w := st.Retry[i].worstCase(); w >= thr.worstCase() {
				t.Errorf("%s: %s retries for %v, no shorter than throttling (%v)", name, e, w, thr.worstCase())
			}
		}
	}
	if lambdas != 4 {
		t.Errorf("%d Lambda tasks, want 4 (Check, Validate, Transform, Write)", lambdas)
	}
}

// TestRetryPolicyChecks makes sure the checks above catch the mistakes they are for.
func TestRetryPolicyChecks(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	n := func(v int) *int { return &v }
	general := retrier{ErrorEquals: []string{"Lambda.ServiceException", throttled}, IntervalSeconds: f(2), MaxAttempts: n(6), BackoffRate: f(2), MaxDelaySeconds: f(60)}
	long := retrier{ErrorEquals: []string{throttled}, IntervalSeconds: f(5), MaxAttempts: n(14), BackoffRate: f(2), MaxDelaySeconds: f(300)}
	// Listed after a retrier that also names it, the long retrier is never used.
	if got := firstMatch([]retrier{general, long}, throttled); got != 0 {
		t.Errorf("firstMatch = %d, want 0", got)
	}
	if got := general.worstCase(); got != 122*time.Second {
		t.Errorf("2s×2^n capped at 60s, 6 attempts: worst case %v, want 2m2s", got)
	}
	if got := long.worstCase(); got != 2715*time.Second {
		t.Errorf("5s×2^n capped at 300s, 14 attempts: worst case %v, want 45m15s", got)
	}
	if got := firstMatch([]retrier{{ErrorEquals: []string{"States.ALL"}}}, "States.Runtime"); got != -1 {
		t.Errorf("States.ALL matched States.Runtime")
	}
}

// TestThrottleWaitDocumented: the operations guide (limits and runbook) states the worst-case wait the
// definition has.
func TestThrottleWaitDocumented(t *testing.T) {
	want := fmt.Sprintf("%d minutes", ThrottleWaitMinutes)
	for _, f := range []string{"docs/operations.md"} {
		if !strings.Contains(string(readFile(t, f)), want) {
			t.Errorf("%s does not say that throttling is retried for up to %s", f, want)
		}
	}
}

// TestDataErrorsAreTheCaughtOnes: the errors the starter and the operator commands treat as a rejected
// file (workflow.DataErrors) are exactly those the definition catches.
func TestDataErrorsAreTheCaughtOnes(t *testing.T) {
	got := slices.Clone(workflow.DataErrors)
	slices.Sort(got)
	if want := caughtErrors(t); !slices.Equal(got, want) {
		t.Errorf("workflow.DataErrors = %v, the definition catches %v", got, want)
	}
}
