package plugin

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Bookinfo exposed with --api gateway, with the Service Istio deployed for
// the Gateway on a node without a load balancer.
const bookinfoGatewayAPIExposed = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: bookinfo-gateway, namespace: bookinfo}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: Same}}}]
status:
  addresses: [{type: Hostname, value: bookinfo-gateway-istio.bookinfo.svc.cluster.local}]
---
apiVersion: v1
kind: Service
metadata: {name: bookinfo-gateway-istio, namespace: bookinfo}
spec:
  type: LoadBalancer
  selector: {gateway.networking.k8s.io/gateway-name: bookinfo-gateway}
  ports: [{name: status-port, port: 15021, nodePort: 31021}, {name: http, port: 80, nodePort: 30080}]
---
apiVersion: v1
kind: Node
metadata: {name: n1}
status:
  addresses: [{type: InternalIP, address: 10.0.0.1}]
`

func TestGatewayAPIURL(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"bookinfo", "url", "--api", "gateway", "-n", "bookinfo"}, ExitOK, "http://10.0.0.1:30080/productpage\n"},
		{[]string{"ingress", "url", "--api", "gateway", "-n", "bookinfo", "-o", "env"}, ExitOK, "export GATEWAY_URL=10.0.0.1:30080\n"},
		{[]string{"ingress", "url", "--api", "gateway", "-n", "bookinfo", "--port-name", "https"}, ExitFailed, "error: Gateway bookinfo/bookinfo-gateway has no listener https (listeners: http)\n"},
		{[]string{"bookinfo", "url", "--api", "gateway", "-n", "default"}, ExitFailed, "error: Gateway default/bookinfo-gateway (gateways.gateway.networking.k8s.io) not found\n"},
		{[]string{"ingress", "url", "--api", "gloo"}, ExitUsage, `error: --api must be istio or gateway, not "gloo"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, errOut, code := runOn(t, newFakeCluster(t, bookinfoGatewayAPIExposed), tt.args...)
			got := out
			if code != ExitOK {
				got = errOut
			}
			if code != tt.code || !strings.HasPrefix(got, tt.want) {
				t.Errorf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant:\n%s", code, tt.code, out, errOut, tt.want)
			}
		})
	}
}

// bookinfo check --api gateway fetches the page through the Gateway's
// status address and its listener's port.
func TestBookinfoCheckGatewayAPI(t *testing.T) {
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<html><head><title>Simple Bookstore App</title></head></html>")
	}))
	defer page.Close()
	_, port, _ := net.SplitHostPort(page.Listener.Addr().String())
	gateway := `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: bookinfo-gateway, namespace: bookinfo}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: ` + port + `, protocol: HTTP}]
status:
  addresses: [{type: IPAddress, value: 127.0.0.1}]
`
	out, errOut, code := runOn(t, newFakeCluster(t, gateway), "bookinfo", "check", "-n", "bookinfo", "--api", "gateway")
	if want := "✔ " + page.URL + "/productpage: Simple Bookstore App\n"; code != ExitOK || out != want {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant:\n%s", code, out, errOut, want)
	}
}
