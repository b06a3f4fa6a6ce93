// Package apply applies kubectl-mesh's objects the way the command-line
// contract asks: server-side apply with field manager kubectl-mesh, the three
// dry-run modes, YAML or JSON output of exactly what would be applied, and
// the policy core's verdict before anything Istio-shaped reaches the cluster.
// It has no command-line plumbing, so engines and tests call it directly.
package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

// FieldManager owns every field kubectl-mesh applies.
const FieldManager = "kubectl-mesh"

// ManagedByLabel, set to ManagedBy, marks the objects kubectl-mesh created
// (not those it only changed), so cleanup removes exactly them.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedBy      = FieldManager
)

// DryRun is the --dry-run mode of a command.
type DryRun string

// The modes kubectl has: apply, print without a cluster, or let the API
// server check without storing.
const (
	DryRunNone   DryRun = "none"
	DryRunClient DryRun = "client"
	DryRunServer DryRun = "server"
)

// ParseDryRun reads a --dry-run value; kubectl's bare --dry-run means client.
func ParseDryRun(s string) (DryRun, error) {
	switch s {
	case "", "none", "false":
		return DryRunNone, nil
	case "client", "true", "unchanged":
		return DryRunClient, nil
	case "server":
		return DryRunServer, nil
	}
	return "", fmt.Errorf("--dry-run must be none, client or server, not %q", s)
}

// Suffix is what a status line says after an object in this mode.
func (d DryRun) Suffix() string {
	if d == DryRunNone || d == "" {
		return ""
	}
	return " (dry run: " + string(d) + ")"
}

// knownResources maps the kinds kubectl-mesh writes to their resources, so
// an Applier works without discovery (client dry runs, fake clients).
var knownResources = map[schema.GroupKind]string{
	{Group: "", Kind: "Namespace"}:                                                  "namespaces",
	{Group: "", Kind: "Service"}:                                                    "services",
	{Group: "", Kind: "ServiceAccount"}:                                             "serviceaccounts",
	{Group: "", Kind: "ConfigMap"}:                                                  "configmaps",
	{Group: "apps", Kind: "Deployment"}:                                             "deployments",
	{Group: "networking.istio.io", Kind: "VirtualService"}:                          "virtualservices",
	{Group: "networking.istio.io", Kind: "DestinationRule"}:                         "destinationrules",
	{Group: "networking.istio.io", Kind: "Gateway"}:                                 "gateways",
	{Group: "networking.istio.io", Kind: "ServiceEntry"}:                            "serviceentries",
	{Group: "networking.istio.io", Kind: "Sidecar"}:                                 "sidecars",
	{Group: "gateway.networking.k8s.io", Kind: "Gateway"}:                           "gateways",
	{Group: "gateway.networking.k8s.io", Kind: "HTTPRoute"}:                         "httproutes",
	{Group: "security.istio.io", Kind: "PeerAuthentication"}:                        "peerauthentications",
	{Group: "security.istio.io", Kind: "AuthorizationPolicy"}:                       "authorizationpolicies",
	{Group: "rbac.authorization.k8s.io", Kind: "Role"}:                              "roles",
	{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}:                       "rolebindings",
	{Group: "policy", Kind: "PodDisruptionBudget"}:                                  "poddisruptionbudgets",
	{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}:                         "horizontalpodautoscalers",
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}: "validatingwebhookconfigurations",
	// What the Gateway API's install manifest holds.
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}:                 "customresourcedefinitions",
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicy"}:        "validatingadmissionpolicies",
	{Group: "admissionregistration.k8s.io", Kind: "ValidatingAdmissionPolicyBinding"}: "validatingadmissionpolicybindings",
}

// clusterScoped are the known kinds without a namespace.
var clusterScoped = map[string]bool{
	"Namespace": true, "ValidatingWebhookConfiguration": true,
	"CustomResourceDefinition": true, "ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
}

// Applier server-side applies objects.
type Applier struct {
	Client dynamic.Interface
	// Mapper resolves kinds outside knownResources; optional.
	Mapper meta.RESTMapper
	DryRun DryRun
}

// Resource returns the resource of an object's kind and whether it is
// namespaced.
func (a *Applier) Resource(obj *unstructured.Unstructured) (schema.GroupVersionResource, bool, error) {
	gvk := obj.GroupVersionKind()
	if res, ok := knownResources[gvk.GroupKind()]; ok {
		return gvk.GroupVersion().WithResource(res), !clusterScoped[gvk.Kind], nil
	}
	if a.Mapper == nil {
		return schema.GroupVersionResource{}, false, fmt.Errorf("%s: unknown kind", gvk)
	}
	m, err := a.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return schema.GroupVersionResource{}, false, fmt.Errorf("%s: %w", gvk, err)
	}
	return m.Resource, m.Scope.Name() == meta.RESTScopeNameNamespace, nil
}

// Apply applies one object and returns what the API server made of it (in
// client dry-run mode, the object itself).
func (a *Applier) Apply(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	if a.DryRun == DryRunClient {
		return obj.DeepCopy(), nil
	}
	client, err := a.resourceClient(obj)
	if err != nil {
		return nil, err
	}
	opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
	if a.DryRun == DryRunServer {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	out, err := client.Apply(ctx, obj.GetName(), obj, opts)
	if err != nil {
		return nil, fmt.Errorf("applying %s: %w", Ref(obj), err)
	}
	return out, nil
}

// resourceClient is the client of obj's resource, in obj's namespace when
// the kind has one.
func (a *Applier) resourceClient(obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvr, namespaced, err := a.Resource(obj)
	if err != nil {
		return nil, err
	}
	if namespaced {
		return a.Client.Resource(gvr).Namespace(obj.GetNamespace()), nil
	}
	return a.Client.Resource(gvr), nil
}

// ApplyAll applies objects in order, stopping at the first failure; the
// caller orders them so that what is applied first never breaks traffic.
func (a *Applier) ApplyAll(ctx context.Context, objs []*unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, 0, len(objs))
	for _, obj := range objs {
		res, err := a.Apply(ctx, obj)
		if err != nil {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}

// Ref names an object like kubectl does: kind/name, with the namespace.
func Ref(obj *unstructured.Unstructured) string {
	ref := strings.ToLower(obj.GetKind()) + "/" + obj.GetName()
	if ns := obj.GetNamespace(); ns != "" {
		ref += " -n " + ns
	}
	return ref
}

// Print writes objects as YAML documents or JSON (a List when there are
// several), without the server's bookkeeping fields.
func Print(w io.Writer, format string, objs []*unstructured.Unstructured) error {
	clean := make([]map[string]any, 0, len(objs))
	for _, obj := range objs {
		c := obj.DeepCopy()
		unstructured.RemoveNestedField(c.Object, "metadata", "managedFields")
		clean = append(clean, c.Object)
	}
	switch format {
	case "json":
		var v any = map[string]any{"apiVersion": "v1", "kind": "List", "items": clean}
		if len(clean) == 1 {
			v = clean[0]
		}
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case "yaml":
		for i, obj := range clean {
			b, err := yaml.Marshal(obj)
			if err != nil {
				return err
			}
			if i > 0 {
				if _, err := io.WriteString(w, "---\n"); err != nil {
					return err
				}
			}
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("output format must be yaml or json, not %q", format)
}

// ValidOutput checks an -o value of a command that applies.
func ValidOutput(format string) error {
	switch format {
	case "", "yaml", "json":
		return nil
	}
	return fmt.Errorf("--output must be yaml or json, not %q", format)
}
