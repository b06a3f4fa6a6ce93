// Package stats tests whether observed counts fit expected proportions:
// how `canary verify` tells a traffic split that matches its weights from
// one that does not, and how `resilience --verify` judges a fault's share.
package stats

import (
	"math"
	"math/rand/v2"
)

// Methods of computing the p-value.
const (
	// MethodChiSquare is Pearson's chi-square approximation, used when
	// every expected count is at least MinExpected.
	MethodChiSquare = "chi-square approximation"
	// MethodExact sums the multinomial probabilities of every outcome at
	// least as far from the expectation as the observed one.
	MethodExact = "exact multinomial"
	// MethodMonteCarlo estimates the exact p-value by simulation when
	// there are too many outcomes to enumerate.
	MethodMonteCarlo = "Monte Carlo (100000 samples)"
	// MethodImpossible: a category with probability 0 was observed.
	MethodImpossible = "impossible outcome"
	// MethodTrivial: fewer than two categories can occur.
	MethodTrivial = "one possible category"
)

// MinExpected is the smallest expected count for which the chi-square
// approximation is trusted (Cochran's rule).
const MinExpected = 5

// maxEnumerated bounds the exact method's work.
const maxEnumerated = 2_000_000

const monteCarloSamples = 100_000

// Result of a goodness-of-fit test.
type Result struct {
	N         int       `json:"n"`
	Expected  []float64 `json:"expected"`
	ChiSquare float64   `json:"chiSquare"`
	// DF is the degrees of freedom: the categories that can occur, less one.
	DF     int     `json:"degreesOfFreedom"`
	PValue float64 `json:"pValue"`
	Method string  `json:"method"`
}

// Significant reports whether the counts differ from the proportions at
// significance level alpha (0.01 for 99%).
func (r Result) Significant(alpha float64) bool { return r.PValue < alpha }

// GoodnessOfFit tests observed counts against proportions (which need not
// be normalised; a category of proportion 0 must not occur at all).
func GoodnessOfFit(observed []int, proportions []float64) Result {
	n := 0
	for _, o := range observed {
		n += o
	}
	total := 0.0
	for _, p := range proportions {
		total += p
	}
	res := Result{N: n, Expected: make([]float64, len(observed))}
	var counts []int
	var probs []float64
	impossible := false
	for i, o := range observed {
		p := 0.0
		if i < len(proportions) && total > 0 {
			p = proportions[i] / total
		}
		res.Expected[i] = p * float64(n)
		if p == 0 {
			impossible = impossible || o > 0
			continue
		}
		counts = append(counts, o)
		probs = append(probs, p)
	}
	res.ChiSquare = chiSquare(counts, probs, n)
	res.DF = max(len(counts)-1, 0)
	switch {
	case impossible:
		res.ChiSquare, res.PValue, res.Method = math.Inf(1), 0, MethodImpossible
	case len(counts) < 2 || n == 0:
		res.PValue, res.Method = 1, MethodTrivial
	case minExpected(probs, n) >= MinExpected:
		res.PValue, res.Method = ChiSquareSurvival(res.ChiSquare, res.DF), MethodChiSquare
	case outcomes(n, len(counts)) <= maxEnumerated:
		res.PValue, res.Method = exact(res.ChiSquare, probs, n), MethodExact
	default:
		res.PValue, res.Method = monteCarlo(res.ChiSquare, probs, n), MethodMonteCarlo
	}
	return res
}

func chiSquare(counts []int, probs []float64, n int) float64 {
	x := 0.0
	for i, o := range counts {
		e := probs[i] * float64(n)
		if e > 0 {
			d := float64(o) - e
			x += d * d / e
		}
	}
	return x
}

func minExpected(probs []float64, n int) float64 {
	m := math.Inf(1)
	for _, p := range probs {
		m = math.Min(m, p*float64(n))
	}
	return m
}

// outcomes is the number of ways to split n calls over k categories,
// C(n+k-1, k-1), saturating above maxEnumerated.
func outcomes(n, k int) float64 {
	c := 1.0
	for i := 1; i < k; i++ {
		c = c * float64(n+i) / float64(i)
		if c > maxEnumerated {
			return c
		}
	}
	return c
}

// tolerance absorbs floating-point noise when comparing statistics: an
// outcome exactly as extreme as the observed one counts as at least as
// extreme.
const tolerance = 1e-9

// exact enumerates every split of n over the categories.
func exact(observed float64, probs []float64, n int) float64 {
	k := len(probs)
	logP := make([]float64, k)
	for i, p := range probs {
		logP[i] = math.Log(p)
	}
	lf := logFactorials(n)
	counts := make([]int, k)
	pValue := 0.0
	var walk func(i, left int)
	walk = func(i, left int) {
		if i == k-1 {
			counts[i] = left
			if chiSquare(counts, probs, n) >= observed-tolerance {
				lp := lf[n]
				for j, c := range counts {
					lp += float64(c)*logP[j] - lf[c]
				}
				pValue += math.Exp(lp)
			}
			return
		}
		for c := 0; c <= left; c++ {
			counts[i] = c
			walk(i+1, left-c)
		}
	}
	walk(0, n)
	return math.Min(pValue, 1)
}

func logFactorials(n int) []float64 {
	lf := make([]float64, n+1)
	for i := 2; i <= n; i++ {
		lf[i] = lf[i-1] + math.Log(float64(i))
	}
	return lf
}

// monteCarlo draws multinomial samples with a fixed seed, so a report is
// reproducible, and counts those at least as extreme as the observation.
func monteCarlo(observed float64, probs []float64, n int) float64 {
	rng := rand.New(rand.NewPCG(1, 2))
	cumulative := make([]float64, len(probs))
	sum := 0.0
	for i, p := range probs {
		sum += p
		cumulative[i] = sum
	}
	counts := make([]int, len(probs))
	extreme := 0
	for range monteCarloSamples {
		clear(counts)
		for range n {
			u := rng.Float64() * sum
			j := 0
			for j < len(cumulative)-1 && u >= cumulative[j] {
				j++
			}
			counts[j]++
		}
		if chiSquare(counts, probs, n) >= observed-tolerance {
			extreme++
		}
	}
	// The +1s keep the estimate away from an impossible 0.
	return float64(extreme+1) / float64(monteCarloSamples+1)
}

// ChiSquareSurvival is P(X >= x) for X chi-square distributed with df
// degrees of freedom: the regularized upper incomplete gamma Q(df/2, x/2).
func ChiSquareSurvival(x float64, df int) float64 {
	if df <= 0 {
		return 1
	}
	if x <= 0 {
		return 1
	}
	return upperGamma(float64(df)/2, x/2)
}

// upperGamma is Q(a, x), by its power series when x < a+1 and by its
// continued fraction (modified Lentz) otherwise, where each converges fast.
func upperGamma(a, x float64) float64 {
	lg, _ := math.Lgamma(a)
	prefix := math.Exp(-x + a*math.Log(x) - lg)
	if x < a+1 {
		// P(a, x) = prefix * sum x^n / (a (a+1) ... (a+n))
		term := 1 / a
		sum := term
		for n := 1; n < 1000; n++ {
			term *= x / (a + float64(n))
			sum += term
			if math.Abs(term) < math.Abs(sum)*1e-15 {
				break
			}
		}
		return math.Max(0, 1-prefix*sum)
	}
	const tiny = 1e-300
	b := x + 1 - a
	c := 1 / tiny
	d := 1 / b
	h := d
	for i := 1; i < 1000; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		delta := d * c
		h *= delta
		if math.Abs(delta-1) < 1e-15 {
			break
		}
	}
	return math.Min(1, prefix*h)
}
