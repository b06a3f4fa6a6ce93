// Package loadgen is the engine of `kubectl mesh load`: Fortio's HTTP load
// generator (fortio.org/fortio/fhttp and periodic) embedded as a library.
//
// Only Fortio's library packages are imported, never its root or cli
// packages. The engine prints nothing: Fortio's own progress output goes to
// io.Discard and its logger is raised to Critical, so callers decide what to
// show from the returned result.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"fortio.org/fortio/fhttp"
	"fortio.org/fortio/periodic"
	"fortio.org/log"
)

// Fortio's defaults, kept so runs compare with `fortio load`.
const (
	// DefaultConcurrency is fortio's default number of connections (-c).
	DefaultConcurrency = 4
	// DefaultDuration is fortio's default run length (-t).
	DefaultDuration = 5 * time.Second
	// DefaultTimeout is fortio's default per-request timeout.
	DefaultTimeout = fhttp.HTTPReqTimeOutDefaultValue
	// SocketError is the code fortio records for a request that got no
	// HTTP response (connection refused or reset, timeout ...).
	SocketError = fhttp.SocketError
)

// DefaultPercentiles are the percentiles computed for every run: fortio's
// command line default.
var DefaultPercentiles = []float64{50, 75, 90, 99, 99.9}

// ErrWarmup wraps the error of a duration run whose warm-up calls did not
// answer 2xx (see Options.AllowInitialErrors).
var ErrWarmup = errors.New("warm-up calls failed")

// Result is fortio's HTTP result; it marshals to the JSON fortio writes.
type Result = fhttp.HTTPRunnerResults

// Options describe one run. The zero value of each field picks a default.
type Options struct {
	// URL to load, http:// or https://.
	URL string
	// Concurrency is the number of connections, each with its own
	// goroutine (fortio's -c). 0 means DefaultConcurrency.
	Concurrency int
	// Exactly is the number of calls (fortio's -n); when > 0 Duration is
	// ignored and no warm-up call is made.
	Exactly int64
	// Duration of the run when Exactly is 0 (fortio's -t). 0 means
	// DefaultDuration; negative means until ctx is cancelled.
	Duration time.Duration
	// QPS is the total target rate across all connections. 0 (or negative)
	// means as fast as possible, like fortio's `-qps 0` (the library itself
	// takes -1 for that, and 0 for its default of 8).
	QPS float64
	// Headers to send, each "Name: value" (fortio's -H). "Host: x"
	// overrides the Host header; "User-Agent:" with an empty value drops it.
	Headers []string
	// Timeout of each request, connect included. 0 means DefaultTimeout.
	Timeout time.Duration
	// AllowInitialErrors keeps going when the warm-up call (one per
	// connection, duration runs only) does not answer 2xx.
	AllowInitialErrors bool
	// Percentiles to compute; nil means DefaultPercentiles.
	Percentiles []float64
	// Labels are copied into the result (fortio's -labels).
	Labels string
}

// ValidateURL checks that u is an absolute http(s) URL with a host; a URL
// without a scheme gets http:// (like curl and fortio). It returns the URL
// to load.
func ValidateURL(u string) (string, error) {
	if u == "" {
		return "", errors.New("the URL is empty")
	}
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	parsed, err := url.Parse(u)
	if err != nil {
		return "", fmt.Errorf("invalid URL %q: %w", u, err)
	}
	switch strings.ToLower(parsed.Scheme) {
	case "http", "https":
	default:
		return "", fmt.Errorf("invalid URL %q: the scheme must be http or https", u)
	}
	if parsed.Hostname() == "" {
		return "", fmt.Errorf("invalid URL %q: no host", u)
	}
	return u, nil
}

// ValidateHeader checks one "Name: value" header.
func ValidateHeader(h string) error {
	name, _, ok := strings.Cut(h, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("invalid header %q, expecting Name: value", h)
	}
	return nil
}

