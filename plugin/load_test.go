package plugin

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// circuitBreaker answers 503 to every 5th request, 200 otherwise, counting
// across connections: -c 2 -n 20 gets exactly 16 200s and 4 503s.
func circuitBreaker(t *testing.T) *httptest.Server {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1)%5 == 0 {
			http.Error(w, "upstream connect error or disconnect/reset before headers. reset reason: overflow", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("<html>productpage</html>\n"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestLoadTextReport(t *testing.T) {
	srv := circuitBreaker(t)
	out, errOut, code := run(t, "", "load", srv.URL+"/productpage", "-c", "2", "-n", "20", "--qps", "0")
	if code != ExitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{
		"Target: " + srv.URL + "/productpage\n",
		"2 connection(s), max qps, exactly 20 calls\n",
		"Aggregated Function Time : count 20 ",
		"# range, mid point, percentile, count\n",
		"Error cases : count 4 ",
		"# target 50% ", "# target 75% ", "# target 90% ", "# target 99% ", "# target 99.9% ",
		"Latency (ms): p50 ",
		", p99.9 ",
		"Sockets used: ",
		"Code 200 : 16 (80.0 %)\n",
		"Code 503 : 4 (20.0 %)\n",
		"All done 20 calls (plus 0 warmup) ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "Code 200") > strings.Index(out, "Code 503") {
		t.Errorf("codes not sorted:\n%s", out)
	}
}

// TestLoadFortioSpellings: the tutorial's `fortio load -c 2 -qps 0 -n 20
// -loglevel Warning` runs with --qps and --loglevel, and the single-dash
// spellings get a hint instead of pflag's puzzle about shorthand flags.
func TestLoadFortioSpellings(t *testing.T) {
	srv := circuitBreaker(t)
	out, errOut, code := run(t, "", "load", "-c", "2", "--qps", "0", "-n", "20", "--loglevel", "Warning", srv.URL+"/get")
	if code != ExitOK || errOut != "" || !strings.Contains(out, "Code 503 : 4 (20.0 %)\n") {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
	for _, tc := range []struct{ arg, want string }{
		{"-qps", "did you mean --qps?"},
		{"-loglevel", "did you mean --loglevel?"},
	} {
		_, errOut, code := run(t, "", "load", srv.URL, "-n", "1", tc.arg, "0")
		if code != ExitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, stderr %q, want %q", tc.arg, code, errOut, tc.want)
		}
	}
}

func TestLoadJSONIsFortios(t *testing.T) {
	srv := circuitBreaker(t)
	out, errOut, code := run(t, "", "load", srv.URL, "-c", "2", "-n", "20", "--qps", "0", "-o", "json")
	if code != ExitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var res struct {
		RetCodes          map[int]int64
		ActualQPS         float64
		NumThreads        int
		RequestedQPS      string
		RequestedDuration string
		Exactly           int64
		URL               string
		SocketCount       int64
		Sockets           []int64
		DurationHistogram struct {
			Count int64
			Data  []struct {
				Start, End, Percent float64
				Count               int64
			}
			Percentiles []struct{ Percentile, Value float64 }
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if res.RetCodes[200] != 16 || res.RetCodes[503] != 4 {
		t.Errorf("RetCodes = %v", res.RetCodes)
	}
	if res.ActualQPS <= 0 || res.NumThreads != 2 || res.RequestedQPS != "max" || res.Exactly != 20 ||
		res.RequestedDuration != "exactly 20 calls" || res.URL != srv.URL || len(res.Sockets) != 2 {
		t.Errorf("unexpected result %+v", res)
	}
	if res.DurationHistogram.Count != 20 || len(res.DurationHistogram.Data) == 0 || len(res.DurationHistogram.Percentiles) != 5 {
		t.Errorf("DurationHistogram = %+v", res.DurationHistogram)
	}
	// fortio's own indentation, so diffs against `fortio load -json` stay small.
	if !strings.HasPrefix(out, "{\n  \"RunType\": \"HTTP\",\n") || !strings.HasSuffix(out, "}\n") {
		t.Errorf("not fortio's JSON layout:\n%.200s", out)
	}
}

func TestLoadDuration(t *testing.T) {
	srv := circuitBreaker(t)
	start := time.Now()
	out, errOut, code := run(t, "", "load", srv.URL, "-t", "300ms", "--qps", "0", "-c", "2", "--allow-initial-errors")
	if code != ExitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("-t 300ms took %v", el)
	}
	if !strings.Contains(out, "max qps, 300ms\n") || !strings.Contains(out, "(plus 2 warmup)") {
		t.Errorf("output:\n%s", out)
	}
}

func TestLoadDefaultsAreFortios(t *testing.T) {
	srv := circuitBreaker(t)
	// 4 connections at 8 qps in total by default: 8 calls, 2 per
	// connection, the second one a second after the first (fortio spreads
	// -n calls over the period).
	out, errOut, code := run(t, "", "load", strings.TrimPrefix(srv.URL, "http://"), "-n", "8")
	if code != ExitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if !strings.Contains(out, "4 connection(s), 8 qps, exactly 8 calls\n") || !strings.Contains(out, "Target: "+srv.URL+"\n") {
		t.Errorf("output:\n%s", out)
	}
}

func TestLoadHeaders(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("End-User") + "|" + r.Host)
	}))
	defer srv.Close()
	_, errOut, code := run(t, "", "load", srv.URL, "-n", "2", "--qps", "0", "-H", "end-user: jason", "-H", "Host: reviews")
	if code != ExitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if v, _ := got.Load().(string); v != "jason|reviews" {
		t.Errorf("server saw %q, want jason|reviews", v)
	}
}

