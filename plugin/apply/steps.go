package apply

import (
	"context"
	"fmt"
	"slices"

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
	// checking with the policy core before anything is written; nil for a
	// deletion.
	Result *unstructured.Unstructured
	// Delete, when true, deletes the object Object names instead, on
	// condition that it still has Object's resourceVersion.
	Delete bool
	// What says what the step does, for the user.
	What string
}

// Deletion is the step that deletes live, provided nobody changed it since
// it was read: what kubectl-mesh created and a change empties goes, rather
// than staying behind as a shell.
func Deletion(live *unstructured.Unstructured, what string) Step {
	obj := Skeleton(live)
	obj.SetResourceVersion(live.GetResourceVersion())
	return Step{Object: obj, Delete: true, What: what}
}

// Stage is the change as it stands once a step is done: the input of the
// policy check of that moment.
type Stage struct {
	// Objects are the change's objects as the API server will hold them.
	Objects []*unstructured.Unstructured
	// Deleted are the objects the change has deleted by then.
	Deleted []*unstructured.Unstructured
}

// Stages returns the stage after each step. An object keeps its place
// among the objects when a later step changes it again.
func Stages(steps []Step) []Stage {
	var out []Stage
	var current, deleted []*unstructured.Unstructured
	for _, s := range steps {
		obj := s.Result
		if s.Delete {
			obj = s.Object
		}
		key := stepKey(obj)
		same := func(o *unstructured.Unstructured) bool { return stepKey(o) == key }
		deleted = slices.DeleteFunc(deleted, same)
		switch i := slices.IndexFunc(current, same); {
		case s.Delete:
			current = slices.DeleteFunc(current, same)
			deleted = append(deleted, obj)
		case i >= 0:
			current[i] = obj
		default:
			current = append(current, obj)
		}
		out = append(out, Stage{Objects: slices.Clone(current), Deleted: slices.Clone(deleted)})
	}
	return out
}

func stepKey(obj *unstructured.Unstructured) string {
	return obj.GetKind() + "/" + obj.GetNamespace() + "/" + obj.GetName()
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
		findings, err := p.check(ctx, engine, live, stage.Objects, stage.Deleted)
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
		key := stepKey(obj)
		// A later step on the same object comes after our own write: its
		// precondition is the version that write produced.
		if v, ok := versions[key]; ok && obj.GetResourceVersion() != "" {
			obj.SetResourceVersion(v)
		}
		var res *unstructured.Unstructured
		var err error
		switch {
		case s.Delete:
			res, err = a.delete(ctx, obj)
		case s.Patch != nil:
			res, err = a.patch(ctx, obj, s)
		default:
			res, err = a.Apply(ctx, obj)
		}
		if err != nil {
			return out, fmt.Errorf("%s: %w", s.What, err)
		}
		if a.DryRun == DryRunNone && !s.Delete {
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
	client, err := a.resourceClient(obj)
	if err != nil {
		return nil, err
	}
	opts := metav1.PatchOptions{FieldManager: FieldManager}
	if a.DryRun == DryRunServer {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	out, err := client.Patch(ctx, obj.GetName(), types.JSONPatchType, s.Patch, opts)
	if err != nil {
		return nil, fmt.Errorf("patching %s: %w", Ref(obj), err)
	}
	return out, nil
}

// delete deletes obj on condition of its resourceVersion, and returns it
// as it was named.
func (a *Applier) delete(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	if a.DryRun == DryRunClient {
		return obj, nil
	}
	client, err := a.resourceClient(obj)
	if err != nil {
		return nil, err
	}
	opts := metav1.DeleteOptions{}
	if rv := obj.GetResourceVersion(); rv != "" {
		opts.Preconditions = &metav1.Preconditions{ResourceVersion: &rv}
	}
	if a.DryRun == DryRunServer {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if err := client.Delete(ctx, obj.GetName(), opts); err != nil {
		return nil, fmt.Errorf("deleting %s: %w", Ref(obj), err)
	}
	return obj, nil
}
