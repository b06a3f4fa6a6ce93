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

// check reviews objs over the live objects, with the deleted ones gone.
func (p *Preflight) check(ctx context.Context, engine *policies.Engine, live []*policies.Object, objs, deleted []*unstructured.Unstructured) ([]policies.Finding, error) {
	index := policies.NewIndex(engine.Settings().ClusterDomain)
	stored := map[string]*policies.Object{}
	for _, obj := range live {
		index.Add(obj)
		stored[objectKey(obj)] = obj
	}
	// A deletion is reviewed as the webhook would review it, over the
	// inventory without it: a DestinationRule whose subsets a route still
	// names, or a Gateway a VirtualService is bound to, is refused.
	var reviews []policies.Review
	for _, d := range deleted {
		gvk := d.GroupVersionKind()
		index.Remove(gvk.Kind, gvk.Group, d.GetNamespace(), d.GetName())
		if old, ok := stored[gvk.Group+"/"+gvk.Kind+"/"+d.GetNamespace()+"/"+d.GetName()]; ok && old.Group() == policies.IstioNetworkingGroup { // objectKey's form
			reviews = append(reviews, policies.Review{Operation: policies.OperationDelete, OldObject: old})
		}
	}
	// An object that exists is reviewed as an UPDATE of the stored one, as
	// the webhook would: a DestinationRule losing a subset that another
	// VirtualService still routes to is caught (MESH0601).
	for _, obj := range objs {
		o := policies.NewObject(obj.DeepCopy().Object, policies.Source{})
		index.Add(o)
		if !o.IsReviewed() {
			continue
		}
		review := policies.Review{Operation: policies.OperationCreate, Object: o}
		if old, ok := stored[objectKey(o)]; ok {
			review = policies.Review{Operation: policies.OperationUpdate, Object: o, OldObject: old}
		}
		reviews = append(reviews, review)
	}
	var findings []policies.Finding
	for _, review := range reviews {
		fs, err := engine.Review(ctx, review, index)
		if err != nil {
			return nil, err
		}
		findings = append(findings, fs...)
	}
	policies.SortFindings(findings)
	if policies.CountErrors(findings) > 0 {
		return findings, &RejectedError{Findings: findings}
	}
	return findings, nil
}

func objectKey(o *policies.Object) string {
	return o.Group() + "/" + o.Kind() + "/" + o.Namespace() + "/" + o.Name()
}