func TestLoadFailures(t *testing.T) {
	addr := closedPort(t)
	// Nothing answers: the results are printed, and the exit code says the
	// run could not be done.
	out, errOut, code := run(t, "", "load", "http://"+addr+"/", "-n", "4", "--qps", "0")
	if code != ExitFailed || !strings.Contains(out, "Code  -1 : 4 (100.0 %)") || !strings.Contains(errOut, "none of the 4 calls") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr: %s", code, out, errOut)
	}
	// Timeouts count as -1 as well.
	slow := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	out, _, code = run(t, "", "load", slow.URL, "-n", "2", "-c", "2", "--qps", "0", "--timeout", "100ms")
	if code != ExitFailed || !strings.Contains(out, "Code  -1 : 2 (100.0 %)") {
		t.Errorf("timeouts: exit %d\n%s", code, out)
	}
	// A -t run warms up first; a failing warm-up stops it unless
	// --allow-initial-errors.
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer unavailable.Close()
	out, errOut, code = run(t, "", "load", unavailable.URL, "-t", "200ms")
	if code != ExitFailed || out != "" || !strings.Contains(errOut, "warm-up") || !strings.Contains(errOut, "--allow-initial-errors") {
		t.Errorf("warm-up: exit %d\nstdout:\n%s\nstderr: %s", code, out, errOut)
	}
	// 503s are data: exit 0.
	out, errOut, code = run(t, "", "load", unavailable.URL, "-t", "200ms", "--qps", "20", "--allow-initial-errors")
	if code != ExitOK || !strings.Contains(out, "Code 503 : ") {
		t.Errorf("allowed: exit %d\nstdout:\n%s\nstderr: %s", code, out, errOut)
	}
}

func TestLoadUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"load"},
		{"load", "http://a/", "http://b/"},
		{"load", "http://127.0.0.1:1/", "-n", "5", "-t", "1s"},
		{"load", "http://127.0.0.1:1/", "-c", "0"},
		{"load", "http://127.0.0.1:1/", "-c", "-2"},
		{"load", "http://127.0.0.1:1/", "-n", "0"},
		{"load", "http://127.0.0.1:1/", "-n", "ten"},
		{"load", "http://127.0.0.1:1/", "-t", "-1s"},
		{"load", "http://127.0.0.1:1/", "-t", "5"},
		{"load", "http://127.0.0.1:1/", "--qps", "-1"},
		{"load", "http://127.0.0.1:1/", "--timeout", "0s"},
		{"load", "http://127.0.0.1:1/", "-H", "no-colon"},
		{"load", "http://127.0.0.1:1/", "-o", "yaml"},
		{"load", "http://127.0.0.1:1/", "--in-cluster", "-t", "0"},
		{"load", "http://127.0.0.1:1/", "--dry-run=client"},
		{"load", "http://127.0.0.1:1/", "--in-cluster", "--dry-run=maybe"},
		{"load", "http://127.0.0.1:1/", "--job-timeout", "1m"},
		{"load", "ftp://127.0.0.1/"},
		{"load", "http://"},
		{"load", "http://127.0.0.1:port/"},
		{"load", "http://[::1/"},
		{"load", "http://127.0.0.1:1/", "--loglevel", "Loud"},
	} {
		out, errOut, code := run(t, "", args...)
		if code != ExitUsage {
			t.Errorf("%v: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, ExitUsage, out, errOut)
		}
		if out != "" {
			t.Errorf("%v: printed %q", args, out)
		}
	}
}

// The global --namespace still parses: -n is the number of calls here.
func TestLoadNamespaceFlag(t *testing.T) {
	srv := circuitBreaker(t)
	_, errOut, code := run(t, "", "load", "--namespace", "bookinfo", srv.URL, "-n", "2", "--qps", "0", "--context", "x")
	if code != ExitOK {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	out, _, _ := run(t, "", "load", "--help")
	if !strings.Contains(out, "-n, --requests int") || !strings.Contains(out, "--namespace string") {
		t.Errorf("help:\n%s", out)
	}
}

// The examples of --help run as written, $GATEWAY_URL being a local server.
func TestLoadHelpExamplesRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/productpage" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte("<html>productpage</html>\n"))
	}))
	defer srv.Close()
	gateway := strings.TrimPrefix(srv.URL, "http://")
	root := NewRootCommand(genericiooptions.NewTestIOStreamsDiscard(), "kubectl-mesh")
	load, _, err := root.Find([]string{"load"})
	if err != nil {
		t.Fatal(err)
	}
	examples := 0
	for line := range strings.SplitSeq(load.Example, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "kubectl mesh load ") {
			continue
		}
		examples++
		args := shellWords(strings.ReplaceAll(strings.TrimPrefix(line, "kubectl mesh "), "$GATEWAY_URL", gateway))
		want := "200"
		if slices.Contains(args, "--in-cluster") {
			// No cluster here: the Job it would create stands for the run
			// (plugin/loadjob and test/sim run it).
			if !slices.Contains(args, "--dry-run=client") {
				args = append(args, "--dry-run=client")
			}
			want = "image: fortio/fortio:"
		}
		out, errOut, code := run(t, "", args...)
		if code != ExitOK || errOut != "" || !strings.Contains(out, want) {
			t.Errorf("%s: exit %d\nstdout:\n%s\nstderr: %s", line, code, out, errOut)
		}
	}
	if examples < 5 {
		t.Errorf("found %d examples", examples)
	}
}

// shellWords splits a command line on blanks, honouring double and single
// quotes, and stops at a redirection.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote == 0 && (r == '"' || r == '\''):
			quote = r
			inWord = true
		case r == quote:
			quote = 0
		case r == ' ' && quote == 0:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	for i, w := range words {
		if w == ">" {
			return words[:i]
		}
	}
	return words
}

// -t 0 runs until interrupted (Ctrl-C cancels the command's context) and
// then prints what it measured.
func TestLoadUntilInterrupted(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, _ *http.Request) { served.Add(1) }))
	defer srv.Close()
	var out, errOut strings.Builder
	root := NewRootCommand(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, "kubectl-mesh")
	root.SetArgs([]string{"load", srv.URL, "-t", "0", "--qps", "50", "-c", "2"})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for served.Load() < 10 {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	start := time.Now()
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatalf("%v; stderr %s", err, errOut.String())
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("interrupted run took %v", el)
	}
	for _, want := range []string{"50 qps, until stop", "Code 200 : ", "All done "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
