package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const baseline = `apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: %[1]s}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: %[1]s}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: shop-gateway, namespace: %[1]s}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: %[1]s}
spec:
  hosts: ["*"]
  gateways: [shop-gateway]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 90
    - destination: {host: reviews, subset: v2}
      weight: 10
`

func vsManifest(ns, name, routes string) string {
	return fmt.Sprintf("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: %s, namespace: %s}\nspec:\n  hosts: [reviews]\n%s", name, ns, routes)
}

// withWebhook starts mesh-webhook with a static serving certificate and
// registers it with the given failure policy.
func withWebhook(t testing.TB, c *cluster, policy admissionregistrationv1.FailurePolicyType) *webhookProcess {
	t.Helper()
	dir := t.TempDir()
	ca := servingCert(t, dir)
	p := c.startWebhook(t, dir)
	c.register(t, "mesh-webhook-e2e", p.port, ca, policy)
	return p
}

func TestWebhookAdmission(t *testing.T) {
	c := needCluster(t)
	c.namespace(t, "shop")
	withWebhook(t, c, admissionregistrationv1.Fail)
	if out, errOut, err := c.kubectlApply(t, fmt.Sprintf(baseline, "shop")); err != nil {
		t.Fatalf("good manifests must be admitted: %v\n%s%s", err, out, errOut)
	}
	route := func(dests ...string) string {
		return "  http:\n  - route:\n" + strings.Join(dests, "")
	}
	dest := func(host, subset string, weight int) string {
		s := "    - destination: {host: " + host
		if subset != "" {
			s += ", subset: " + subset
		}
		s += "}\n"
		if weight > 0 {
			s += fmt.Sprintf("      weight: %d\n", weight)
		}
		return s
	}
	denials := []struct {
		category string
		manifest string
		message  string
	}{
		{"weight", vsManifest("shop", "w", route(dest("reviews", "v1", 90), dest("reviews", "v2", 20))), "Error [MESH0104] VirtualService shop/w spec.http[0].route: the weights of the 2 destinations add up to 110, not 100 (90/20)"},
		{"subset", vsManifest("shop", "s", route(dest("reviews", "v1", 90), dest("reviews", "v3", 10))), `Error [MESH0301] VirtualService shop/s spec.http[0].route[1].destination.subset: subset "v3" of host reviews.shop.svc.cluster.local is not defined by any DestinationRule visible from namespace shop; DestinationRule shop/reviews defines v1, v2`},
		{"host", vsManifest("shop", "h", route(dest("ratings", "", 0))), `Error [MESH0201] VirtualService shop/h spec.http[0].route[0].destination.host: host "ratings" (ratings.shop.svc.cluster.local) is no Service or ServiceEntry visible from namespace shop`},
		{"port", vsManifest("shop", "p", "  http:\n  - route:\n    - destination: {host: reviews, port: {number: 8080}}\n"), "Error [MESH0401]"},
		{"gateway", vsManifest("shop", "g", "  gateways: [missing-gateway]\n"+route(dest("reviews", "", 0))), "Error [MESH0501] VirtualService shop/g spec.gateways[0]: Gateway shop/missing-gateway does not exist"},
	}
	for _, d := range denials {
		t.Run("denies "+d.category, func(t *testing.T) {
			_, errOut, err := c.kubectlApply(t, d.manifest)
			if err == nil || !strings.Contains(errOut, "denied the request") || !strings.Contains(errOut, d.message) {
				t.Fatalf("kubectl apply: err %v\n%s", err, errOut)
			}
		})
		t.Run("server-side dry run denies "+d.category, func(t *testing.T) {
			_, errOut, err := c.kubectlApply(t, d.manifest, "--dry-run=server")
			if err == nil || !strings.Contains(errOut, d.message) {
				t.Fatalf("kubectl apply --dry-run=server: err %v\n%s", err, errOut)
			}
		})
	}
	t.Run("warnings are printed by kubectl", func(t *testing.T) {
		_, errOut, err := c.kubectlApply(t, vsManifest("shop", "warned", route(dest("reviews", "v1", 50))))
		if err != nil || !strings.Contains(errOut, "Warning: Warning [MESH0105] VirtualService shop/warned") {
			t.Fatalf("err %v, stderr:\n%s", err, errOut)
		}
	})
	t.Run("removing a routed subset is denied", func(t *testing.T) {
		dr := "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews, namespace: shop}\nspec:\n  host: reviews\n  subsets:\n  - {name: v1, labels: {version: v1}}\n"
		_, errOut, err := c.kubectlApply(t, dr)
		if err == nil || !strings.Contains(errOut, `Error [MESH0601]`) || !strings.Contains(errOut, "VirtualService shop/reviews") {
			t.Fatalf("err %v\n%s", err, errOut)
		}
	})
	// With the Gateway API served too, kubectl's "gateway" names the
	// Gateway API kind: Istio's Gateway is named with its group.
	t.Run("deleting a used DestinationRule and Gateway is denied", func(t *testing.T) {
		for kind, code := range map[string]string{"destinationrule/reviews": "MESH0602", "gateway.networking.istio.io/shop-gateway": "MESH0604"} {
			_, errOut, err := c.run(t, "", c.kubectl, "delete", "-n", "shop", kind)
			if err == nil || !strings.Contains(errOut, code) {
				t.Fatalf("delete %s: err %v\n%s", kind, err, errOut)
			}
		}
	})
	t.Run("break-glass annotation admits with a warning", func(t *testing.T) {
		m := strings.Replace(vsManifest("shop", "glass", route(dest("nowhere", "", 0))), "namespace: shop}", "namespace: shop, annotations: {kubectl-mesh.io/validation: disabled}}", 1)
		_, errOut, err := c.kubectlApply(t, m)
		if err != nil || !strings.Contains(errOut, "validation of VirtualService shop/glass is disabled") {
			t.Fatalf("err %v\n%s", err, errOut)
		}
	})
	t.Run("routes leave first, then the subset and rule can go", func(t *testing.T) {
		steps := []string{"delete virtualservice reviews glass warned", "delete destinationrule reviews", "delete gateway.networking.istio.io shop-gateway"}
		for _, s := range steps {
			if _, errOut, err := c.run(t, "", c.kubectl, append([]string{"-n", "shop"}, strings.Fields(s)...)...); err != nil {
				t.Fatalf("%s: %v\n%s", s, err, errOut)
			}
		}
	})
}

