package istioinstall

import (
	"context"
	"fmt"
	"sort"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/workload"
)

// Injection labels on namespaces.
const (
	InjectionLabel = "istio-injection"
	RevisionLabel  = "istio.io/rev"
)

// Status is the state of the mesh: Istio's releases and their workloads,
// the namespaces with sidecar injection, and mesh-webhook.
type Status struct {
	Namespace           string               `json:"namespace"`
	Installed           bool                 `json:"installed"`
	Ready               bool                 `json:"ready"`
	Components          []ComponentStatus    `json:"components"`
	InjectionNamespaces []InjectionNamespace `json:"injectionNamespaces"`
	MeshWebhook         WebhookStatus        `json:"meshWebhook"`
}

// ComponentStatus is one release and its workloads.
type ComponentStatus struct {
	Component    string           `json:"component"`
	Release      string           `json:"release"`
	Chart        string           `json:"chart"`
	ChartVersion string           `json:"chartVersion"`
	AppVersion   string           `json:"appVersion"`
	Status       string           `json:"status"`
	Revision     int              `json:"revision"`
	Ready        bool             `json:"ready"`
	Workloads    []WorkloadStatus `json:"workloads"`
}

// WorkloadStatus is one workload's readiness.
type WorkloadStatus struct {
	Kind      string   `json:"kind"`
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Found     bool     `json:"found"`
	Ready     int32    `json:"ready"`
	Desired   int32    `json:"desired"`
	RolledOut bool     `json:"rolledOut"`
	Images    []string `json:"images,omitempty"`
}

// InjectionNamespace is a namespace whose pods get sidecars, and the label
// that says so (istio-injection=enabled or istio.io/rev=REVISION).
type InjectionNamespace struct {
	Name  string `json:"name"`
	Label string `json:"label"`
}

// WebhookStatus says whether the mesh-webhook release is installed.
type WebhookStatus struct {
	Installed    bool   `json:"installed"`
	Namespace    string `json:"namespace,omitempty"`
	ChartVersion string `json:"chartVersion,omitempty"`
	AppVersion   string `json:"appVersion,omitempty"`
	Status       string `json:"status,omitempty"`
}

// StatusReader gathers a Status.
type StatusReader struct {
	// Config is the Helm configuration of a namespace ("" reads every
	// namespace).
	Config func(namespace string) (*action.Configuration, error)
	Kube   kubernetes.Interface
	// WebhookRelease is the name of mesh-webhook's release, looked for in
	// every namespace.
	WebhookRelease string
}

// Read gathers the status.
func (s *StatusReader) Read(ctx context.Context) (*Status, error) {
	cfg, err := s.Config(Namespace)
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	rels, err := Installed(cfg)
	if err != nil {
		return nil, err
	}
	st := &Status{Namespace: Namespace, Installed: len(rels) > 0, Ready: len(rels) > 0,
		Components: []ComponentStatus{}, InjectionNamespaces: []InjectionNamespace{}}
	for _, rel := range rels {
		cs, err := s.component(ctx, rel)
		if err != nil {
			return nil, err
		}
		st.Ready = st.Ready && cs.Ready
		st.Components = append(st.Components, cs)
	}
	if st.InjectionNamespaces, err = injectionNamespaces(ctx, s.Kube); err != nil {
		return nil, err
	}
	if st.MeshWebhook, err = s.webhook(); err != nil {
		return nil, err
	}
	return st, nil
}

func (s *StatusReader) component(ctx context.Context, rel *release.Release) (ComponentStatus, error) {
	comp, _ := ComponentOf(rel.Name)
	cs := ComponentStatus{Component: comp.Name, Release: rel.Name, Revision: rel.Version, Workloads: []WorkloadStatus{}}
	if rel.Chart != nil && rel.Chart.Metadata != nil {
		cs.Chart, cs.ChartVersion, cs.AppVersion = rel.Chart.Metadata.Name, rel.Chart.Metadata.Version, rel.Chart.Metadata.AppVersion
	}
	if rel.Info != nil {
		cs.Status = rel.Info.Status.String()
	}
	cs.Ready = cs.Status == release.StatusDeployed.String()
	refs, err := Workloads(rel)
	if err != nil {
		return cs, err
	}
	for _, ref := range refs {
		w, err := workload.Check(ctx, s.Kube, ref)
		if err != nil {
			return cs, err
		}
		cs.Workloads = append(cs.Workloads, WorkloadStatus{
			Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name, Found: w.Found,
			Ready: w.Ready, Desired: w.Desired, RolledOut: w.RolledOut, Images: w.Images,
		})
		cs.Ready = cs.Ready && w.RolledOut
	}
	return cs, nil
}

// injectionNamespaces lists namespaces labelled for sidecar injection, by
// name. istio-injection=disabled is not injection, and it wins over
// istio.io/rev as in istiod's webhook selectors.
func injectionNamespaces(ctx context.Context, kube kubernetes.Interface) ([]InjectionNamespace, error) {
	list, err := kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing namespaces: %w", err)
	}
	out := []InjectionNamespace{}
	for _, ns := range list.Items {
		inj, hasInj := ns.Labels[InjectionLabel]
		rev, hasRev := ns.Labels[RevisionLabel]
		switch {
		case inj == "enabled":
			out = append(out, InjectionNamespace{ns.Name, InjectionLabel + "=enabled"})
		case !hasInj && hasRev:
			out = append(out, InjectionNamespace{ns.Name, RevisionLabel + "=" + rev})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *StatusReader) webhook() (WebhookStatus, error) {
	if s.WebhookRelease == "" {
		return WebhookStatus{}, nil
	}
	cfg, err := s.Config("")
	if err != nil {
		return WebhookStatus{}, fmt.Errorf("connecting to the cluster: %w", err)
	}
	list := action.NewList(cfg)
	list.AllNamespaces = true
	list.All = true
	list.SetStateMask()
	list.Filter = "^" + s.WebhookRelease + "$"
	rels, err := list.Run()
	if err != nil {
		return WebhookStatus{}, fmt.Errorf("looking for the %s release: %w", s.WebhookRelease, err)
	}
	if len(rels) == 0 {
		return WebhookStatus{}, nil
	}
	rel := rels[0]
	ws := WebhookStatus{Installed: true, Namespace: rel.Namespace}
	if rel.Chart != nil && rel.Chart.Metadata != nil {
		ws.ChartVersion, ws.AppVersion = rel.Chart.Metadata.Version, rel.Chart.Metadata.AppVersion
	}
	if rel.Info != nil {
		ws.Status = rel.Info.Status.String()
	}
	return ws, nil
}
