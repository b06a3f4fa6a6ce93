package policies

// Omitted counts the findings a limited review left out.
type Omitted struct {
	Findings int // all left out, errors included
	Errors   int // errors left out
	// Stopped is set when evaluation stopped early (the kept findings were
	// all errors already), so Findings and Errors are lower bounds.
	Stopped bool
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
