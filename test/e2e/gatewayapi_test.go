package e2e

import (
	"fmt"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
)

// TestWebhookGatewayAPIChecks applies, through the real kubectl, a good
// and a bad route for each Gateway API check: the bad one is denied with
// its code, the good one admitted.
func TestWebhookGatewayAPIChecks(t *testing.T) {
	c := needCluster(t)
	for _, ns := range []string{"gw-apps", "gw-infra", "gw-other"} {
		c.namespace(t, ns)
	}
	withWebhook(t, c, admissionregistrationv1.Fail)
	inventory := `apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: gw-apps}
spec:
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: gw-other}
spec:
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: details, namespace: gw-infra}
spec:
  ports: [{name: http, port: 9080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: gw-infra}
spec:
  gatewayClassName: istio
  listeners:
  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: Same}}}
  - name: shared
    port: 8080
    protocol: HTTP
    allowedRoutes: {namespaces: {from: All}}
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: from-apps, namespace: gw-infra}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: gw-apps}]
  to: [{group: "", kind: Service}]
`
	if out, errOut, err := c.kubectlApply(t, inventory); err != nil {
		t.Fatalf("the Services, the Gateway and the ReferenceGrant must be admitted: %v\n%s%s", err, out, errOut)
	}
	route := func(name, parents, backends string) string {
		return fmt.Sprintf("apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: %s, namespace: gw-apps}\nspec:\n  parentRefs: %s\n  rules:\n  - backendRefs: %s\n", name, parents, backends)
	}
	edge := "[{name: edge, namespace: gw-infra, sectionName: shared}]"
	for _, tc := range []struct {
		name, good, bad, want string
	}{
		{"a backend port the Service lacks",
			route("port-good", edge, "[{name: reviews, port: 9080}]"),
			route("port-bad", edge, "[{name: reviews, port: 8080}]"),
			"Error [MESH0802] HTTPRoute gw-apps/port-bad spec.rules[0].backendRefs[0]"},
		{"a backend in another namespace without a ReferenceGrant",
			route("grant-good", edge, "[{name: details, namespace: gw-infra, port: 9080}]"),
			route("grant-bad", edge, "[{name: ratings, namespace: gw-other, port: 9080}]"),
			"Error [MESH0803] HTTPRoute gw-apps/grant-bad spec.rules[0].backendRefs[0]"},
		{"a parent Gateway that does not exist",
			route("parent-good", edge, "[{name: reviews, port: 9080}]"),
			route("parent-bad", "[{name: egde, namespace: gw-infra}]", "[{name: reviews, port: 9080}]"),
			"Error [MESH0804] HTTPRoute gw-apps/parent-bad spec.parentRefs[0]"},
		{"a sectionName no listener has",
			route("section-good", edge, "[{name: reviews, port: 9080}]"),
			route("section-bad", "[{name: edge, namespace: gw-infra, sectionName: https}]", "[{name: reviews, port: 9080}]"),
			"Error [MESH0805] HTTPRoute gw-apps/section-bad spec.parentRefs[0]"},
		{"a listener whose allowedRoutes leave the namespace out",
			route("allowed-good", edge, "[{name: reviews, port: 9080}]"),
			route("allowed-bad", "[{name: edge, namespace: gw-infra, sectionName: http}]", "[{name: reviews, port: 9080}]"),
			"Error [MESH0806] HTTPRoute gw-apps/allowed-bad spec.parentRefs[0]"},
		{"every backend at weight 0",
			route("weights-good", edge, "[{name: reviews, port: 9080, weight: 0}, {name: details, namespace: gw-infra, port: 9080, weight: 1}]"),
			route("weights-bad", edge, "[{name: reviews, port: 9080, weight: 0}, {name: details, namespace: gw-infra, port: 9080, weight: 0}]"),
			"Error [MESH0808] HTTPRoute gw-apps/weights-bad spec.rules[0].backendRefs"},
		{"a mesh route whose parent Service lacks the port",
			route("mesh-good", "[{group: \"\", kind: Service, name: reviews, port: 9080}]", "[{name: reviews, port: 9080}]"),
			route("mesh-bad", "[{group: \"\", kind: Service, name: reviews, port: 80}]", "[{name: reviews, port: 9080}]"),
			"Error [MESH0805] HTTPRoute gw-apps/mesh-bad spec.parentRefs[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, err := c.kubectlApply(t, tc.bad)
			if err == nil || !strings.Contains(errOut, "denied the request") || !strings.Contains(errOut, tc.want) {
				t.Errorf("kubectl apply of the bad route: err %v, want a denial with %q\n%s", err, tc.want, errOut)
			}
			if out, errOut, err := c.kubectlApply(t, tc.good); err != nil {
				t.Errorf("the good route must be admitted: %v\n%s%s", err, out, errOut)
			}
		})
	}

	// A negative weight never reaches the webhook: the CRD's schema
	// refuses it (MESH0807 is the same refusal, offline).
	_, errOut, err := c.kubectlApply(t, route("negative", edge, "[{name: reviews, port: 9080, weight: -1}]"))
	if err == nil || !strings.Contains(errOut, "weight") {
		t.Errorf("kubectl apply of a negative weight: err %v\n%s", err, errOut)
	}

	// A GRPCRoute is checked as an HTTPRoute is.
	grpc := "apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\nmetadata: {name: grpc, namespace: gw-apps}\nspec:\n  parentRefs: " + edge + "\n  rules:\n  - backendRefs: [{name: nothing, port: 9080}]\n"
	if _, errOut, err := c.kubectlApply(t, grpc); err == nil || !strings.Contains(errOut, "Error [MESH0801] GRPCRoute gw-apps/grpc") {
		t.Errorf("kubectl apply of a GRPCRoute to a missing Service: err %v\n%s", err, errOut)
	}
}
