package canary

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/apply"
	"github.com/kubectl-mesh/kubectl-mesh/policies"
)

// Check runs the policy core over the objects as they stand after every
// step, so that no intermediate moment breaks traffic either. It returns
// the warnings, or the first rejection.
func Check(ctx context.Context, p *apply.Preflight, plan *Plan) ([]policies.Finding, error) {
	var warnings []policies.Finding
	seen := map[string]bool{}
	for _, stage := range plan.Stages() {
		findings, err := p.Check(ctx, stage)
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

// Apply applies the plan's steps in order and returns what the API server
// made of each. A step that fails stops the plan: the steps before it are
// complete and safe on their own, as the plan's order guarantees.
func Apply(ctx context.Context, a *apply.Applier, plan *Plan) ([]*unstructured.Unstructured, error) {
	versions := map[string]string{}
	var out []*unstructured.Unstructured
	for _, s := range plan.Steps {
		obj := s.Object.DeepCopy()
		key := obj.GetKind() + "/" + obj.GetName()
		// A later step on the same object comes after our own write: its
		// precondition is the version that write produced.
		if v, ok := versions[key]; ok && obj.GetResourceVersion() != "" {
			obj.SetResourceVersion(v)
		}
		res, err := a.Apply(ctx, obj)
		if err != nil {
			return out, fmt.Errorf("%s: %w", s.What, err)
		}
		if a.DryRun == apply.DryRunNone {
			versions[key] = res.GetResourceVersion()
		}
		out = append(out, res)
	}
	return out, nil
}
