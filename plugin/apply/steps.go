package apply

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubectl-mesh/kubectl-mesh/policies"
)

// Step is one write of a multi-step change.
type Step struct {
	// Object is what is applied: server-side apply of exactly its fields.
	Object *unstructured.Unstructured
	// Patch, when set, is sent instead as a JSON patch of Object's
	// identity: for removing fields that other managers own too.
	Patch []byte
	// Result is the object as the API server will hold it afterwards, for
	// checking with the policy core before anything is written.
	Result *unstructured.Unstructured
	// What says what the step does, for the user.
	What string
}

// Stages returns, for each step, every object of the change as it stands
// once that step is done: the input of the policy check of that moment.
func Stages(steps []Step) [][]*unstructured.Unstructured {
	var out [][]*unstructured.Unstructured
	latest := map[string]int{}
	var current []*unstructured.Unstructured
	for _, s := range steps {
		key := s.Result.GetKind() + "/" + s.Result.GetNamespace() + "/" + s.Result.GetName()
		if i, ok := latest[key]; ok {
			current[i] = s.Result
		} else {
			latest[key] = len(current)
			current = append(current, s.Result)
		}
		out = append(out, append([]*unstructured.Unstructured(nil), current...))
	}
	return out
}

// CheckSteps runs the policy core over the objects as they stand after
// every step, so that no intermediate moment breaks traffic either. It
// returns the warnings (each once), or the first rejection. The cluster is
// read once: the stages differ only in the objects of the change.
func (p *Preflight) CheckSteps(ctx context.Context, steps []Step) ([]policies.Finding, error) {
	engine, live, err := p.prepare(ctx)
	if err != nil {
		return nil, err
	}
	var warnings []policies.Finding
	seen := map[string]bool{}
	for _, stage := range Stages(steps) {
		findings, err := p.check(ctx, engine, live, stage)
		if err != nil {
			return nil, err
		}
		for _, f := range findings {
			if key := f.Text(); !seen[key] {
				seen[key] = true
				warnings = append(warnings, f)
			}
		}
	}
	return warnings, nil
}

// ApplySteps performs the steps in order and returns what the API server
// made of each. A failing step stops the rest: the caller orders steps so
// that those before it are complete and safe on their own.
func (a *Applier) ApplySteps(ctx context.Context, steps []Step) ([]*unstructured.Unstructured, error) {
	versions := map[string]string{}
	var out []*unstructured.Unstructured
	for _, s := range steps {
		obj := s.Object.DeepCopy()
		key := obj.GetKind() + "/" + obj.GetNamespace() + "/" + obj.GetName()
		// A later step on the same object comes after our own write: its
		// precondition is the version that write produced.
		if v, ok := versions[key]; ok && obj.GetResourceVersion() != "" {
			obj.SetResourceVersion(v)
		}
		var res *unstructured.Unstructured
		var err error
		if s.Patch != nil {
			res, err = a.patch(ctx, obj, s)
		} else {
			res, err = a.Apply(ctx, obj)
		}
		if err != nil {
			return out, fmt.Errorf("%s: %w", s.What, err)
		}
		if a.DryRun == DryRunNone {
			versions[key] = res.GetResourceVersion()
		}
		out = append(out, res)
	}
	return out, nil
}

func (a *Applier) patch(ctx context.Context, obj *unstructured.Unstructured, s Step) (*unstructured.Unstructured, error) {
	if a.DryRun == DryRunClient {
		return s.Result.DeepCopy(), nil
	}
	gvr, _, err := a.Resource(obj)
	if err != nil {
		return nil, err
	}
	opts := metav1.PatchOptions{FieldManager: FieldManager}
	if a.DryRun == DryRunServer {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	out, err := a.Client.Resource(gvr).Namespace(obj.GetNamespace()).Patch(ctx, obj.GetName(), types.JSONPatchType, s.Patch, opts)
	if err != nil {
		return nil, fmt.Errorf("patching %s: %w", Ref(obj), err)
	}
	return out, nil
}
