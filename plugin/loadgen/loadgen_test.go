package loadgen

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fortio.org/log"
)

// everyNth answers 503 to every nth request (counted across connections,
// so the share is exact whatever the interleaving), 200 otherwise: an
// Istio circuit breaker in miniature.
func everyNth(n int64) (*httptest.Server, *atomic.Int64) {
	var count atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if count.Add(1)%n == 0 {
			http.Error(w, "upstream connect error or disconnect/reset before headers", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	}))
	return srv, &count
}

// delaying answers 200 after d, or gives up when the client goes away.
func delaying(d time.Duration) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(d):
			_, _ = w.Write([]byte("slow ok\n"))
		case <-r.Context().Done():
		}
	}))
}

func ok() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	}))
}

func mustRun(t *testing.T, o Options) *Result {
	t.Helper()
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

func TestExactCallsAndReturnCodes(t *testing.T) {
	srv, served := everyNth(5)
	defer srv.Close()
	res := mustRun(t, Options{URL: srv.URL, Concurrency: 2, Exactly: 20})
	if got := res.DurationHistogram.Count; got != 20 {
		t.Errorf("calls = %d, want 20", got)
	}
	if got := served.Load(); got != 20 {
		t.Errorf("server saw %d requests, want 20 (no warm-up with -n)", got)
	}
	if res.RetCodes[200] != 16 || res.RetCodes[503] != 4 || len(res.RetCodes) != 2 {
		t.Errorf("RetCodes = %v, want 200:16 503:4", res.RetCodes)
	}
	if res.ErrorsDurationHistogram.Count != 4 {
		t.Errorf("error cases = %d, want 4", res.ErrorsDurationHistogram.Count)
	}
	if res.NumThreads != 2 || res.RequestedQPS != "max" {
		t.Errorf("NumThreads %d RequestedQPS %q, want 2 and max", res.NumThreads, res.RequestedQPS)
	}
	if Responses(res) != 20 {
		t.Errorf("Responses = %d, want 20", Responses(res))
	}
	// fortio's fast client drops the connection after a non-2xx answer:
	// 2 connections plus one reconnection per 503.
	if res.SocketCount < 2 || len(res.Sockets) != 2 {
		t.Errorf("SocketCount %d Sockets %v", res.SocketCount, res.Sockets)
	}
}

func TestExactCallsEdgeCases(t *testing.T) {
	srv, _ := everyNth(1 << 40)
	defer srv.Close()
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"leftover at max qps", Options{Concurrency: 3, Exactly: 7}},
		{"leftover at a rate", Options{Concurrency: 3, Exactly: 7, QPS: 500}},
		{"fewer calls than connections", Options{Concurrency: 8, Exactly: 3}},
		{"fewer calls than connections at a rate", Options{Concurrency: 8, Exactly: 3, QPS: 500}},
		{"one call", Options{Concurrency: 4, Exactly: 1, QPS: 500}},
		{"default concurrency", Options{Exactly: 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.URL = srv.URL
			res := mustRun(t, tc.o)
			if res.DurationHistogram.Count != tc.o.Exactly || res.RetCodes[200] != tc.o.Exactly {
				t.Errorf("calls %d, RetCodes %v, want %d", res.DurationHistogram.Count, res.RetCodes, tc.o.Exactly)
			}
		})
	}
}

func TestRateIsHonoured(t *testing.T) {
	srv := ok()
	defer srv.Close()
	// 20 calls at 100 qps take about 190 ms (first call at 0).
	res := mustRun(t, Options{URL: srv.URL, Concurrency: 2, Exactly: 20, QPS: 100})
	if res.ActualDuration < 150*time.Millisecond || res.ActualQPS > 130 {
		t.Errorf("took %v at %.1f qps, want about 190ms at 100 qps", res.ActualDuration, res.ActualQPS)
	}
	if res.RequestedQPS != "100" {
		t.Errorf("RequestedQPS = %q", res.RequestedQPS)
	}
}

