package policies

import (
	"context"
	"errors"
	"runtime"
	"sync"
)

// Change is what one call to Engine.Check reviews: objects about to be
// written or deleted, over what already exists. `kubectl mesh validate`
// (files, optionally over the live cluster), the plugin's apply preflight
// (the objects of a command over the live cluster) and mesh-webhook (one
// AdmissionReview over its informers' inventory) all describe their work as
// a Change.
//
// Objects to write win over live objects of the same identity and are
// reviewed as UPDATEs of them, exactly as the API server's admission would
// send them: a DestinationRule dropping a subset that a live VirtualService
// still routes to fails (MESH0601) offline as it would on apply.
type Change struct {
	// Files are read (files, directories, "-") as Load says, each object
	// applied as it is decoded, so a large input is never held whole.
	Files []string
	Load  LoadOptions
	// Apply are further objects to create or update.
	Apply []*Object
	// Delete are objects to delete; only their identity is read.
	Delete []*Object
	// Live is what exists (see ListCluster), or nil offline.
	Live []*Object

	// Reviews are reviews already formed by the caller (an
	// AdmissionReview's operation, object and stored object), made over
	// Inventory. A Change with Reviews takes no Files, Apply, Delete or
	// Live: the API server has decided what the operation is.
	Reviews   []Review
	Inventory Inventory

	// KeepObjects keeps objects under review whole, for user policies that
	// read input.object; otherwise they keep only what the built-in
	// policies read.
	KeepObjects bool
	// Limit keeps at most this many findings per review, errors first (see
	// keeper); 0 keeps all. Once Limit errors are kept, the packages not yet
	// evaluated are skipped: a denial is certain.
	Limit int
	// Workers reviews with that many goroutines; GOMAXPROCS when 0.
	Workers int
}

// Outcome is what Check found.
type Outcome struct {
	// Findings are sorted by file, line, code and field.
	Findings []Finding
	// Omitted counts what Limit left out, over every review.
	Omitted Omitted
	// Resources counts the objects read from Files and given in Apply,
	// every kind included.
	Resources int
}

// Check reviews a change: the one entry point of the policy core.
func (e *Engine) Check(ctx context.Context, c Change) (Outcome, error) {
	if len(c.Reviews) > 0 || c.Inventory != nil {
		if len(c.Files)+len(c.Apply)+len(c.Delete)+len(c.Live) > 0 {
			return Outcome{}, errors.New("policies: a Change with Reviews takes no Files, Apply, Delete or Live")
		}
		if c.Inventory == nil {
			return Outcome{}, errors.New("policies: a Change with Reviews needs its Inventory")
		}
		// An inventory the caller keeps up to date may change during the
		// call, so reviews do not share what they resolve in it.
		fs, omitted, err := e.reviewEach(ctx, c.Reviews, c.Inventory, nil, c.Limit, c.Workers)
		return Outcome{Findings: fs, Omitted: omitted}, err
	}
	p, err := planChange(c, e.settings.ClusterDomain)
	if err != nil {
		return Outcome{}, err
	}
	return e.checkPlan(ctx, c, p)
}

// PolicyError is a failure to load or compile the policies.
type PolicyError struct{ Err error }

func (e *PolicyError) Error() string { return e.Err.Error() }
func (e *PolicyError) Unwrap() error { return e.Err }

// CompileAndCheck is NewEngine then Check, with the policies compiling
// while the change's files load: neither needs the other, and on two cores
// the compile costs no wall time. A failure to compile is a *PolicyError.
func CompileAndCheck(ctx context.Context, opts Options, c Change) (Outcome, error) {
	if len(c.Reviews) > 0 || c.Inventory != nil {
		e, err := NewEngine(ctx, opts)
		if err != nil {
			return Outcome{}, &PolicyError{err}
		}
		return e.Check(ctx, c)
	}
	type compiled struct {
		engine *Engine
		err    error
	}
	done := make(chan compiled, 1)
	go func() {
		e, err := NewEngine(ctx, opts)
		done <- compiled{e, err}
	}()
	p, loadErr := planChange(c, opts.Settings.withDefaults().ClusterDomain)
	built := <-done
	if loadErr != nil {
		return Outcome{}, loadErr
	}
	if built.err != nil {
		return Outcome{}, &PolicyError{built.err}
	}
	return built.engine.checkPlan(ctx, c, p)
}

// plannedChange is a change read and laid over the live objects.
type plannedChange struct {
	reviews   []Review
	index     *Index
	resources int
}

