package istioinstall

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/progress"
)

// CRDResource is the CustomResourceDefinition resource.
var CRDResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// IsIstioGroup reports whether an API group is Istio's (istio.io and its
// subgroups: networking.istio.io, security.istio.io, ...).
func IsIstioGroup(group string) bool {
	return group == "istio.io" || strings.HasSuffix(group, ".istio.io")
}

// Installed lists the releases of Istio components in Namespace (every
// state, failed included), in install order, revisioned istiods after the
// default one.
func Installed(cfg *action.Configuration) ([]*release.Release, error) {
	list := action.NewList(cfg)
	list.All = true
	list.SetStateMask()
	rels, err := list.Run()
	if err != nil {
		return nil, fmt.Errorf("listing Helm releases in %s: %w", Namespace, err)
	}
	var out []*release.Release
	for _, r := range rels {
		if _, ok := ComponentOf(r.Name); ok {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		ci, _ := ComponentOf(out[i].Name)
		cj, _ := ComponentOf(out[j].Name)
		if order(ci) != order(cj) {
			return order(ci) < order(cj)
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// ComponentOf maps a release name to its component: istiod-REVISION is
// Istiod too.
func ComponentOf(releaseName string) (Component, bool) {
	for _, c := range AllComponents() {
		if releaseName == c.Release || (c == Istiod && strings.HasPrefix(releaseName, c.Release+"-")) {
			return c, true
		}
	}
	return Component{}, false
}

func order(c Component) int {
	for i, a := range AllComponents() {
		if a == c {
			return i
		}
	}
	return len(AllComponents())
}

// Uninstaller removes the releases.
type Uninstaller struct {
	Config   func(namespace string) (*action.Configuration, error)
	Dynamic  dynamic.Interface
	Progress *progress.Writer
	Timeout  time.Duration
	// DryRun says what would be removed and removes nothing.
	DryRun bool
}

// Removed is what Uninstall removed (or would).
type Removed struct {
	Releases []*release.Release
	CRDs     []string
}

// Uninstall removes the releases in reverse install order, waiting for
// their objects to go. With revision set, only that revision's istiod goes.
// With purge, Istio's CRDs go too (Helm keeps them: the charts mark them
// helm.sh/resource-policy: keep), and with them every Istio resource.
func (u *Uninstaller) Uninstall(ctx context.Context, revision string, purge bool) (*Removed, error) {
	ctx, cancel, _, cfg, err := begin(ctx, u.Timeout, u.Config)
	if err != nil {
		return nil, err
	}
	defer cancel()
	rels, err := Installed(cfg)
	if err != nil {
		return nil, err
	}
	removed := &Removed{}
	for i := len(rels) - 1; i >= 0; i-- {
		rel := rels[i]
		if revision != "" && rel.Name != Istiod.ReleaseName(revision) {
			continue
		}
		comp, _ := ComponentOf(rel.Name)
		step := u.Progress.Start(comp.Name)
		un := action.NewUninstall(cfg)
		un.Wait = true
		un.Timeout = remaining(ctx)
		un.DryRun = u.DryRun
		res, err := un.Run(rel.Name)
		if errors.Is(err, driver.ErrReleaseNotFound) {
			step.Done(fmt.Sprintf("%s already removed (release %s)", comp.Name, rel.Name))
			continue
		}
		if err != nil {
			step.Fail(comp.Name+" could not be removed", err.Error())
			return removed, &ComponentError{comp, err}
		}
		if res != nil && res.Release != nil {
			removed.Releases = append(removed.Releases, res.Release)
		}
		step.Done(fmt.Sprintf("%s %s (release %s)", comp.Name, pick(u.DryRun, "would be removed", "removed"), rel.Name))
	}
	if purge && revision == "" {
		step := u.Progress.Start("Istio CRDs")
		names, err := u.purgeCRDs(ctx, step)
		removed.CRDs = names
		if err != nil {
			step.Fail("Istio CRDs could not be removed", err.Error())
			return removed, err
		}
		step.Done(fmt.Sprintf("Istio CRDs %s (%d)", pick(u.DryRun, "would be removed", "removed"), len(names)))
	}
	if len(removed.Releases) == 0 && len(removed.CRDs) == 0 {
		u.Progress.Complete("Nothing to uninstall: no Istio release in " + Namespace)
	} else if u.DryRun {
		u.Progress.Complete("Uninstall dry run complete: nothing was changed")
	} else {
		u.Progress.Complete("Uninstall complete")
	}
	return removed, nil
}

// purgeCRDs deletes every CRD of an Istio group and waits until they are
// gone (the API server first deletes their resources).
func (u *Uninstaller) purgeCRDs(ctx context.Context, step *progress.Step) ([]string, error) {
	crds := u.Dynamic.Resource(CRDResource)
	list, err := crds.List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing CRDs: %w", err)
	}
	var names []string
	for _, crd := range list.Items {
		group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
		if IsIstioGroup(group) {
			names = append(names, crd.GetName())
		}
	}
	sort.Strings(names)
	if u.DryRun {
		return names, nil
	}
	for _, name := range names {
		err := crds.Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return names, fmt.Errorf("deleting CRD %s: %w", name, err)
		}
	}
	for _, name := range names {
		for {
			_, err := crds.Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				break
			}
			step.Waiting("CustomResourceDefinition/" + name)
			select {
			case <-ctx.Done():
				return names, fmt.Errorf("CRD %s is still there: %w", name, ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return names, nil
}

func remaining(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return time.Until(d)
	}
	return DefaultTimeout
}

func pick(cond bool, yes, no string) string {
	if cond {
		return yes
	}
	return no
}