func TestLatencyPercentilesAtLeastTheDelay(t *testing.T) {
	const delay = 50 * time.Millisecond
	srv := delaying(delay)
	defer srv.Close()
	res := mustRun(t, Options{URL: srv.URL, Concurrency: 2, Exactly: 10})
	h := res.DurationHistogram
	if h.Count != 10 || res.RetCodes[200] != 10 {
		t.Fatalf("calls %d codes %v", h.Count, res.RetCodes)
	}
	if h.Min < delay.Seconds() {
		t.Errorf("min latency %v < delay %v", h.Min, delay)
	}
	want := map[float64]bool{50: true, 75: true, 90: true, 99: true, 99.9: true}
	for _, p := range h.Percentiles {
		if p.Value < delay.Seconds() {
			t.Errorf("p%g = %gs, below the %v delay", p.Percentile, p.Value, delay)
		}
		delete(want, p.Percentile)
	}
	if len(want) != 0 {
		t.Errorf("missing percentiles %v in %v", want, h.Percentiles)
	}
}

func TestHeadersAreSent(t *testing.T) {
	var mu sync.Mutex
	var seen []*http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r)
		mu.Unlock()
	}))
	defer srv.Close()
	mustRun(t, Options{
		URL: srv.URL + "/productpage", Concurrency: 1, Exactly: 2,
		Headers: []string{"end-user: jason", "X-Canary:v2", "X-Canary: v3", "Host: bookinfo.example.com"},
	})
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 {
		t.Fatalf("server saw %d requests, want 2", len(seen))
	}
	for _, r := range seen {
		if got := r.Header.Get("End-User"); got != "jason" {
			t.Errorf("end-user = %q, want jason", got)
		}
		if got := r.Header.Values("X-Canary"); strings.Join(got, ",") != "v2,v3" {
			t.Errorf("X-Canary = %q, want [v2 v3]", got)
		}
		if r.Host != "bookinfo.example.com" {
			t.Errorf("Host = %q, want bookinfo.example.com", r.Host)
		}
		if r.URL.Path != "/productpage" {
			t.Errorf("path = %q", r.URL.Path)
		}
		if !strings.HasPrefix(r.UserAgent(), "fortio.org/fortio-") {
			t.Errorf("User-Agent = %q, want fortio's", r.UserAgent())
		}
	}
}

func TestTimeoutsAreSocketErrors(t *testing.T) {
	srv := delaying(5 * time.Second)
	defer srv.Close()
	start := time.Now()
	res := mustRun(t, Options{URL: srv.URL, Concurrency: 2, Exactly: 4, Timeout: 100 * time.Millisecond})
	if res.RetCodes[SocketError] != 4 || len(res.RetCodes) != 1 {
		t.Errorf("RetCodes = %v, want -1:4", res.RetCodes)
	}
	if res.ErrorsDurationHistogram.Count != 4 {
		t.Errorf("error cases = %d, want 4", res.ErrorsDurationHistogram.Count)
	}
	if Responses(res) != 0 {
		t.Errorf("Responses = %d, want 0", Responses(res))
	}
	if res.DurationHistogram.Min < 0.09 {
		t.Errorf("a timed out call took %gs, less than the 100ms timeout", res.DurationHistogram.Min)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("run took %v: timeouts not applied", el)
	}
}

func TestConnectionRefusedIsData(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	res := mustRun(t, Options{URL: "http://" + addr + "/", Concurrency: 2, Exactly: 6})
	if res.RetCodes[SocketError] != 6 || Responses(res) != 0 {
		t.Errorf("RetCodes = %v, want -1:6", res.RetCodes)
	}
	if got := log.GetLogLevel(); got != log.Critical {
		t.Errorf("fortio log level %v, want Critical (the engine must not print)", got)
	}
}

func TestDurationBound(t *testing.T) {
	srv := ok()
	defer srv.Close()
	const d = 300 * time.Millisecond
	start := time.Now()
	res := mustRun(t, Options{URL: srv.URL, Concurrency: 2, Duration: d})
	wall := time.Since(start)
	if res.ActualDuration < d || res.ActualDuration > d+500*time.Millisecond {
		t.Errorf("ActualDuration %v, want about %v", res.ActualDuration, d)
	}
	if wall > 2*time.Second {
		t.Errorf("Run took %v for -t %v", wall, d)
	}
	if res.DurationHistogram.Count < 10 || res.RequestedDuration != d.String() {
		t.Errorf("calls %d, RequestedDuration %q", res.DurationHistogram.Count, res.RequestedDuration)
	}
	// At a rate too: 4 qps for 500ms is 2 calls.
	res = mustRun(t, Options{URL: srv.URL, Concurrency: 1, Duration: 500 * time.Millisecond, QPS: 4})
	if res.DurationHistogram.Count != 2 || res.ActualDuration > time.Second {
		t.Errorf("calls %d in %v, want 2 in about 500ms", res.DurationHistogram.Count, res.ActualDuration)
	}
}