// Validate checks the options without running anything.
func (o Options) Validate() error {
	if _, err := ValidateURL(o.URL); err != nil {
		return err
	}
	if o.Concurrency < 0 {
		return fmt.Errorf("concurrency must be at least 1, not %d", o.Concurrency)
	}
	if o.Exactly < 0 {
		return fmt.Errorf("the number of calls must be positive, not %d", o.Exactly)
	}
	if o.Timeout < 0 {
		return fmt.Errorf("the timeout must be positive, not %v", o.Timeout)
	}
	for _, h := range o.Headers {
		if err := ValidateHeader(h); err != nil {
			return err
		}
	}
	return nil
}

var quietOnce sync.Once

// quiet raises fortio's logger to Critical: at Error it would print a line
// to stderr for every failed request (connection refused, timeouts).
func quiet() {
	quietOnce.Do(func() { log.SetLogLevelQuiet(log.Critical) })
}

// Run loads the target and returns fortio's aggregated result.
//
// The error is non-nil only when the run could not be done: invalid
// options, a host that does not resolve, or (duration runs without
// AllowInitialErrors) a warm-up call that did not answer 2xx. Requests that
// fail during the run are data: RetCodes counts them by HTTP status, and
// under SocketError (-1) when no response came.
//
// Cancelling ctx stops the run early: Run returns what was measured so far
// (RequestedDuration then says "interrupted") and a nil error.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	quiet()
	target, _ := ValidateURL(o.URL)

	ro := periodic.RunnerOptions{
		QPS:         o.QPS,
		Duration:    o.Duration,
		NumThreads:  o.Concurrency,
		Exactly:     o.Exactly,
		Percentiles: o.Percentiles,
		Labels:      o.Labels,
		Out:         io.Discard,
		// Our own aborter: fortio then installs no SIGINT handler, and
		// ctx is the only way to stop the run.
		Stop: periodic.NewAborter(),
	}
	if ro.QPS <= 0 {
		ro.QPS = -1 // fortio's library: -1 is max speed, 0 its default 8
	}
	if ro.NumThreads == 0 {
		ro.NumThreads = DefaultConcurrency
	}
	if ro.Percentiles == nil {
		ro.Percentiles = append([]float64(nil), DefaultPercentiles...)
	}
	if ro.Exactly > 0 {
		// Keep -n exact: at max speed every connection makes at least one
		// call, and with a rate fortio raises a single call to two.
		if ro.Exactly == 1 {
			ro.QPS = -1
		}
		if int64(ro.NumThreads) > ro.Exactly {
			ro.NumThreads = int(ro.Exactly)
		}
	} else {
		switch {
		case ro.Duration == 0:
			ro.Duration = DefaultDuration
		case ro.Duration < 0:
			ro.Duration = -1 // until stopped
		}
	}

	ho := fhttp.HTTPOptions{URL: target, HTTPReqTimeOut: o.Timeout}
	if ho.HTTPReqTimeOut == 0 {
		ho.HTTPReqTimeOut = DefaultTimeout
	}
	ho.InitHeaders()
	for _, h := range o.Headers {
		if err := ho.AddAndValidateExtraHeader(h); err != nil {
			return nil, err
		}
	}
	ho.Init(target)

	opts := fhttp.HTTPRunnerOptions{
		RunnerOptions:      ro,
		HTTPOptions:        ho,
		AllowInitialErrors: o.AllowInitialErrors,
	}
	stop := ro.Stop
	done := make(chan struct{})
	watcher := make(chan struct{})
	go func() {
		defer close(watcher)
		select {
		case <-ctx.Done():
			stop.Abort(false)
		case <-done:
		}
	}()
	res, err := fhttp.RunHTTPTest(&opts)
	close(done)
	<-watcher
	if err != nil {
		if res != nil && res.Message == "warmup error" {
			err = fmt.Errorf("%w: %w", ErrWarmup, err)
		}
		return res, err
	}
	return res, nil
}

// Responses is the number of calls that got an HTTP response, whatever its
// status.
func Responses(r *Result) int64 {
	if r == nil || r.DurationHistogram == nil {
		return 0
	}
	return r.DurationHistogram.Count - r.RetCodes[SocketError]
}
