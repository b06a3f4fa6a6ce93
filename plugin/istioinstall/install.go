package istioinstall

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/helmrelease"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/progress"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/workload"
)

// Installer installs releases into a cluster.
type Installer struct {
	// Config is the Helm configuration of a release namespace.
	Config func(namespace string) (*action.Configuration, error)
	Kube   kubernetes.Interface
	// Progress gets a line per component.
	Progress *progress.Writer
	// Timeout bounds the whole install, workloads becoming ready included.
	Timeout time.Duration
	// DryRun "server" renders against the cluster and changes nothing
	// (and waits for nothing).
	DryRun string
}

// ComponentError says which component failed and why; the progress lines
// have already shown it.
type ComponentError struct {
	Component Component
	Err       error
}

func (e *ComponentError) Error() string {
	return fmt.Sprintf("%s: %v", e.Component.Name, e.Err)
}

func (e *ComponentError) Unwrap() error { return e.Err }

// Install installs or upgrades each release in order and waits for its
// workloads to be ready before the next, like istioctl. It stops at the
// first component that fails, after printing a cross and the reason.
func (in *Installer) Install(ctx context.Context, releases []Release) ([]*release.Release, error) {
	ctx, cancel, timeout, cfg, err := begin(ctx, in.Timeout, in.Config)
	if err != nil {
		return nil, err
	}
	defer cancel()
	dry := in.DryRun == "server"
	if !dry {
		if _, err := helmrelease.EnsureNamespace(ctx, in.Kube, Namespace, nil); err != nil {
			return nil, err
		}
	}
	var done []*release.Release
	for _, r := range releases {
		step := in.Progress.Start(r.Component.Name)
		spec := r.Spec
		spec.DryRun = in.DryRun
		rel, _, err := helmrelease.Apply(ctx, cfg, spec)
		if err != nil {
			step.Fail(r.Component.Name+" encountered an error", err.Error())
			return done, &ComponentError{r.Component, err}
		}
		done = append(done, rel)
		if !dry {
			refs, err := Workloads(rel)
			if err != nil {
				step.Fail(r.Component.Name+" encountered an error", err.Error())
				return done, &ComponentError{r.Component, err}
			}
			err = workload.Wait(ctx, in.Kube, refs, func(pending []workload.Ref) {
				step.Waiting(joinRefs(pending))
			})
			if err != nil {
				var nre *workload.NotReadyError
				if errors.As(err, &nre) {
					step.Fail(fmt.Sprintf("%s encountered an error: resources not ready after %s", r.Component.Name, timeout), nre.Error())
				} else {
					step.Fail(r.Component.Name+" encountered an error", err.Error())
				}
				return done, &ComponentError{r.Component, err}
			}
		}
		step.Done(r.Component.Name + " installed")
	}
	in.Progress.Complete("Installation complete")
	return done, nil
}

// begin bounds ctx by the timeout (DefaultTimeout when unset) and opens
// the Helm configuration of Namespace.
func begin(ctx context.Context, timeout time.Duration, config func(string) (*action.Configuration, error)) (context.Context, context.CancelFunc, time.Duration, *action.Configuration, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	cfg, err := config(Namespace)
	if err != nil {
		return ctx, func() {}, timeout, nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	return ctx, cancel, timeout, cfg, nil
}

func joinRefs(refs []workload.Ref) string {
	names := make([]string, len(refs))
	for i, r := range refs {
		names[i] = r.String()
	}
	return strings.Join(names, ", ")
}

// Workloads are the Deployments, StatefulSets and DaemonSets a release
// applies, the things to wait for.
func Workloads(rel *release.Release) ([]workload.Ref, error) {
	objs, err := helmrelease.Objects(helmrelease.Manifest(rel))
	if err != nil {
		return nil, err
	}
	var refs []workload.Ref
	for _, o := range objs {
		switch o.GetKind() {
		case workload.Deployment, workload.StatefulSet, workload.DaemonSet:
			ns := o.GetNamespace()
			if ns == "" {
				ns = rel.Namespace
			}
			refs = append(refs, workload.Ref{Kind: o.GetKind(), Namespace: ns, Name: o.GetName()})
		}
	}
	return refs, nil
}

// Render renders every release without a cluster (`--dry-run=client`).
func Render(ctx context.Context, releases []Release) ([]*release.Release, error) {
	var out []*release.Release
	for _, r := range releases {
		rel, err := helmrelease.Render(ctx, r.Spec)
		if err != nil {
			return nil, err
		}
		out = append(out, rel)
	}
	return out, nil
}
