// Package gatewayapi installs the Kubernetes Gateway API's CRDs from one
// of its release manifests, as Istio's documentation asks users to before
// they route with the Gateway API: skipped when the cluster has them,
// otherwise read whole, applied server-side and waited for until the API
// server serves them. It has no command-line plumbing.
package gatewayapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/apply"
	"github.com/kubectl-mesh/kubectl-mesh/plugin/progress"
)

const (
	// Version is the Gateway API release installed by default: the one
	// whose HTTPRoute and GRPCRoute the policies check.
	Version = "v1.6.0"
	// DefaultManifest is that release's standard-channel install manifest,
	// published by the Gateway API project with each release.
	DefaultManifest = "https://github.com/kubernetes-sigs/gateway-api/releases/download/" + Version + "/standard-install.yaml"
	// GatewaysCRD is the CRD whose presence means the Gateway API is
	// installed.
	GatewaysCRD = "gateways.gateway.networking.k8s.io"
	// Component is the name progress shows.
	Component = "Gateway API CRDs"
)

// maxManifest bounds what is read: the standard manifest is under 1 MiB.
const maxManifest = 32 << 20

// CRDs is the resource of CustomResourceDefinitions.
var CRDs = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// Read loads a manifest from an http(s) URL or a file and decodes all its
// objects, so that nothing is applied from one that is cut short or is
// not a Gateway API install manifest at all.
func Read(ctx context.Context, client *http.Client, source string) ([]*unstructured.Unstructured, error) {
	data, err := fetch(ctx, client, source)
	if err != nil {
		return nil, err
	}
	objs, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" && o.GetName() == GatewaysCRD {
			return objs, nil
		}
	}
	return nil, fmt.Errorf("%s is no Gateway API install manifest: it has no CustomResourceDefinition %s", source, GatewaysCRD)
}

func fetch(ctx context.Context, client *http.Client, source string) ([]byte, error) {
	if !strings.HasPrefix(source, "http://") && !strings.HasPrefix(source, "https://") {
		f, err := os.Open(source)
		if err != nil {
			return nil, fmt.Errorf("reading the Gateway API manifest: %w", err)
		}
		defer f.Close()
		return readAll(f, source)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, source, nil)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", source, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching the Gateway API manifest: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching %s: %s", source, resp.Status)
	}
	return readAll(resp.Body, source)
}

func readAll(r io.Reader, source string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxManifest+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", source, err)
	}
	if len(data) > maxManifest {
		return nil, fmt.Errorf("%s is larger than %d MiB: not a Gateway API manifest", source, maxManifest>>20)
	}
	return data, nil
}

// Decode reads the YAML documents of a manifest; empty documents are
// skipped.
func Decode(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for i := 1; ; i++ {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(m) == 0 {
			continue
		}
		obj := &unstructured.Unstructured{Object: m}
		if obj.GetAPIVersion() == "" || obj.GetKind() == "" || obj.GetName() == "" {
			return nil, fmt.Errorf("document %d: not a Kubernetes object (apiVersion, kind and metadata.name are required)", i)
		}
		out = append(out, obj)
	}
}

// Installed reports whether the cluster has the Gateway API's Gateway CRD.
func Installed(ctx context.Context, dyn dynamic.Interface) (bool, error) {
	_, err := dyn.Resource(CRDs).Get(ctx, GatewaysCRD, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("reading CRD %s: %w", GatewaysCRD, err)
	}
	return true, nil
}

// Installer applies a manifest's objects when the cluster lacks the CRDs.
type Installer struct {
	Applier  *apply.Applier
	HTTP     *http.Client
	Progress *progress.Writer
	// Timeout bounds the wait for the CRDs to be established.
	Timeout time.Duration
	// Poll is how often the wait looks; 0 means every half second.
	Poll time.Duration
}

// ErrFailed is returned once the failure is printed with its cross.
var ErrFailed = errors.New("installing the Gateway API's CRDs failed")

// Install installs the CRDs from source unless the cluster has them; it
// returns the objects applied (none when skipped). Failures are printed
// as a cross with the reason and returned wrapping ErrFailed.
func (in *Installer) Install(ctx context.Context, source string) ([]*unstructured.Unstructured, error) {
	step := in.Progress.Start(Component)
	fail := func(err error) ([]*unstructured.Unstructured, error) {
		step.Fail(Component+" encountered an error", err.Error())
		return nil, fmt.Errorf("%w: %w", ErrFailed, err)
	}
	installed, err := Installed(ctx, in.Applier.Client)
	if err != nil {
		return fail(err)
	}
	if installed {
		step.Done(Component + " already installed (" + GatewaysCRD + " exists)")
		return nil, nil
	}
	step.Waiting("reading " + source)
	objs, err := Read(ctx, in.HTTP, source)
	if err != nil {
		return fail(err)
	}
	step.Waiting(fmt.Sprintf("applying %d objects", len(objs)))
	applied, err := in.Applier.ApplyAll(ctx, objs)
	if err != nil {
		return fail(err)
	}
	if in.Applier.DryRun == apply.DryRunNone {
		if err := in.established(ctx, step, objs); err != nil {
			return fail(err)
		}
	}
	step.Done(Component + " installed")
	return applied, nil
}

// established waits until the API server serves every CRD applied.
func (in *Installer) established(ctx context.Context, step *progress.Step, objs []*unstructured.Unstructured) error {
	timeout, poll := in.Timeout, in.Poll
	if timeout <= 0 {
		timeout = time.Minute
	}
	if poll <= 0 {
		poll = 500 * time.Millisecond
	}
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" {
			continue
		}
		step.Waiting("CustomResourceDefinition/" + o.GetName())
		err := wait.PollUntilContextTimeout(ctx, poll, timeout, true, func(ctx context.Context) (bool, error) {
			crd, err := in.Applier.Client.Resource(CRDs).Get(ctx, o.GetName(), metav1.GetOptions{})
			if err != nil {
				return false, nil // not served yet: the apply may still be settling
			}
			conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conditions {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("CRD %s not established after %s", o.GetName(), timeout)
		}
	}
	return nil
}

// Names lists objects as Kind/name, for a dry run's summary.
func Names(objs []*unstructured.Unstructured) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.GetKind() + "/" + o.GetName()
	}
	return out
}
