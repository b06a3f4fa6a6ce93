package canary

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/stats"
)

// Pages shaped like productpage's two templates (the Bootstrap one of the
// Istio 1.10 era and the later Tailwind one), written for these tests.
const (
	oldPage = `<title>Simple Bookstore App</title><h4 class="text-center text-primary">Book Reviews</h4>
<blockquote><p>An extremely entertaining play by Shakespeare.</p><small>Reviewer1</small>%s</blockquote>`
	oldStars   = `<font color="%s"><span class="glyphicon glyphicon-star"></span></font>`
	newPage    = `<title>Simple Bookstore App</title><h4 class="text-3xl font-semibold">Book Reviews</h4>%s<div class="mt-0.5 text-gray-600 font-mono">Reviews served by: %s</div>`
	newStars   = `<div class="flex gap-x-1 text-%s-500">  <svg class="h-5 w-5 flex-none" viewBox="0 0 20 20"></svg></div>`
	noRatings  = `<h4 class="text-center text-primary">Book Reviews</h4><p><i>Ratings service is currently unavailable</i></p>`
	reviewJSON = `{"id": "0","podname": "reviews-v3-7d99fd7978-xk2pq","clustername": "null","reviews": [{"reviewer": "Reviewer1","rating": {"stars": 5, "color": "red"}}]}`
)