// TestWebhookGatewayAPIRoutes: with the Gateway API's CRDs served, an
// HTTPRoute whose backendRef names a Service that does not exist is denied
// through kubectl, and one to a Service that exists is admitted.
func TestWebhookGatewayAPIRoutes(t *testing.T) {
	c := needCluster(t)
	c.namespace(t, "routes")
	withWebhook(t, c, admissionregistrationv1.Fail)
	inventory := `apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: routes}
spec:
  ports: [{name: http, port: 9080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: routes}
spec:
  gatewayClassName: istio
  listeners:
  - {name: http, port: 80, protocol: HTTP}
`
	if out, errOut, err := c.kubectlApply(t, inventory); err != nil {
		t.Fatalf("the Service and the Gateway must be admitted: %v\n%s%s", err, out, errOut)
	}
	route := func(name, backend string) string {
		return fmt.Sprintf("apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: %s, namespace: routes}\nspec:\n  parentRefs: [{name: web}]\n  rules:\n  - backendRefs: [{name: %s, port: 9080}]\n", name, backend)
	}
	_, errOut, err := c.kubectlApply(t, route("missing", "ratings"))
	if want := "Error [MESH0801] HTTPRoute routes/missing spec.rules[0].backendRefs[0]: Service routes/ratings does not exist"; err == nil || !strings.Contains(errOut, "denied the request") || !strings.Contains(errOut, want) {
		t.Fatalf("kubectl apply of a route to a missing Service: err %v\n%s", err, errOut)
	}
	if out, errOut, err := c.kubectlApply(t, route("good", "reviews")); err != nil {
		t.Fatalf("a route to an existing Service must be admitted: %v\n%s%s", err, out, errOut)
	}
}

