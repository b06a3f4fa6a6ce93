package plugin

import (
	"strings"
	"testing"
)

// httpRouteCRD is the HTTPRoute CRD as the cluster serves it, cut down to
// what tells whether rules[].retry exists: the experimental channel has
// it, the standard channel of v1.6.0 has not.
func httpRouteCRD(channel string) string {
	retry := ""
	if channel == "experimental" {
		retry = "retry: {type: object}"
	}
	return `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: httproutes.gateway.networking.k8s.io
  annotations: {gateway.networking.k8s.io/bundle-version: v1.6.0, gateway.networking.k8s.io/channel: ` + channel + `}
spec:
  group: gateway.networking.k8s.io
  versions:
  - name: v1
    schema:
      openAPIV3Schema:
        properties:
          spec:
            properties:
              rules:
                items:
                  properties: {timeouts: {type: object}, ` + retry + `}
`
}

// ratings' HTTPRoute with a timeout someone set by hand.
const ratingsHTTPRoute = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: ratings
  namespace: bookinfo
  resourceVersion: "5"
  managedFields:
  - manager: kubectl-client-side-apply
    operation: Update
    apiVersion: gateway.networking.k8s.io/v1
    fieldsType: FieldsV1
    fieldsV1: {"f:spec":{"f:parentRefs":{},"f:rules":{}}}
spec:
  parentRefs: [{group: "", kind: Service, name: ratings, port: 9080}]
  rules:
  - name: main
    timeouts: {request: 10s, backendRequest: 2s}
    backendRefs: [{name: ratings, port: 9080}]
`

func TestResilienceGatewayAPIGolden(t *testing.T) {
	tests := []struct {
		golden    string
		manifests []string
		args      []string
	}{
		{"resilience-gateway-api-timeout.yaml", nil, []string{"resilience", "timeout", "ratings", "500ms", "-n", "bookinfo", "--api", "gateway", "--dry-run=client", "-o", "yaml"}},
		{"resilience-gateway-api-timeout.text", []string{ratingsHTTPRoute}, []string{"resilience", "timeout", "ratings", "1s", "-n", "bookinfo", "--api", "gateway", "--dry-run=client"}},
		{"resilience-gateway-api-retry.yaml", []string{ratingsHTTPRoute, httpRouteCRD("experimental")}, []string{"resilience", "retry", "ratings", "-n", "bookinfo", "--api", "gateway", "--attempts", "2", "--backoff", "100ms", "--codes", "503,504", "--dry-run=client", "-o", "yaml"}},
		{"resilience-gateway-api-clear.text", []string{ratingsHTTPRoute}, []string{"resilience", "clear", "ratings", "-n", "bookinfo", "--api", "gateway", "--dry-run=client"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			c := newFakeCluster(t, append([]string{bookinfoReviews}, tt.manifests...)...)
			wantGolden(t, c, tt.golden, false, tt.args...)
		})
	}
}

func TestResilienceGatewayAPIRefusals(t *testing.T) {
	tests := []struct {
		name      string
		manifests []string
		args      []string
		code      int
		want      string
	}{
		{"retry where the HTTPRoute CRD lacks it", []string{httpRouteCRD("standard")}, []string{"retry", "ratings", "--attempts", "2"}, ExitFailed,
			"error: the installed Gateway API (v1.6.0 standard) lacks HTTPRoute retry: CRD httproutes.gateway.networking.k8s.io has no spec.rules[].retry; install a Gateway API whose HTTPRoute has it (the experimental channel), or use --api istio\n"},
		{"retry without the CRD", nil, []string{"retry", "ratings", "--attempts", "2"}, ExitFailed,
			"error: CRD httproutes.gateway.networking.k8s.io not found: are the Gateway API's CRDs installed? (kubectl mesh install --gateway-api)\n"},
		{"Istio's retry flags", nil, []string{"retry", "ratings", "--retry-on", "5xx"}, ExitUsage, "--per-try-timeout and --retry-on are Istio's retry settings"},
		{"the Gateway API's retry flags without it", nil, []string{"retry", "ratings", "--codes", "503", "--api", "istio"}, ExitUsage, "--backoff and --codes are the Gateway API's retry settings"},
		{"a code out of range", nil, []string{"retry", "ratings", "--codes", "200"}, ExitUsage, "--codes must be HTTP statuses from 400 to 599, not 200"},
		{"a duration the Gateway API cannot hold", nil, []string{"timeout", "ratings", "1.5s"}, ExitUsage, `the timeout must be a Gateway API duration such as 500ms, 2s or 1m30s, not "1.5s"`},
		{"a host outside the namespace", nil, []string{"timeout", "ratings.default.svc.cluster.local", "1s"}, ExitFailed, "with --api gateway HOST must be a Service of namespace bookinfo"},
		{"no such Service", nil, []string{"timeout", "rating", "1s"}, ExitFailed, "error: service rating not found in namespace bookinfo\n"},
		{"an unknown rule", []string{ratingsHTTPRoute}, []string{"timeout", "ratings", "1s", "--route", "api"}, ExitFailed, "error: HTTPRoute ratings has no rule named api\n"},
		{"clear a fault", nil, []string{"clear", "ratings", "--what", "fault"}, ExitUsage, "--what fault: an HTTPRoute holds timeout and retry only"},
		{"--virtual-service", nil, []string{"timeout", "ratings", "1s", "--virtual-service", "r"}, ExitUsage, "--virtual-service names a VirtualService"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newFakeCluster(t, append([]string{bookinfoReviews}, tt.manifests...)...)
			args := append([]string{"resilience"}, tt.args...)
			args = append(args, "-n", "bookinfo")
			if !strings.Contains(strings.Join(args, " "), "--api") {
				args = append(args, "--api", "gateway")
			}
			wantRefused(t, c, tt.code, tt.want, args...)
		})
	}
}

// An HTTPRoute that `timeout --api gateway` created goes with its timeout;
// one written by hand keeps everything but the timeout.
func TestResilienceGatewayAPIClearDeletesWhatItCreated(t *testing.T) {
	const created = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: reviews
  namespace: bookinfo
  resourceVersion: "8"
  labels: {app.kubernetes.io/managed-by: kubectl-mesh}
  managedFields:
  - {manager: kubectl-mesh, operation: Apply, apiVersion: gateway.networking.k8s.io/v1, fieldsType: FieldsV1, fieldsV1: {"f:metadata":{"f:labels":{"f:app.kubernetes.io/managed-by":{}}},"f:spec":{"f:parentRefs":{},"f:rules":{}}}}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews}]
  rules:
  - timeouts: {request: 500ms}
    backendRefs: [{name: reviews, port: 9080}]
`
	tests := []struct {
		host, out, write string
	}{
		{"reviews", "httproute/reviews deleted\n", "delete httproutes"},
		{"ratings", "httproute/ratings: removed timeouts\n", "patch httproutes"},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			c := newFakeCluster(t, bookinfoReviews, created, ratingsHTTPRoute)
			out, errOut, code := runOn(t, c, "resilience", "clear", tt.host, "-n", "bookinfo", "--api", "gateway")
			if code != ExitOK || out != tt.out {
				t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant\n%s", code, out, errOut, tt.out)
			}
			if w := c.writes(); strings.Join(w, ",") != tt.write {
				t.Errorf("wrote %v, want %s", w, tt.write)
			}
		})
	}
}
