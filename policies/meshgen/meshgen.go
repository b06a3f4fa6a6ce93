// Package meshgen writes synthetic meshes for benchmarks: Services with a
// DestinationRule and a weighted VirtualService each, with planted errors
// whose codes the caller can count.
package meshgen

import (
	"bufio"
	"fmt"
	"io"
)

// Spec sizes a generated mesh.
type Spec struct {
	Services   int
	Namespaces int
	// ErrorEvery plants an error in every n-th VirtualService (0: none).
	ErrorEvery int
}

// Planted are the codes the planted errors rotate through, one per planted
// VirtualService in this order.
var Planted = []string{"MESH0301", "MESH0104", "MESH0201", "MESH0401"}

// Write writes the mesh as multi-document YAML and returns how many errors
// of each code it planted.
func Write(w io.Writer, s Spec) (map[string]int, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	planted := map[string]int{}
	for i := 0; i < s.Services; i++ {
		ns := fmt.Sprintf("team-%03d", i%max(s.Namespaces, 1))
		name := fmt.Sprintf("svc-%05d", i)
		subset2, weight2, host, port := "v2", 10, name, 8080
		if s.ErrorEvery > 0 && (i+1)%s.ErrorEvery == 0 {
			code := Planted[(i/s.ErrorEvery)%len(Planted)]
			planted[code]++
			switch code {
			case "MESH0301":
				subset2 = "v3"
			case "MESH0104":
				weight2 = 20
			case "MESH0201":
				host = name + "-typo"
			case "MESH0401":
				port = 9999
			}
		}
		_, err := fmt.Fprintf(bw, `---
apiVersion: v1
kind: Service
metadata:
  name: %[1]s
  namespace: %[2]s
  labels:
    app: %[1]s
spec:
  selector:
    app: %[1]s
  ports:
  - name: http
    port: 8080
    targetPort: 8080
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: %[1]s
  namespace: %[2]s
spec:
  host: %[1]s.%[2]s.svc.cluster.local
  trafficPolicy:
    connectionPool:
      tcp:
        maxConnections: 100
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: %[1]s
  namespace: %[2]s
spec:
  hosts:
  - %[1]s
  http:
  - match:
    - headers:
        end-user:
          exact: tester
    route:
    - destination:
        host: %[3]s
        subset: v2
        port:
          number: %[6]d
  - route:
    - destination:
        host: %[3]s
        subset: v1
        port:
          number: %[6]d
      weight: 90
    - destination:
        host: %[3]s
        subset: %[4]s
        port:
          number: %[6]d
      weight: %[5]d
    timeout: 10s
`, name, ns, host, subset2, weight2, port)
		if err != nil {
			return nil, err
		}
	}
	return planted, bw.Flush()
}