// TestWebhookGatewayAPIReferences: deleting a ReferenceGrant, a Service or
// a Gateway API Gateway, or updating a Gateway to stop admitting a route,
// is denied through kubectl while an HTTPRoute still uses it; once the
// route is gone they go.
func TestWebhookGatewayAPIReferences(t *testing.T) {
	c := needCluster(t)
	c.namespace(t, "refs")
	c.namespace(t, "refs-team")
	withWebhook(t, c, admissionregistrationv1.Fail)
	gateway := func(from string) string {
		return "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: web, namespace: refs}\nspec:\n  gatewayClassName: istio\n  listeners:\n  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: " + from + "}}}\n"
	}
	inventory := `apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: refs}
spec:
  ports: [{name: http, port: 9080}]
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: team-routes, namespace: refs}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: refs-team}]
  to: [{group: "", kind: Service}]
---
` + gateway("All")
	if out, errOut, err := c.kubectlApply(t, inventory); err != nil {
		t.Fatalf("the Service, ReferenceGrant and Gateway must be admitted: %v\n%s%s", err, out, errOut)
	}
	route := `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews, namespace: refs-team}
spec:
  parentRefs: [{name: web, namespace: refs}]
  rules:
  - backendRefs: [{name: reviews, namespace: refs, port: 9080}]
`
	if out, errOut, err := c.kubectlApply(t, route); err != nil {
		t.Fatalf("the route must be admitted: %v\n%s%s", err, out, errOut)
	}
	// The webhook learns of the route through its informers: wait until a
	// server-side dry run of the delete is refused.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, errOut, err := c.run(t, "", c.kubectl, "delete", "-n", "refs", "referencegrant/team-routes", "--dry-run=server")
		if err != nil && strings.Contains(errOut, "MESH0605") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the webhook never saw the route: err %v\n%s", err, errOut)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, tc := range []struct{ what, want string }{
		{"referencegrant/team-routes", "Error [MESH0605] ReferenceGrant refs/team-routes metadata.name: HTTPRoute refs-team/reviews (spec.rules[0].backendRefs[0]) still refer across namespaces"},
		{"service/reviews", "Error [MESH0606] Service refs/reviews metadata.name: this Service is still a backend or parent of HTTPRoute refs-team/reviews (spec.rules[0].backendRefs[0])"},
		{"gateway.gateway.networking.k8s.io/web", "Error [MESH0608] Gateway refs/web metadata.name: HTTPRoute refs-team/reviews (spec.parentRefs[0]) would no longer be bound"},
	} {
		_, errOut, err := c.run(t, "", c.kubectl, "delete", "-n", "refs", tc.what)
		if err == nil || !strings.Contains(errOut, "denied the request") || !strings.Contains(errOut, tc.want) {
			t.Fatalf("kubectl delete %s: err %v\n%s", tc.what, err, errOut)
		}
	}
	_, errOut, err := c.kubectlApply(t, gateway("Same"))
	if want := "Error [MESH0608] Gateway refs/web spec.listeners: HTTPRoute refs-team/reviews (spec.parentRefs[0])"; err == nil || !strings.Contains(errOut, want) {
		t.Fatalf("narrowing the listener under the route: err %v\n%s", err, errOut)
	}
	if _, errOut, err := c.run(t, "", c.kubectl, "delete", "-n", "refs-team", "httproute/reviews"); err != nil {
		t.Fatalf("deleting the route: %v\n%s", err, errOut)
	}
	// The cache may still hold the route: the live read before denying
	// finds it gone.
	for _, what := range []string{"referencegrant/team-routes", "service/reviews", "gateway.gateway.networking.k8s.io/web"} {
		if _, errOut, err := c.run(t, "", c.kubectl, "delete", "-n", "refs", what); err != nil {
			t.Fatalf("kubectl delete %s once no route uses it: %v\n%s", what, err, errOut)
		}
	}
}

var (
	drGVR = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"}
	vsGVR = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
)

// TestNoFalseDenials creates 100 DestinationRule-then-VirtualService pairs
// back to back: the informer cache lags behind each create, and the live
// read before denying must cover for it.
func TestNoFalseDenials(t *testing.T) {
	c := needCluster(t)
	c.namespace(t, "burst")
	withWebhook(t, c, admissionregistrationv1.Fail)
	if _, errOut, err := c.kubectlApply(t, "apiVersion: v1\nkind: Service\nmetadata: {name: app, namespace: burst}\nspec:\n  ports: [{name: http, port: 80}]\n"); err != nil {
		t.Fatal(errOut)
	}
	ctx := context.Background()
	denied := 0
	for i := 0; i < 100; i++ {
		name := fmt.Sprintf("app-%03d", i)
		dr := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
			"metadata": map[string]any{"name": name, "namespace": "burst"},
			"spec": map[string]any{"host": "app", "subsets": []any{
				map[string]any{"name": "s" + fmt.Sprint(i), "labels": map[string]any{"version": "v" + fmt.Sprint(i)}},
			}},
		}}
		// A DestinationRule of its own per pair: each VirtualService routes
		// to a subset that exists only since a moment ago. Istio merges the
		// rules for one host in one namespace.
		if _, err := c.dynamic.Resource(drGVR).Namespace("burst").Create(ctx, dr, metav1.CreateOptions{}); err != nil {
			t.Fatalf("DestinationRule %d: %v", i, err)
		}
		vs := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
			"metadata": map[string]any{"name": name, "namespace": "burst"},
			"spec": map[string]any{"hosts": []any{name}, "http": []any{map[string]any{"route": []any{
				map[string]any{"destination": map[string]any{"host": "app", "subset": "s" + fmt.Sprint(i)}},
			}}}},
		}}
		if _, err := c.dynamic.Resource(vsGVR).Namespace("burst").Create(ctx, vs, metav1.CreateOptions{}); err != nil {
			denied++
			t.Errorf("VirtualService %d denied: %v", i, err)
		}
	}
	if denied > 0 {
		t.Fatalf("%d false denials out of 100", denied)
	}
}

