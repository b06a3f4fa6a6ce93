// Package istioinstall installs, upgrades, uninstalls and reports Istio
// from its official Helm charts, one Helm release per component, in the
// order and words of istioctl: Istio core (the base chart: CRDs and
// cluster roles), Istiod, then the egress and ingress gateways.
package istioinstall

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chart"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/helmrelease"
)

// Namespace is where every release and its namespaced objects go.
const Namespace = "istio-system"

// DefaultVersion is the Istio version installed from the chart repository
// when --version is not given.
const DefaultVersion = "1.32.0"

// DefaultTimeout bounds a whole install.
const DefaultTimeout = 5 * time.Minute

// Profiles, as istioctl names them.
const (
	ProfileDemo    = "demo"
	ProfileDefault = "default"
	ProfileMinimal = "minimal"
)

// Profiles lists the profiles Install knows.
var profiles = []string{ProfileDefault, ProfileDemo, ProfileMinimal}

// Profiles returns the profile names.
func Profiles() []string { return slices.Clone(profiles) }

// Component is one Helm release of the install.
type Component struct {
	// Name is istioctl's name of the component in progress lines.
	Name string
	// Release is the Helm release name (before a revision suffix).
	Release string
	// Chart is the chart's name in Istio's chart repository; Dir is its
	// folder in a release's manifests/charts.
	Chart, Dir string
	// Gateway is the value of the pods' istio label (ingressgateway,
	// egressgateway) for gateways, empty otherwise.
	Gateway string
}

// The components, in install order.
var (
	Core    = Component{Name: "Istio core", Release: "istio-base", Chart: "base", Dir: "base"}
	Istiod  = Component{Name: "Istiod", Release: "istiod", Chart: "istiod", Dir: "istio-control/istio-discovery"}
	Egress  = Component{Name: "Egress gateways", Release: "istio-egressgateway", Chart: "gateway", Dir: "gateway", Gateway: "egressgateway"}
	Ingress = Component{Name: "Ingress gateways", Release: "istio-ingressgateway", Chart: "gateway", Dir: "gateway", Gateway: "ingressgateway"}
)

// AllComponents are every component any profile installs, in install
// order; uninstall goes the other way.
func AllComponents() []Component { return []Component{Core, Istiod, Egress, Ingress} }

// ComponentsOf returns the components of a profile, in install order.
func ComponentsOf(profile string) ([]Component, error) {
	switch profile {
	case ProfileMinimal:
		return []Component{Core, Istiod}, nil
	case ProfileDefault:
		return []Component{Core, Istiod, Ingress}, nil
	case ProfileDemo:
		return []Component{Core, Istiod, Egress, Ingress}, nil
	}
	return nil, fmt.Errorf("unknown profile %q (%s)", profile, strings.Join(profiles, ", "))
}

// ReleaseName is the component's release for a revision: istiod of
// revision canary is istiod-canary; the others are shared by revisions.
func (c Component) ReleaseName(revision string) string {
	if c == Istiod && revision != "" {
		return c.Release + "-" + revision
	}
	return c.Release
}

// Options say what to install.
type Options struct {
	Profile string
	// Version is the chart version taken from the repository.
	Version string
	// Revision installs a revisioned control plane (istio.io/rev).
	Revision string
	// Values are the user's values (-f, then --set). Top-level keys named
	// after a release (istio-base, istiod, istio-ingressgateway,
	// istio-egressgateway) go to that release only; the rest go to
	// istio-base and istiod, and their "global" also to the gateways
	// (whose chart's schema accepts nothing else of theirs).
	Values map[string]any
	// ChartsDir is a release's manifests/charts folder; empty means the
	// chart repository.
	ChartsDir string
	// Repo is the chart repository: a URL, or empty for the Helm
	// repository named "istio" in Helm's repositories file.
	Repo string
}

// Release is one component's release, ready to install or render.
type Release struct {
	Component Component
	Spec      helmrelease.Spec
}

// Plan turns options and loaded charts into the releases to install, in
// order, with each one's values checked against its chart.
func Plan(o Options, charts map[string]*chart.Chart) ([]Release, error) {
	comps, err := ComponentsOf(o.Profile)
	if err != nil {
		return nil, err
	}
	var out []Release
	for _, c := range comps {
		ch := charts[c.Chart]
		if ch == nil {
			return nil, fmt.Errorf("no chart %s loaded", c.Chart)
		}
		name := c.ReleaseName(o.Revision)
		vals := componentValues(o, c)
		if err := helmrelease.CheckValues(ch, name, Namespace, vals); err != nil {
			return nil, fmt.Errorf("values for release %s (chart %s): %w", name, c.Chart, err)
		}
		out = append(out, Release{Component: c, Spec: helmrelease.Spec{
			Name: name, Namespace: Namespace, Chart: ch, Values: vals,
			// The base chart's CRDs may exist already, applied by hand or
			// left by another tool: adopt them rather than fail.
			TakeOwnership: c == Core,
		}})
	}
	return out, nil
}

// releaseKeys are the top-level value keys that address one release.
func releaseKeys() []string {
	var keys []string
	for _, c := range AllComponents() {
		keys = append(keys, c.Release)
	}
	return keys
}

// componentValues builds a release's values: kubectl-mesh's own for the
// profile and component, the user's shared values, then the user's values
// for that release.
func componentValues(o Options, c Component) map[string]any {
	vals := map[string]any{}
	if o.Profile == ProfileDemo {
		// The charts carry istioctl's demo profile (files/profile-demo.yaml);
		// default and minimal are the charts' own defaults.
		vals["profile"] = ProfileDemo
	}
	if o.Revision != "" && c != Core {
		vals["revision"] = o.Revision
	}
	if c.Gateway != "" {
		vals["labels"] = map[string]any{"app": c.Release, "istio": c.Gateway}
		if o.Profile == ProfileDemo {
			// As istioctl's demo profile: one gateway replica, no autoscaler.
			vals["autoscaling"] = map[string]any{"enabled": false}
		}
		if c == Egress {
			// Egress traffic leaves from inside the cluster: no load balancer.
			vals["service"] = map[string]any{"type": "ClusterIP"}
		}
	}
	shared := map[string]any{}
	for k, v := range deepCopy(o.Values) {
		if !slices.Contains(releaseKeys(), k) {
			shared[k] = v
		}
	}
	if c.Gateway != "" {
		if g, ok := shared["global"]; ok {
			shared = map[string]any{"global": g}
		} else {
			shared = map[string]any{}
		}
	}
	helmrelease.MergeValues(vals, shared)
	if own, ok := o.Values[c.Release].(map[string]any); ok {
		helmrelease.MergeValues(vals, deepCopy(own))
	}
	return vals
}

func deepCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		switch t := v.(type) {
		case map[string]any:
			out[k] = deepCopy(t)
		case []any:
			out[k] = slices.Clone(t)
		default:
			out[k] = v
		}
	}
	return out
}