func TestBookinfoRules(t *testing.T) {
	c := Classifier{Rules: BookinfoRules()}
	tests := []struct {
		name, body, want string
	}{
		{"old v1", fmt.Sprintf(oldPage, ""), "v1"},
		{"old v2", fmt.Sprintf(oldPage, fmt.Sprintf(oldStars, "black")), "v2"},
		{"old v3", fmt.Sprintf(oldPage, fmt.Sprintf(oldStars, "red")), "v3"},
		{"old, ratings down", noRatings, ""},
		{"new v2 by its stars", fmt.Sprintf(newPage, fmt.Sprintf(newStars, "black"), ""), "v2"},
		{"new v3 by its stars", fmt.Sprintf(newPage, fmt.Sprintf(newStars, "red"), ""), "v3"},
		{"new, by pod name", fmt.Sprintf(newPage, "", "reviews-v2-5b667bcbf8-7xqzn"), "v2"},
		{"new, ratings down, by pod name", fmt.Sprintf(newPage, `<p class="text-red-500">Ratings service is currently unavailable</p>`, "reviews-v3-7d99fd7978-xk2pq"), "v3"},
		{"new, ratings down, red error text is no star", fmt.Sprintf(newPage, `<p class="text-red-500">Ratings service is currently unavailable</p>`, ""), ""},
		{"reviews JSON", reviewJSON, "v3"},
		{"reviews v1 JSON", `{"reviews": [{"reviewer": "Reviewer1","text": "An extremely entertaining play"}]}`, "v1"},
		{"reviews down", `<h4 class="text-center text-primary">Error fetching product reviews!</h4>`, ""},
	}
	for _, tt := range tests {
		if got := c.Classify(nil, []byte(tt.body)); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestParseMatchAndHeader(t *testing.T) {
	r, err := ParseMatch(`v2=build: (canary|v2)`)
	if err != nil || r.Subset != "v2" || r.Pattern.String() != "build: (canary|v2)" {
		t.Fatalf("ParseMatch = %+v, %v", r, err)
	}
	for _, bad := range []string{"v2", "=x", "v2=", "v2=(unclosed"} {
		if _, err := ParseMatch(bad); err == nil {
			t.Errorf("ParseMatch(%q) should fail", bad)
		}
	}
	c := Classifier{Header: "X-Version", Rules: []Rule{{Subset: "v1", Pattern: regexp.MustCompile(`^1\.`)}, {Subset: "v2", Pattern: regexp.MustCompile(`^2\.`)}}}
	h := http.Header{}
	h.Set("X-Version", "2.0.1")
	if got := c.Classify(h, []byte("v1 in the body")); got != "v2" {
		t.Errorf("by header: %q", got)
	}
}

// splitServer answers as v1 or v2: pick decides from the request's
// sequence number, so the totals are exact whatever the concurrency.
func splitServer(t *testing.T, pick func(n int64) string) *httptest.Server {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := pick(n.Add(1))
		if v == "" {
			http.Error(w, "no healthy upstream", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("X-Version", v)
		fmt.Fprintf(w, "<html>hello from %s</html>", v)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// seeded returns a pick that answers v2 with probability p, from a fixed
// seed: a realistic sample whose outcome is the same on every run.
func seeded(seed uint64, p float64) func(int64) string {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, seed))
	return func(int64) string {
		mu.Lock()
		defer mu.Unlock()
		if rng.Float64() < p {
			return "v2"
		}
		return "v1"
	}
}

func bodyRules() Classifier {
	return Classifier{Rules: []Rule{{Subset: "v1", Pattern: regexp.MustCompile(`from v1`)}, {Subset: "v2", Pattern: regexp.MustCompile(`from v2`)}}}
}

func TestVerify(t *testing.T) {
	tests := []struct {
		name        string
		pick        func(int64) string
		weights     string
		requests    int
		significant bool
		method      string
		observed    []int
	}{
		{"exactly 90/10", func(n int64) string {
			if n%10 == 0 {
				return "v2"
			}
			return "v1"
		}, "v1=90,v2=10", 100, false, stats.MethodChiSquare, []int{90, 10}},
		{"a 90/10 sample", seeded(7, 0.10), "v1=90,v2=10", 200, false, stats.MethodChiSquare, nil},
		{"a 70/30 sample against 90/10", seeded(7, 0.30), "v1=90,v2=10", 200, true, stats.MethodChiSquare, nil},
		{"all on v1 against 50/50", func(int64) string { return "v1" }, "v1=50,v2=50", 100, true, stats.MethodChiSquare, []int{100, 0}},
		{"v2 answers at weight 0", seeded(3, 0.05), "v1=100,v2=0", 100, true, stats.MethodImpossible, nil},
		{"promoted, only v2", func(int64) string { return "v2" }, "v2=100", 50, false, stats.MethodTrivial, []int{50}},
		{"few requests: exact test", func(n int64) string {
			if n%4 == 0 {
				return "v2"
			}
			return "v1"
		}, "v1=90,v2=10", 20, false, stats.MethodExact, []int{15, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := splitServer(t, tt.pick)
			res, err := Verify(context.Background(), VerifyOptions{
				URL: srv.URL, Requests: tt.requests, Concurrency: 4, Timeout: 5 * time.Second,
				Classifier: bodyRules(), Weights: mustWeights(t, tt.weights),
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Significant != tt.significant || res.Test.Method != tt.method {
				t.Errorf("significant %v (p %.3g, %s), want %v by %s; rows %+v", res.Significant, res.Test.PValue, res.Test.Method, tt.significant, tt.method, res.Rows)
			}
			if res.Codes[200] != tt.requests || res.Classified() != tt.requests {
				t.Errorf("codes %v, classified %d", res.Codes, res.Classified())
			}
			for i, want := range tt.observed {
				if res.Rows[i].Observed != want {
					t.Errorf("row %d: %+v, want %d observed", i, res.Rows[i], want)
				}
			}
		})
	}
}

// Failed and unclassified answers are counted apart and stay out of the test.
func TestVerifyCountsFailures(t *testing.T) {
	srv := splitServer(t, func(n int64) string {
		switch n % 10 {
		case 0:
			return ""
		case 1:
			return "v9"
		}
		return "v1"
	})
	res, err := Verify(context.Background(), VerifyOptions{
		URL: srv.URL, Requests: 50, Concurrency: 3, Timeout: 5 * time.Second,
		Classifier: bodyRules(), Weights: mustWeights(t, "v1=100"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 5 || res.Unclassified != 5 || res.Classified() != 40 || res.Codes[503] != 5 || res.Significant {
		t.Errorf("failed %d, unclassified %d, classified %d, codes %v, significant %v", res.Failed, res.Unclassified, res.Classified(), res.Codes, res.Significant)
	}
	// A version nobody weighted shows up as its own row, expected 0.
	srv = splitServer(t, func(int64) string { return "v1" })
	res, err = Verify(context.Background(), VerifyOptions{URL: srv.URL, Requests: 10, Concurrency: 1, Timeout: time.Second,
		Classifier: bodyRules(), Weights: mustWeights(t, "v2=100")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 2 || res.Rows[1].Subset != "v1" || res.Rows[1].Expected != 0 || !res.Significant {
		t.Errorf("rows %+v significant %v", res.Rows, res.Significant)
	}
	if _, err := Verify(context.Background(), VerifyOptions{URL: "ftp://x", Requests: 1}); err == nil || !strings.Contains(err.Error(), "scheme") {
		t.Errorf("bad URL: %v", err)
	}
}