// TestFailurePolicy stops the webhook: Fail then denies, Ignore admits.
func TestFailurePolicy(t *testing.T) {
	c := needCluster(t)
	c.namespace(t, "fp")
	for _, tc := range []struct {
		policy admissionregistrationv1.FailurePolicyType
		admits bool
	}{{admissionregistrationv1.Fail, false}, {admissionregistrationv1.Ignore, true}} {
		t.Run(string(tc.policy), func(t *testing.T) {
			p := withWebhook(t, c, tc.policy)
			p.stop()
			m := vsManifest("fp", "fine-"+strings.ToLower(string(tc.policy)), "  http:\n  - route:\n    - destination: {host: nowhere}\n")
			_, errOut, err := c.kubectlApply(t, m)
			if tc.admits && err != nil {
				t.Fatalf("Ignore with the webhook down must admit: %v\n%s", err, errOut)
			}
			if !tc.admits && (err == nil || !strings.Contains(errOut, "failed calling webhook")) {
				t.Fatalf("Fail with the webhook down must deny: %v\n%s", err, errOut)
			}
		})
	}
}

// TestCertificateRotation runs the self-managed certificates with a short
// validity, so they rotate during the test, while admissions keep flowing.
func TestCertificateRotation(t *testing.T) {
	c := needCluster(t)
	c.namespace(t, "kubectl-mesh-system")
	c.namespace(t, "rot")
	dir := t.TempDir()
	// The configuration exists first (without a CA) so the rotator can
	// inject its CA into it.
	port := freePort(t)
	c.registerPending(t, "mesh-webhook-rotation", port)
	p := c.startWebhookOnPort(t, dir, port,
		"--cert-secret", "mesh-webhook-tls", "--cert-namespace", "kubectl-mesh-system",
		"--service-dns-name", "localhost", "--webhook-config", "mesh-webhook-rotation",
		"--cert-validity", "40s", "--cert-lookahead", "30s", "--cert-check-interval", "2s")
	c.waitWebhookActive(t, "rot")
	first, err := tlsSerial(p.port)
	if err != nil {
		t.Fatal(err)
	}
	var failures []string
	var mu sync.Mutex
	rotated := ""
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		m := vsManifest("rot", fmt.Sprintf("r-%d", i%5), "  http:\n  - route:\n    - destination: {host: nowhere}\n")
		_, errOut, err := c.kubectlApply(t, m, "--dry-run=server")
		if err == nil || !strings.Contains(errOut, "MESH0201") {
			mu.Lock()
			failures = append(failures, fmt.Sprintf("admission %d: %v %s", i, err, errOut))
			mu.Unlock()
		}
		if s, err := tlsSerial(p.port); err == nil && s != first {
			rotated = s
			if i > 20 {
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if rotated == "" {
		t.Fatalf("the serving certificate never rotated:\n%s", p.log.String())
	}
	if len(failures) > 0 {
		t.Fatalf("%d admissions failed across the rotation:\n%s", len(failures), strings.Join(failures, "\n"))
	}
}

func (c *cluster) registerPending(t testing.TB, name string, port int) {
	t.Helper()
	url := fmt.Sprintf("https://localhost:%d/validate", port)
	none := admissionregistrationv1.SideEffectClassNone
	fail := admissionregistrationv1.Fail
	timeout := int32(3)
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:         "validate.mesh.kubectl-mesh.io",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{"networking.istio.io"}, APIVersions: []string{"*"}, Resources: []string{"virtualservices"}},
			}},
			FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout, AdmissionReviewVersions: []string{"v1"},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "rot"}},
		}},
	}
	api := c.clients.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	if _, err := api.Create(context.Background(), vwc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = api.Delete(context.Background(), name, metav1.DeleteOptions{}) })
}

func (c *cluster) startWebhookOnPort(t testing.TB, certDir string, port int, extra ...string) *webhookProcess {
	t.Helper()
	return c.startWebhook(t, certDir, append([]string{"--port", fmt.Sprint(port)}, extra...)...)
}
