package resilience

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/loadgen"
)

// server answers with the status status(n) for the n-th call (from 1),
// after delay(n).
func server(t *testing.T, status func(n int64) int, delay func(n int64) time.Duration) *httptest.Server {
	t.Helper()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := calls.Add(1)
		if delay != nil {
			time.Sleep(delay(n))
		}
		w.WriteHeader(status(n))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func ok(int64) int { return http.StatusOK }

func load(t *testing.T, e Expectation, srv *httptest.Server) *loadgen.Result {
	t.Helper()
	c, n, timeout := e.Load()
	res, err := loadgen.Run(context.Background(), loadgen.Options{URL: srv.URL, Concurrency: c, Exactly: n, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestJudge(t *testing.T) {
	const delay = 150 * time.Millisecond
	tests := []struct {
		name   string
		e      Expectation
		status func(int64) int
		delay  func(int64) time.Duration
		ok     bool
		detail string
	}{
		{"circuit breaker opened", Expectation{CircuitBreaker: true}, func(n int64) int {
			if n%5 == 0 {
				return 503
			}
			return 200
		}, nil, true, "503 for 4 of 20 (20.0%) calls at -c 2"},
		{"circuit breaker never opened", Expectation{CircuitBreaker: true}, ok, nil, false, "no 503 in 20 calls at -c 2"},
		{"timeout cut the calls", Expectation{Timeout: delay}, func(int64) int { return 504 }, func(int64) time.Duration { return delay }, true, "504 for 10 of 10 (100.0%) calls, after 15"},
		{"fast calls need no timeout", Expectation{Timeout: delay}, ok, nil, true, "no 504: every call answered within the 150ms timeout"},
		{"timeout not applied", Expectation{Timeout: 10 * time.Millisecond}, ok, func(int64) time.Duration { return 400 * time.Millisecond }, false, "more than the 10ms timeout"},
		{"every call delayed", Expectation{Delay: delay, DelayPercent: 100}, ok, func(int64) time.Duration { return delay }, true, "the fastest of 10 calls took 15"},
		{"delay missing", Expectation{Delay: delay, DelayPercent: 100}, ok, nil, false, "the fastest of 10 calls took "},
		{"half delayed", Expectation{Delay: delay, DelayPercent: 50}, ok, func(n int64) time.Duration {
			if n%2 == 0 {
				return delay
			}
			return 0
		}, true, "25 of 50 (50.0%) calls took at least 135ms, 50% delayed by 150ms; consistent (p = 1)"},
		{"all aborted", Expectation{AbortStatus: 503, AbortPercent: 100}, func(int64) int { return 503 }, nil, true, "503 for 50 of 50 (100.0%) calls, 100% injected"},
		{"a tenth aborted, not a half", Expectation{AbortStatus: 503, AbortPercent: 50}, func(n int64) int {
			if n%10 == 0 {
				return 503
			}
			return 200
		}, nil, false, "503 for 5 of 50 (10.0%) calls, 50% injected; differs significantly"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // the calls mostly sleep
			res := load(t, tt.e, server(t, tt.status, tt.delay))
			v := Judge(tt.e, res)
			if len(v) != 1 {
				t.Fatalf("%d verdicts", len(v))
			}
			if v[0].OK != tt.ok || !strings.Contains(v[0].Detail, tt.detail) {
				t.Errorf("%+v\nwant ok=%v and %q", v[0], tt.ok, tt.detail)
			}
		})
	}
}

func TestExpectationLoad(t *testing.T) {
	tests := []struct {
		e       Expectation
		c       int
		n       int64
		timeout time.Duration
	}{
		{Expectation{CircuitBreaker: true}, 2, 20, loadgen.DefaultTimeout},
		{Expectation{Timeout: 2 * time.Second}, 5, 10, 7 * time.Second},
		{Expectation{Delay: 10 * time.Second, DelayPercent: 100}, 5, 10, 15 * time.Second},
		{Expectation{Delay: 10 * time.Second, DelayPercent: 20}, 10, 50, 15 * time.Second},
		{Expectation{AbortStatus: 503, AbortPercent: 100}, 2, 50, loadgen.DefaultTimeout},
	}
	for _, tt := range tests {
		c, n, timeout := tt.e.Load()
		if c != tt.c || n != tt.n || timeout != tt.timeout {
			t.Errorf("%+v: -c %d -n %d --timeout %v, want %d %d %v", tt.e, c, n, timeout, tt.c, tt.n, tt.timeout)
		}
	}
	if !(Expectation{}).IsEmpty() || (Expectation{Timeout: 1}).IsEmpty() {
		t.Error("IsEmpty")
	}
}
