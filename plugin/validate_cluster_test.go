package plugin

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes"
)

func clusterObject(apiVersion, kind, ns, name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     spec,
	}}
}

// TestValidateCluster resolves references against a (fake) live cluster;
// files win over cluster objects of the same identity.
func TestValidateCluster(t *testing.T) {
	scheme := runtime.NewScheme()
	gvrs := inventoryListKinds
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme, gvrs,
		clusterObject("v1", "Service", "default", "reviews", map[string]any{"ports": []any{map[string]any{"name": "http", "port": int64(9080)}}}),
		clusterObject("networking.istio.io/v1", "DestinationRule", "default", "reviews", map[string]any{
			"host": "reviews", "subsets": []any{map[string]any{"name": "v1", "labels": map[string]any{"version": "v1"}}},
		}),
		clusterObject("networking.istio.io/v1", "VirtualService", "default", "reviews-live", map[string]any{
			"hosts": []any{"reviews"},
			"http":  []any{map[string]any{"route": []any{map[string]any{"destination": map[string]any{"host": "reviews", "subset": "v1"}}}}},
		}),
	)
	const vsYAML = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 90
    - destination: {host: reviews, subset: v2}
      weight: 10
`
	const dropV1YAML = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v2, labels: {version: v2}}
`
	const drYAML = `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`
	cases := []struct {
		name    string
		input   string
		cluster bool
		code    int
		want    []string
	}{
		{"offline, nothing resolves", vsYAML, false, ExitFailed, []string{"MESH0201", "MESH0301"}},
		{"cluster supplies the Service and a rule without v2", vsYAML, true, ExitFailed, []string{`subset "v2"`, "DestinationRule default/reviews defines v1"}},
		{"a file's DestinationRule wins over the cluster's", vsYAML + drYAML, true, ExitOK, []string{"No problems found in 2 resources."}},
		// The cluster's VirtualService routes to v1: a file dropping v1 from
		// the stored DestinationRule is an update that breaks it.
		{"an update that drops a subset still routed to", dropV1YAML, true, ExitFailed, []string{"MESH0601", "VirtualService default/reviews-live"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			o := NewValidateOptions(genericclioptions.NewConfigFlags(false), genericiooptions.IOStreams{In: strings.NewReader(tc.input), Out: &out, ErrOut: &out})
			o.Filenames, o.Cluster, o.Output = []string{"-"}, tc.cluster, "text"
			o.env.newClients = func() (kubernetes.Interface, dynamic.Interface, error) { return nil, client, nil }
			cmd := newValidateCommand(&commandEnv{flags: genericclioptions.NewConfigFlags(false)}, genericiooptions.IOStreams{})
			if err := o.Complete(cmd, nil); err != nil {
				t.Fatal(err)
			}
			err := o.Run(context.Background())
			if got := ExitCode(err); got != tc.code {
				t.Errorf("exit %d, want %d: %v\n%s", got, tc.code, err, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}