func TestContextCancellationStopsTheRun(t *testing.T) {
	srv := ok()
	defer srv.Close()
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"until stopped", Options{Concurrency: 2, Duration: -1}},
		{"long duration at a rate", Options{Concurrency: 2, Duration: time.Hour, QPS: 50}},
		{"many calls", Options{Concurrency: 2, Exactly: 1 << 40, QPS: 50}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.URL = srv.URL
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			res, err := Run(ctx, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if el := time.Since(start); el > 2*time.Second {
				t.Errorf("cancelled run took %v", el)
			}
			if res.DurationHistogram.Count == 0 || res.RetCodes[200] != res.DurationHistogram.Count {
				t.Errorf("calls %d codes %v", res.DurationHistogram.Count, res.RetCodes)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, Options{URL: srv.URL, Exactly: 5}); !errors.Is(err, context.Canceled) {
		t.Errorf("Run on a cancelled context: %v, want context.Canceled", err)
	}
}

func TestWarmup(t *testing.T) {
	srv, _ := everyNth(1) // always 503
	defer srv.Close()
	_, err := Run(context.Background(), Options{URL: srv.URL, Concurrency: 2, Duration: 100 * time.Millisecond})
	if !errors.Is(err, ErrWarmup) || !strings.Contains(err.Error(), "503") {
		t.Errorf("err = %v, want the warm-up error naming 503", err)
	}
	res := mustRun(t, Options{URL: srv.URL, Concurrency: 2, Duration: 100 * time.Millisecond, AllowInitialErrors: true})
	if res.RetCodes[503] == 0 || res.RetCodes[503] != res.DurationHistogram.Count {
		t.Errorf("RetCodes = %v", res.RetCodes)
	}
}

func TestValidate(t *testing.T) {
	for _, o := range []Options{
		{},
		{URL: "ftp://example.com/"},
		{URL: "http://"},
		{URL: "http://host:port/"},
		{URL: "http://h/", Concurrency: -1},
		{URL: "http://h/", Exactly: -1},
		{URL: "http://h/", Timeout: -time.Second},
		{URL: "http://h/", Headers: []string{"no colon"}},
		{URL: "http://h/", Headers: []string{": no name"}},
	} {
		if err := o.Validate(); err == nil {
			t.Errorf("%+v: no error", o)
		}
		if _, err := Run(context.Background(), o); err == nil {
			t.Errorf("Run(%+v): no error", o)
		}
	}
	for in, want := range map[string]string{
		"127.0.0.1:8080/productpage": "http://127.0.0.1:8080/productpage",
		"HTTPS://h/":                 "HTTPS://h/",
		"http://[::1]:80/":           "http://[::1]:80/",
	} {
		if got, err := ValidateURL(in); err != nil || got != want {
			t.Errorf("ValidateURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// BenchmarkLoadEngine measures the engine's throughput against a local
// server: 16 connections, 100000 calls, max qps. Run it with
//
//	go test ./plugin/loadgen -run XXX -bench BenchmarkLoadEngine -benchtime 1x
func BenchmarkLoadEngine(b *testing.B) {
	body := []byte("ok\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	const calls = 100000
	var total, sockets int64
	var elapsed time.Duration
	for b.Loop() {
		res, err := Run(context.Background(), Options{URL: srv.URL, Concurrency: 16, Exactly: calls})
		if err != nil {
			b.Fatal(err)
		}
		if res.RetCodes[200] != calls {
			b.Fatalf("RetCodes = %v", res.RetCodes)
		}
		total += res.DurationHistogram.Count
		elapsed += res.ActualDuration
		sockets = res.SocketCount
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "requests/s")
	b.ReportMetric(float64(sockets), "sockets")
}
