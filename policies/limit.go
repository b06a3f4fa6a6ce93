package policies

import "context"

// Omitted counts the findings a limited review left out.
type Omitted struct {
	Findings int // all left out, errors included
	Errors   int // errors left out
	// Stopped is set when evaluation stopped early (the kept findings were
	// all errors already), so Findings and Errors are lower bounds.
	Stopped bool
}

// ReviewLimit is Review keeping at most limit findings (all when limit is
// 0 or less), errors before warnings, so a decision made from the kept
// findings is the decision all of them would give. Once limit errors are
// kept, the policy packages not evaluated yet are skipped: a denial is
// certain and more findings would only be left out.
func (e *Engine) ReviewLimit(ctx context.Context, r Review, inv Inventory, limit int) ([]Finding, Omitted, error) {
	k := &keeper{limit: limit}
	fs, err := e.reviewInto(ctx, r, inv, nil, k)
	return fs, k.omitted, err
}

// keeper collects findings up to a limit, errors first.
type keeper struct {
	limit   int
	out     []Finding
	errors  int
	omitted Omitted
}

func (k *keeper) add(f Finding) {
	if k.limit <= 0 || len(k.out) < k.limit {
		k.out = append(k.out, f)
		if f.IsError() {
			k.errors++
		}
		return
	}
	k.omitted.Findings++
	if !f.IsError() {
		return
	}
	// An error takes the place of the last warning kept.
	for i := len(k.out) - 1; i >= 0; i-- {
		if !k.out[i].IsError() {
			k.out[i] = f
			k.errors++
			return
		}
	}
	k.omitted.Errors++
}

// full reports whether nothing more could change what is kept.
func (k *keeper) full() bool { return k.limit > 0 && k.errors >= k.limit }
