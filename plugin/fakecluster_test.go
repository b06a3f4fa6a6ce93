package plugin

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/apply"
)

// inventoryListKinds are the resources the commands and the policy
// preflight list through the dynamic client.
var inventoryListKinds = map[schema.GroupVersionResource]string{
	{Version: "v1", Resource: "services"}:                                            "ServiceList",
	{Version: "v1", Resource: "pods"}:                                                "PodList",
	{Version: "v1", Resource: "serviceaccounts"}:                                     "ServiceAccountList",
	{Version: "v1", Resource: "configmaps"}:                                          "ConfigMapList",
	{Group: "apps", Version: "v1", Resource: "deployments"}:                          "DeploymentList",
	{Group: "networking.istio.io", Version: "v1", Resource: "serviceentries"}:        "ServiceEntryList",
	{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"}:      "DestinationRuleList",
	{Group: "networking.istio.io", Version: "v1", Resource: "gateways"}:              "GatewayList",
	{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}:       "VirtualServiceList",
	{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gateways"}:        "GatewayList",
	{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "referencegrants"}: "ReferenceGrantList",
	{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}:      "HTTPRouteList",
}

// fakeCluster holds the same objects in a typed and a dynamic fake client,
// as a real API server serves them both.
type fakeCluster struct {
	kube    *fake.Clientset
	dynamic *dynamicfake.FakeDynamicClient
}

// newFakeCluster decodes YAML documents into both clients.
func newFakeCluster(t *testing.T, manifests ...string) *fakeCluster {
	t.Helper()
	var typed, untyped []runtime.Object
	for _, m := range manifests {
		for doc := range strings.SplitSeq(m, "\n---\n") {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			u := decodeManifest(t, doc)
			untyped = append(untyped, u)
			if u.GetAPIVersion() == "v1" || u.GetAPIVersion() == "apps/v1" {
				obj, err := scheme().New(u.GroupVersionKind())
				if err != nil {
					t.Fatal(err)
				}
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj); err != nil {
					t.Fatal(err)
				}
				typed = append(typed, obj)
			}
		}
	}
	c := &fakeCluster{
		kube:    fake.NewClientset(typed...),
		dynamic: dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), inventoryListKinds),
	}
	// The tracker guesses resources from kinds and gets Gateway wrong
	// ("gatewaies"): name the resource.
	for _, obj := range untyped {
		u := obj.(*unstructured.Unstructured)
		gvr, _, err := (&apply.Applier{}).Resource(u)
		switch u.GetKind() {
		case "Node":
			continue // read through the typed client only
		case "CustomResourceDefinition":
			gvr, err = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}, nil
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := c.dynamic.Tracker().Create(gvr, u, u.GetNamespace()); err != nil {
			t.Fatal(err)
		}
	}
	// The fake's own apply is a strategic merge patch, which unstructured
	// objects do not support: answer an apply with the applied object
	// (server-side apply itself is exercised against a real API server
	// in test/sim).
	c.dynamic.PrependReactor("patch", "*", func(action k8stesting.Action) (bool, runtime.Object, error) {
		patch, ok := action.(k8stesting.PatchActionImpl)
		if !ok || patch.GetPatchType() != types.ApplyPatchType {
			return false, nil, nil
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(patch.GetPatch()); err != nil {
			return true, nil, err
		}
		return true, u, nil
	})
	return c
}

func scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = fake.AddToScheme(s)
	return s
}

func decodeManifest(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	b, _ := json.Marshal(m)
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	return u
}

func (c *fakeCluster) clients() (kubernetes.Interface, dynamic.Interface, error) {
	return c.kube, c.dynamic, nil
}

// runOn executes the root command against the fake cluster and returns
// stdout, stderr (with main's "error: " line) and the exit code.
func runOn(t *testing.T, c *fakeCluster, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	env := &commandEnv{now: func() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }}
	if c != nil {
		env.newClients = c.clients
	}
	cmd := newRootCommand(streams, "kubectl-mesh", env)
	cmd.SetArgs(args)
	err := cmd.Execute()
	if err != nil && !Silent(err) {
		errOut.WriteString("error: " + err.Error() + "\n")
	}
	return out.String(), errOut.String(), ExitCode(err)
}

// wantGolden runs args on c and wants exit 0, nothing on stderr, stdout
// equal to the golden file and, unless serverWrites (a server-side dry
// run, which the fake clients record as writes), nothing written.
func wantGolden(t *testing.T, c *fakeCluster, goldenFile string, serverWrites bool, args ...string) {
	t.Helper()
	out, errOut, code := runOn(t, c, args...)
	if code != ExitOK || errOut != "" {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	golden(t, goldenFile, out)
	if w := c.writes(); len(w) > 0 && !serverWrites {
		t.Errorf("a client dry run or a read wrote to the cluster: %v", w)
	}
}

// wantRefused runs args on c and wants exit code, stderr containing
// want, and nothing written.
func wantRefused(t *testing.T, c *fakeCluster, code int, want string, args ...string) {
	t.Helper()
	out, errOut, got := runOn(t, c, args...)
	if got != code || !strings.Contains(errOut, want) {
		t.Errorf("exit %d (want %d)\nstderr:\n%s\nwant it to contain\n%s\nstdout:\n%s", got, code, errOut, want, out)
	}
	if w := c.writes(); len(w) > 0 {
		t.Errorf("a refused change wrote to the cluster: %v", w)
	}
}

// writes lists the verbs the fake clients received other than reads.
func (c *fakeCluster) writes() []string {
	var out []string
	for _, a := range append(c.kube.Actions(), c.dynamic.Actions()...) {
		switch a.GetVerb() {
		case "get", "list", "watch":
		default:
			out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
		}
	}
	return out
}

var metav1GetOptions = metav1.GetOptions{}

func inventoryGVR(resource string) schema.GroupVersionResource {
	for gvr := range inventoryListKinds {
		if gvr.Resource == resource {
			return gvr
		}
	}
	panic("no resource " + resource)
}
