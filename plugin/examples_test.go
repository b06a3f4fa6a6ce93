package plugin

import (
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// Bookinfo's reviews and ratings in namespace bookinfo, with a
// VirtualService for reviews that has a tester route with a history.
const bookinfoReviews = `
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo}
spec:
  selector: {app: reviews}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: bookinfo}
spec:
  selector: {app: ratings}
  ports: [{name: http, port: 9080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v1, namespace: bookinfo}
spec:
  selector: {matchLabels: {app: reviews, version: v1}}
  template: {metadata: {labels: {app: reviews, version: v1}}, spec: {containers: [{name: reviews, image: example/reviews:v1}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v2, namespace: bookinfo}
spec:
  selector: {matchLabels: {app: reviews, version: v2}}
  template: {metadata: {labels: {app: reviews, version: v2}}, spec: {containers: [{name: reviews, image: example/reviews:v2}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v3, namespace: bookinfo}
spec:
  selector: {matchLabels: {app: reviews, version: v3}}
  template: {metadata: {labels: {app: reviews, version: v3}}, spec: {containers: [{name: reviews, image: example/reviews:v3}]}}
`

const bookinfoReviewsRouted = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: bookinfo
  annotations:
    kubectl-mesh.io/canary-history: '[{"route":"jason","weights":[{"subset":"v2","weight":100}]}]'
spec:
  hosts: [reviews]
  http:
  - name: jason
    match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v3}}]
  - route: [{destination: {host: reviews, subset: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: bookinfo}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
`

// The examples of canary's and resilience's --help run as written on a
// cluster holding the workflow's objects. Those that send traffic
// (verify, --verify) need a mesh to answer; verify and --verify are tested
// against local servers instead.
func TestChangeHelpExamplesRun(t *testing.T) {
	root := NewRootCommand(genericiooptions.NewTestIOStreamsDiscard(), "kubectl-mesh")
	examples := 0
	for _, group := range []string{"canary", "resilience"} {
		parent, _, err := root.Find([]string{group})
		if err != nil {
			t.Fatal(err)
		}
		for _, cmd := range parent.Commands() {
			if cmd.Example == "" {
				t.Errorf("%s %s has no Example", group, cmd.Name())
			}
			for line := range strings.SplitSeq(cmd.Example, "\n") {
				line = strings.TrimSpace(line)
				if !strings.HasPrefix(line, "kubectl mesh ") || strings.Contains(line, "verify") {
					continue
				}
				examples++
				existing := []string{canaryWorkloads, resilienceWorkloads, bookinfoReviews, httpRouteCRD("experimental")}
				// Those that change a split start from one.
				if !strings.Contains(line, " set ") {
					existing = append(existing, canaryAt80, bookinfoReviewsRouted, reviewsHTTPRouteAt80)
				}
				c := newFakeCluster(t, existing...)
				out, errOut, code := runOn(t, c, shellWords(strings.TrimPrefix(line, "kubectl mesh "))...)
				if code != ExitOK {
					t.Errorf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", line, code, out, errOut)
				}
			}
		}
	}
	if examples < 15 {
		t.Errorf("ran %d examples", examples)
	}
}
