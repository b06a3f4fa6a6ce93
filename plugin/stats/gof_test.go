package stats

import (
	"math"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// Reference values: chi-square critical values from standard tables
// (P(X >= x) = 0.05 and 0.01) and closed forms (df 2: exp(-x/2)).
func TestChiSquareSurvival(t *testing.T) {
	tests := []struct {
		x    float64
		df   int
		want float64
	}{
		{3.841459, 1, 0.05},
		{6.634897, 1, 0.01},
		{9.210340, 2, 0.01},
		{4.0, 2, math.Exp(-2)},
		{11.344867, 3, 0.01},
		{0.5, 1, 0.4795001},
		{30, 10, 0.000857},
		{0, 3, 1},
		{1e-6, 1, 0.9992021},
		{200, 1, 0},
	}
	for _, tt := range tests {
		if got := ChiSquareSurvival(tt.x, tt.df); !near(got, tt.want, 1e-6) {
			t.Errorf("ChiSquareSurvival(%g, %d) = %.7f, want %.7f", tt.x, tt.df, got, tt.want)
		}
	}
}

func TestGoodnessOfFit(t *testing.T) {
	tests := []struct {
		name        string
		observed    []int
		props       []float64
		method      string
		chi2, p     float64
		significant bool
	}{
		// 100 calls, 90/10 expected, 88/12 seen: chi2 = 4/90 + 4/10.
		{"close to 90/10", []int{88, 12}, []float64{90, 10}, MethodChiSquare, 0.4444444, 0.5049851, false},
		// 70/30 against 90/10: chi2 = 400/90 + 400/10.
		{"far from 90/10", []int{70, 30}, []float64{90, 10}, MethodChiSquare, 44.444444, 2.6e-11, true},
		{"exactly 50/50", []int{50, 50}, []float64{50, 50}, MethodChiSquare, 0, 1, false},
		{"three ways", []int{34, 33, 33}, []float64{1, 1, 1}, MethodChiSquare, 0.02, 0.9900498, false},
		// Expected 2 for v2 out of 20: exact binomial. P(X >= 6 or chi2 as
		// extreme) for Bin(20, 0.1), observed 6: chi2 = 16/18 + 16/2 = 8.888.
		{"small expected counts, far", []int{14, 6}, []float64{90, 10}, MethodExact, 8.888889, 0.0112531, false},
		{"small expected counts, very far", []int{12, 8}, []float64{90, 10}, MethodExact, 20, 0.0004156, true},
		{"zero weight observed", []int{95, 5}, []float64{100, 0}, MethodImpossible, math.Inf(1), 0, true},
		{"zero weight not observed", []int{100, 0}, []float64{100, 0}, MethodTrivial, 0, 1, false},
		{"no calls", []int{0, 0}, []float64{90, 10}, MethodTrivial, 0, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := GoodnessOfFit(tt.observed, tt.props)
			if r.Method != tt.method {
				t.Errorf("method %q, want %q", r.Method, tt.method)
			}
			if !(math.IsInf(tt.chi2, 1) && math.IsInf(r.ChiSquare, 1)) && !near(r.ChiSquare, tt.chi2, 1e-5) {
				t.Errorf("chi2 %.7f, want %.7f", r.ChiSquare, tt.chi2)
			}
			if !near(r.PValue, tt.p, 1e-6) {
				t.Errorf("p %.9f, want %.9f", r.PValue, tt.p)
			}
			if r.Significant(0.01) != tt.significant {
				t.Errorf("significant at 99%%: %v, want %v", r.Significant(0.01), tt.significant)
			}
		})
	}
}

// The exact p-value of a two-category test is the binomial tail on the
// far side plus the near side at least as extreme: check one by hand.
func TestExactMatchesBinomial(t *testing.T) {
	// Bin(4, 0.5), observed 4: chi2 = 4; as extreme: 0 and 4 of 4.
	want := 2.0 / 16
	r := GoodnessOfFit([]int{4, 0}, []float64{1, 1})
	if r.Method != MethodExact || !near(r.PValue, want, 1e-12) {
		t.Errorf("%s p = %.12f, want %.12f", r.Method, r.PValue, want)
	}
}

func TestMonteCarloAgreesWithExact(t *testing.T) {
	probs := []float64{0.97, 0.01, 0.01, 0.01}
	observed := []int{290, 4, 3, 3}
	if outcomes(300, 4) <= maxEnumerated {
		t.Fatalf("test case too small for Monte Carlo: %g outcomes", outcomes(300, 4))
	}
	x := chiSquare(observed, probs, 300)
	mc := monteCarlo(x, probs, 300)
	// The same statistic by the approximation, for scale only: the two
	// must agree on the order of magnitude.
	if mc <= 0 || mc > 1 || math.Abs(mc-ChiSquareSurvival(x, 3)) > 0.2 {
		t.Errorf("Monte Carlo p %.4f, chi-square p %.4f", mc, ChiSquareSurvival(x, 3))
	}
	r := GoodnessOfFit(observed, probs)
	if r.Method != MethodMonteCarlo || r.PValue != mc {
		t.Errorf("GoodnessOfFit: %s %.4f", r.Method, r.PValue)
	}
}
