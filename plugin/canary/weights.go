// Package canary is the engine of `kubectl mesh canary`: it computes the
// DestinationRule subsets and VirtualService routes that shift traffic
// between the versions of a service (set, step, promote, rollback), in an
// order that never routes to a subset before it exists, and checks the
// split that results (status, verify). It has no command-line plumbing.
package canary

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Weight is the share of traffic one subset gets, in percent. Subset ""
// stands for a destination without a subset (every pod of the service).
type Weight struct {
	Subset string `json:"subset"`
	Weight int    `json:"weight"`
}

// Weights is a split in the order the user gave or the route lists it.
type Weights []Weight

// ParseWeights reads "v1=90,v2=10".
func ParseWeights(s string) (Weights, error) {
	var out Weights
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, value, ok := strings.Cut(part, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" {
			return nil, fmt.Errorf("weights: %q is not SUBSET=PERCENT (e.g. v1=90,v2=10)", part)
		}
		if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
			return nil, fmt.Errorf("weights: subset name %q: %s", name, strings.Join(errs, "; "))
		}
		n, err := strconv.Atoi(value)
		if err != nil {
			return nil, fmt.Errorf("weights: the weight of %s must be a whole number of percent, not %q", name, value)
		}
		out = append(out, Weight{Subset: name, Weight: n})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("weights: none given (e.g. v1=90,v2=10)")
	}
	return out, out.Validate()
}

// Validate checks that every weight is between 0 and 100, no subset
// appears twice and the weights add up to 100.
func (w Weights) Validate() error {
	seen := map[string]bool{}
	total := 0
	for _, x := range w {
		if x.Weight < 0 || x.Weight > 100 {
			return fmt.Errorf("weights: %s=%d is outside 0..100", x.Subset, x.Weight)
		}
		if seen[x.Subset] {
			return fmt.Errorf("weights: subset %s is given twice", x.Subset)
		}
		seen[x.Subset] = true
		total += x.Weight
	}
	if total != 100 {
		return fmt.Errorf("weights: %s add up to %d, not 100", w, total)
	}
	return nil
}

// String writes the split as "v1=90,v2=10"; a destination without a
// subset shows as "(all)".
func (w Weights) String() string {
	parts := make([]string, 0, len(w))
	for _, x := range w {
		name := x.Subset
		if name == "" {
			name = "(all)"
		}
		parts = append(parts, name+"="+strconv.Itoa(x.Weight))
	}
	return strings.Join(parts, ",")
}

// Of returns the weight of a subset (0 when absent).
func (w Weights) Of(subset string) int {
	for _, x := range w {
		if x.Subset == subset {
			return x.Weight
		}
	}
	return 0
}

// Has reports whether the subset is listed, whatever its weight.
func (w Weights) Has(subset string) bool {
	for _, x := range w {
		if x.Subset == subset {
			return true
		}
	}
	return false
}

// Positive returns the subsets that get traffic, in order.
func (w Weights) Positive() Weights {
	var out Weights
	for _, x := range w {
		if x.Weight > 0 {
			out = append(out, x)
		}
	}
	return out
}

// Equal reports whether two splits send the same traffic to the same
// subsets, whatever their order and zero entries.
func (w Weights) Equal(o Weights) bool {
	a, b := w.Positive(), o.Positive()
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if b.Of(x.Subset) != x.Weight || !b.Has(x.Subset) {
			return false
		}
	}
	return true
}

// Step moves `by` percent to subset `to` (added when absent), taking it
// from the other subsets in proportion to their weights. `to` is clamped at
// 100, and no other subset goes below 0.
func (w Weights) Step(to string, by int) Weights {
	out := append(Weights(nil), w...)
	if !out.Has(to) {
		out = append(out, Weight{Subset: to})
	}
	current := out.Of(to)
	delta := min(by, 100-current)
	if delta <= 0 {
		return out
	}
	var others []int
	for i, x := range out {
		if x.Subset != to && x.Weight > 0 {
			others = append(others, i)
		}
	}
	weights := make([]int, len(others))
	for k, i := range others {
		weights[k] = out[i].Weight
	}
	for k, take := range apportion(delta, weights) {
		out[others[k]].Weight -= take
	}
	for i := range out {
		if out[i].Subset == to {
			out[i].Weight = current + delta
		}
	}
	return out
}

// Promote sends all traffic to `to`; the other subsets stay listed at 0.
func (w Weights) Promote(to string) Weights {
	out := append(Weights(nil), w...)
	if !out.Has(to) {
		out = append(out, Weight{Subset: to})
	}
	for i := range out {
		out[i].Weight = 0
		if out[i].Subset == to {
			out[i].Weight = 100
		}
	}
	return out
}

// apportion splits total in proportion to weights in whole numbers that
// add up to total exactly (largest remainder method; ties go to the
// earlier entry). No share exceeds its weight when total <= sum(weights).
func apportion(total int, weights []int) []int {
	sum := 0
	for _, w := range weights {
		sum += w
	}
	shares := make([]int, len(weights))
	if sum == 0 || total == 0 {
		return shares
	}
	type rest struct{ index, remainder int }
	rests := make([]rest, len(weights))
	given := 0
	for i, w := range weights {
		shares[i] = total * w / sum
		given += shares[i]
		rests[i] = rest{i, total * w % sum}
	}
	sort.SliceStable(rests, func(a, b int) bool { return rests[a].remainder > rests[b].remainder })
	for k := 0; given < total; k++ {
		shares[rests[k].index]++
		given++
	}
	return shares
}
