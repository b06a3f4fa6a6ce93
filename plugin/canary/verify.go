package canary

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/loadgen"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/stats"
)

// Significance is the level verify tests at: a split is reported as
// differing from its weights when p < 0.01 (99% confidence).
const Significance = 0.01

// Rule recognises one version in a response.
type Rule struct {
	// Subset is the version a match means; "" takes it from the
	// pattern's first group (reviews-(v2)-...), and a rule with neither
	// marks the response as not telling its version.
	Subset  string
	Pattern *regexp.Regexp
}

// ParseMatch reads --match SUBSET=REGEX.
func ParseMatch(s string) (Rule, error) {
	name, expr, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(name) == "" || expr == "" {
		return Rule{}, fmt.Errorf("--match %q: want SUBSET=REGEX, e.g. v2='color=\"black\"'", s)
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return Rule{}, fmt.Errorf("--match %s: %w", name, err)
	}
	return Rule{Subset: strings.TrimSpace(name), Pattern: re}, nil
}

// BookinfoRules tell Bookinfo's reviews versions apart in productpage's
// HTML (or the reviews service's own JSON): v3 shows red stars, v2 black
// stars, v1 reviews without stars. Pages that name the reviews pod
// ("Reviews served by: reviews-v2-...", or "podname" in the JSON) are
// read from that first; a page whose ratings failed shows no stars
// whatever the version, so it tells nothing. Both productpage templates
// are covered: the old one colours a <font color="red"> around the
// stars, the newer one a "text-red-500" block of star icons.
func BookinfoRules() []Rule {
	return []Rule{
		{Pattern: regexp.MustCompile(`(?:Reviews served by:\s*|"podname":\s*")reviews-(v\d+)-`)},
		{Pattern: regexp.MustCompile(`Ratings service is currently unavailable`)},
		{Subset: "v3", Pattern: regexp.MustCompile(`color="red"|text-red-500">\s*<svg|"color":\s*"red"`)},
		{Subset: "v2", Pattern: regexp.MustCompile(`color="black"|text-black-500">\s*<svg|"color":\s*"black"`)},
		{Subset: "v1", Pattern: regexp.MustCompile(`Book Reviews|"reviewer":`)},
	}
}

// Classifier assigns a response to a version: the first rule whose
// pattern matches the body (or the Header's value) wins.
type Classifier struct {
	Rules  []Rule
	Header string
}

// Classify returns the version of a response, "" when no rule tells.
func (c Classifier) Classify(header http.Header, body []byte) string {
	text := body
	if c.Header != "" {
		text = []byte(strings.Join(header.Values(c.Header), "\n"))
	}
	for _, r := range c.Rules {
		m := r.Pattern.FindSubmatch(text)
		if m == nil {
			continue
		}
		if r.Subset == "" && len(m) > 1 {
			return string(m[1])
		}
		return r.Subset
	}
	return ""
}

// VerifyOptions describe a verification run.
type VerifyOptions struct {
	URL         string
	Requests    int
	Concurrency int
	Timeout     time.Duration
	// Headers are "Name: value"; a Host header sets the request's host.
	Headers    []string
	Classifier Classifier
	Weights    Weights
	// Client sends the requests; nil means a new client with Timeout.
	Client *http.Client
}

// VerifyRow is one version's line of the report.
type VerifyRow struct {
	Subset   string  `json:"subset"`
	Weight   int     `json:"weight"`
	Expected float64 `json:"expected"`
	Observed int     `json:"observed"`
}

// VerifyResult is what verify found.
type VerifyResult struct {
	URL      string      `json:"url"`
	Requests int         `json:"requests"`
	Rows     []VerifyRow `json:"versions"`
	// Unclassified answered 2xx without telling their version; Failed got
	// no 2xx answer. Neither enters the test.
	Unclassified int          `json:"unclassified"`
	Failed       int          `json:"failed"`
	Codes        map[int]int  `json:"codes"`
	Test         stats.Result `json:"test"`
	Significant  bool         `json:"significant"`
}

// maxBody bounds what is read of a response: enough for productpage.
const maxBody = 1 << 20

// Verify sends the requests, classifies the answers and tests the split
// against the weights.
func Verify(ctx context.Context, o VerifyOptions) (*VerifyResult, error) {
	target, err := loadgen.ValidateURL(o.URL)
	if err != nil {
		return nil, err
	}
	if o.Requests < 1 {
		return nil, errors.New("the number of requests must be at least 1")
	}
	client := o.Client
	if client == nil {
		client = &http.Client{Timeout: o.Timeout}
	}
	workers := max(1, min(o.Concurrency, o.Requests))
	res := &VerifyResult{URL: target, Requests: o.Requests, Codes: map[int]int{}}
	counts := map[string]int{}
	var mu sync.Mutex
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				code, version := fetch(ctx, client, target, o.Headers, o.Classifier)
				mu.Lock()
				res.Codes[code]++
				switch {
				case code < 200 || code > 299:
					res.Failed++
				case version == "":
					res.Unclassified++
				default:
					counts[version]++
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for range o.Requests {
		select {
		case jobs <- struct{}{}:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res.test(counts, o.Weights)
	return res, nil
}

// test fills the rows, weighted subsets first in their order, then any
// version seen that the weights do not list (expected 0: its mere
// appearance is significant).
func (res *VerifyResult) test(counts map[string]int, weights Weights) {
	for _, w := range weights {
		res.Rows = append(res.Rows, VerifyRow{Subset: w.Subset, Weight: w.Weight, Observed: counts[w.Subset]})
	}
	var extra []string
	for v := range counts {
		if !weights.Has(v) {
			extra = append(extra, v)
		}
	}
	sort.Strings(extra)
	for _, v := range extra {
		res.Rows = append(res.Rows, VerifyRow{Subset: v, Observed: counts[v]})
	}
	observed := make([]int, len(res.Rows))
	props := make([]float64, len(res.Rows))
	for i, r := range res.Rows {
		observed[i], props[i] = r.Observed, float64(r.Weight)
	}
	res.Test = stats.GoodnessOfFit(observed, props)
	for i := range res.Rows {
		res.Rows[i].Expected = res.Test.Expected[i]
	}
	res.Significant = res.Test.Significant(Significance)
}

// Classified is the number of answers that entered the test.
func (res *VerifyResult) Classified() int { return res.Test.N }

// fetch makes one request and returns its status (loadgen.SocketError
// when no answer came) and version.
func fetch(ctx context.Context, client *http.Client, target string, headers []string, c Classifier) (int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return loadgen.SocketError, ""
	}
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if strings.EqualFold(name, "Host") {
			req.Host = value
			continue
		}
		req.Header.Add(name, value)
	}
	resp, err := client.Do(req)
	if err != nil {
		return loadgen.SocketError, ""
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return loadgen.SocketError, ""
	}
	_, _ = io.Copy(io.Discard, resp.Body) // drain for keep-alive
	return resp.StatusCode, c.Classify(resp.Header, body)
}
