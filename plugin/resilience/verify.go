package resilience

import (
	"fmt"
	"time"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/loadgen"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/stats"
)

// Expectation is what a change should show under load.
type Expectation struct {
	// CircuitBreaker expects some calls to be refused with 503.
	CircuitBreaker bool
	// Timeout expects no call to take much longer than it (504s instead).
	Timeout time.Duration
	// Delay expects DelayPercent of the calls to take at least Delay.
	Delay        time.Duration
	DelayPercent float64
	// AbortStatus expects AbortPercent of the calls to get that status.
	AbortStatus  int
	AbortPercent float64
}

// IsEmpty reports whether nothing is expected (a retry policy, say, which
// a client cannot see).
func (e Expectation) IsEmpty() bool {
	return !e.CircuitBreaker && e.Timeout == 0 && e.Delay == 0 && e.AbortStatus == 0
}

// Load returns the run that shows the expectation: the circuit breaker
// as in Istio's task (2 connections, 20 calls, as fast as possible),
// delays and timeouts with every call in flight at once so the run takes
// one delay, aborts with enough calls to estimate a share. The per-call
// timeout leaves room for the delay or timeout to show.
func (e Expectation) Load() (connections int, calls int64, timeout time.Duration) {
	connections, calls, timeout = 2, 20, loadgen.DefaultTimeout
	switch {
	case e.Delay > 0 || e.Timeout > 0:
		connections, calls = 5, 10
		if e.Delay > 0 && e.DelayPercent < 100 {
			connections, calls = 10, 50
		}
	case e.AbortStatus != 0:
		connections, calls = 2, 50
	}
	if e.Delay > 0 || e.Timeout > 0 {
		timeout = max(timeout, e.Delay+5*time.Second, e.Timeout+5*time.Second)
	}
	return connections, calls, timeout
}

// Verdict is one expectation checked against a run.
type Verdict struct {
	Check  string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// timeoutSlack is how much longer than a timeout a call may take: the
// proxy's own work and the client's connection, half the timeout and at
// least a quarter second.
func timeoutSlack(timeout time.Duration) time.Duration {
	return max(timeout/2, 250*time.Millisecond)
}

// Judge checks each expectation against Fortio's result.
func Judge(e Expectation, res *loadgen.Result) []Verdict {
	var out []Verdict
	total := res.DurationHistogram.Count
	share := func(n int64) string {
		if total == 0 {
			return "0 of 0"
		}
		return fmt.Sprintf("%d of %d (%.1f%%)", n, total, 100*float64(n)/float64(total))
	}
	if e.CircuitBreaker {
		n := res.RetCodes[503]
		v := Verdict{Check: "circuit breaker", OK: n > 0}
		if v.OK {
			v.Detail = fmt.Sprintf("503 for %s calls at -c %d: the connection pool overflowed as configured", share(n), res.NumThreads)
		} else {
			v.Detail = fmt.Sprintf("no 503 in %d calls at -c %d: DestinationRule limits are enforced by the calling sidecar, so load through the ingress gateway or with --in-cluster, and with more connections than maxConnections", total, res.NumThreads)
		}
		out = append(out, v)
	}
	if e.Timeout > 0 {
		slowest := seconds(res.DurationHistogram.Max)
		n := res.RetCodes[504]
		v := Verdict{Check: "timeout", OK: slowest <= e.Timeout+timeoutSlack(e.Timeout)}
		switch {
		case !v.OK:
			v.Detail = fmt.Sprintf("the slowest call took %v, more than the %v timeout: it is not applied to this URL's route", slowest, e.Timeout)
		case n > 0:
			v.Detail = fmt.Sprintf("504 for %s calls, after %v on average (timeout %v); slowest call %v", share(n), seconds(res.ErrorsDurationHistogram.Avg), e.Timeout, slowest)
		default:
			v.Detail = fmt.Sprintf("no 504: every call answered within the %v timeout (slowest %v)", e.Timeout, slowest)
		}
		out = append(out, v)
	}
	if e.Delay > 0 {
		out = append(out, judgeDelay(e, res, share))
	}
	if e.AbortStatus != 0 {
		n := res.RetCodes[e.AbortStatus]
		v := Verdict{Check: "abort"}
		v.OK, v.Detail = judgeShare(n, total, e.AbortPercent)
		v.Detail = fmt.Sprintf("%d for %s calls, %g%% injected%s", e.AbortStatus, share(n), e.AbortPercent, v.Detail)
		out = append(out, v)
	}
	return out
}

// judgeDelay counts the calls that took at least most of the delay (the
// histogram's buckets starting at 90% of it: undelayed calls are far
// quicker) and compares their share with the injected percentage.
func judgeDelay(e Expectation, res *loadgen.Result, share func(int64) string) Verdict {
	threshold := 0.9 * e.Delay.Seconds()
	var slow int64
	for _, b := range res.DurationHistogram.Data {
		if b.Start >= threshold {
			slow += b.Count
		}
	}
	v := Verdict{Check: "delay"}
	if e.DelayPercent >= 100 {
		fastest := seconds(res.DurationHistogram.Min)
		v.OK = res.DurationHistogram.Count > 0 && res.DurationHistogram.Min >= threshold
		v.Detail = fmt.Sprintf("the fastest of %d calls took %v (delay %v injected into all)", res.DurationHistogram.Count, fastest, e.Delay)
		return v
	}
	var detail string
	v.OK, detail = judgeShare(slow, res.DurationHistogram.Count, e.DelayPercent)
	v.Detail = fmt.Sprintf("%s calls took at least %v, %g%% delayed by %v%s", share(slow), seconds(threshold), e.DelayPercent, e.Delay, detail)
	return v
}

// judgeShare tests n of total against percent at the 99% level.
func judgeShare(n, total int64, percent float64) (bool, string) {
	if total == 0 {
		return false, ": no calls"
	}
	r := stats.GoodnessOfFit([]int{int(n), int(total - n)}, []float64{percent, 100 - percent})
	if r.Significant(0.01) {
		return false, fmt.Sprintf("; differs significantly (p = %.3g, %s)", r.PValue, r.Method)
	}
	return true, fmt.Sprintf("; consistent (p = %.3g)", r.PValue)
}

func seconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond)
}