// checkPlan makes the planned reviews.
func (e *Engine) checkPlan(ctx context.Context, c Change, p plannedChange) (Outcome, error) {
	fs, omitted, err := e.reviewEach(ctx, p.reviews, p.index, newHostCache(), c.Limit, c.Workers)
	return Outcome{Findings: fs, Omitted: omitted, Resources: p.resources}, err
}

// identity is an object's group, kind, namespace and name.
func identity(o *Object) string {
	return o.Group() + "/" + o.Kind() + "/" + o.Namespace() + "/" + o.Name()
}

// planChange builds the inventory the change lands on and the reviews it
// makes.
func planChange(c Change, clusterDomain string) (plannedChange, error) {
	index := NewIndex(clusterDomain)
	var written []*Object
	resources := 0
	write := func(obj *Object) {
		resources++
		index.Add(obj)
		switch {
		case obj.IsReviewed():
			if !c.KeepObjects {
				obj.Compact()
			}
			written = append(written, obj)
		case len(c.Live) > 0 && obj.IsRouteReferenced():
			// Reviewed only as the UPDATE of a live one, for the routes
			// the update breaks; offline there is none to keep it for.
			written = append(written, obj)
		}
	}
	if len(c.Files) > 0 {
		if err := LoadEach(c.Files, c.Load, func(obj *Object) error { write(obj); return nil }); err != nil {
			return plannedChange{}, err
		}
	}
	for _, obj := range c.Apply {
		write(obj)
	}
	deleted := make(map[string]bool, len(c.Delete))
	for _, obj := range c.Delete {
		deleted[identity(obj)] = true
		index.Remove(obj.Kind(), obj.Group(), obj.Namespace(), obj.Name())
	}
	live := make(map[string]*Object)
	var reviews []Review
	for _, obj := range c.Live {
		id := identity(obj)
		if deleted[id] {
			// Reviewed over the inventory without it, as the webhook
			// reviews a DELETE: a DestinationRule whose subsets a route
			// still names, or a Gateway a VirtualService is bound to, is
			// refused.
			if r := (Review{Operation: OperationDelete, OldObject: obj}); r.Reviewed() {
				reviews = append(reviews, r)
			}
			continue
		}
		// Written objects win over the live ones they replace.
		index.AddUnlessPresent(obj)
		if obj.IsReviewed() || obj.IsRouteReferenced() {
			live[id] = obj
		}
	}
	for _, obj := range written {
		r := Review{Operation: OperationCreate, Object: obj}
		if old := live[identity(obj)]; old != nil {
			r.Operation, r.OldObject = OperationUpdate, old
		}
		if r.Reviewed() {
			reviews = append(reviews, r)
		}
	}
	return plannedChange{reviews: reviews, index: index, resources: resources}, nil
}

// reviewEach makes the reviews with up to workers goroutines and returns
// the findings sorted. hosts, when not nil, shares host facts between the
// reviews; the inventory must then stay as it is during the call.
func (e *Engine) reviewEach(ctx context.Context, reviews []Review, inv Inventory, hosts *hostCache, limit, workers int) ([]Finding, Omitted, error) {
	if len(reviews) == 1 {
		// The webhook's case: no goroutine to hand the one review to.
		if err := ctx.Err(); err != nil {
			return nil, Omitted{}, err
		}
		k := &keeper{limit: limit}
		fs, err := e.reviewInto(ctx, reviews[0], inv, hosts, k)
		if err != nil {
			return nil, Omitted{}, err
		}
		return fs, k.omitted, nil
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, max(len(reviews), 1))
	results := make([][]Finding, len(reviews))
	omitted := make([]Omitted, len(reviews))
	errs := make([]error, len(reviews))
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				k := &keeper{limit: limit}
				results[i], errs[i] = e.reviewInto(ctx, reviews[i], inv, hosts, k)
				omitted[i] = k.omitted
				if errs[i] != nil {
					cancel()
				}
			}
		}()
	}
feed:
	for i := range reviews {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, Omitted{}, err
	}
	// A cancelled caller must not get a partial report that looks whole.
	if err := parent.Err(); err != nil {
		return nil, Omitted{}, err
	}
	var out []Finding
	var total Omitted
	for i, r := range results {
		out = append(out, r...)
		total.Findings += omitted[i].Findings
		total.Errors += omitted[i].Errors
		total.Stopped = total.Stopped || omitted[i].Stopped
	}
	SortFindings(out)
	return out, total, nil
}
