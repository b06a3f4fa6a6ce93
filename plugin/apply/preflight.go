package apply

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/kubectl-mesh/kubectl-mesh/policies"
)

// Preflight runs the policy core over objects about to be applied, with
// the cluster's Services, Pods, Deployments, Istio and Gateway API objects as the
// inventory (client may be nil for a client dry run). The objects win over
// their live versions, exactly as the webhook would see the change.
type Preflight struct {
	Engine *policies.Engine
	Client dynamic.Interface
}

// RejectedError lists the error findings that stopped a change; its text
// is the webhook's denial text, one finding per line.
type RejectedError struct {
	Findings []policies.Finding
}

func (e *RejectedError) Error() string {
	lines := make([]string, 0, len(e.Findings)+1)
	lines = append(lines, "the change breaks Istio traffic config; nothing was applied:")
	for _, f := range e.Findings {
		if f.IsError() {
			lines = append(lines, "  "+f.Text())
		}
	}
	return strings.Join(lines, "\n")
}

// IsRejected reports whether err is a policy rejection.
func IsRejected(err error) bool {
	var r *RejectedError
	return errors.As(err, &r)
}

// Check returns every finding for objs; it fails with *RejectedError when
// one of them is an error.
func (p *Preflight) Check(ctx context.Context, objs []*unstructured.Unstructured) ([]policies.Finding, error) {
	engine, live, err := p.prepare(ctx)
	if err != nil {
		return nil, err
	}
	return p.check(ctx, engine, live, objs, nil)
}

// prepare loads the engine when none was given and lists the cluster.
func (p *Preflight) prepare(ctx context.Context) (*policies.Engine, []*policies.Object, error) {
	engine := p.Engine
	if engine == nil {
		var err error
		if engine, err = policies.NewEngine(ctx, policies.Options{}); err != nil {
			return nil, nil, fmt.Errorf("loading policies: %w", err)
		}
	}
	if p.Client == nil {
		return engine, nil, nil
	}
	live, err := policies.ListCluster(ctx, p.Client)
	if err != nil {
		return nil, nil, err
	}
	return engine, live, nil
}

// check reviews objs and the deletions over the live objects, as the
// webhook would review each write of the change.
func (p *Preflight) check(ctx context.Context, engine *policies.Engine, live []*policies.Object, objs, deleted []*unstructured.Unstructured) ([]policies.Finding, error) {
	change := policies.Change{Live: live, KeepObjects: true}
	for _, obj := range objs {
		change.Apply = append(change.Apply, policies.NewObject(obj.DeepCopy().Object, policies.Source{}))
	}
	for _, obj := range deleted {
		change.Delete = append(change.Delete, policies.NewObject(obj.Object, policies.Source{}))
	}
	outcome, err := engine.Check(ctx, change)
	if err != nil {
		return nil, err
	}
	if policies.CountErrors(outcome.Findings) > 0 {
		return outcome.Findings, &RejectedError{Findings: outcome.Findings}
	}
	return outcome.Findings, nil
}
