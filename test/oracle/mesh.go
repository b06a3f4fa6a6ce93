// Package oracle answers, with Istio's own control plane, what a set of
// manifests does to traffic: for every route destination of every
// VirtualService, from a sidecar in each namespace the VirtualService is
// exported to and from the proxy of each Gateway it is bound to, which
// Envoy cluster a call ends in and whether that cluster exists. It runs
// pilot's in-memory discovery server and traffic simulator in process; no
// server, no Envoy. kubectl-mesh's checks are held against it.
package oracle

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/schema/gvk"
	kubeyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// ClusterDomain is the domain every config is parsed with: without it,
// short hosts never match a Service.
const ClusterDomain = "cluster.local"

// RootNamespace is where the gateway proxies run and where mesh-wide
// DestinationRules live.
const RootNamespace = "istio-system"

// Mesh is a set of manifests ready for pilot: Istio configs parsed and
// validated by pilot's own parser, Kubernetes objects as YAML for its fake
// Kubernetes registry, and the namespaces they mention.
type Mesh struct {
	Configs    []config.Config
	Kube       string
	Namespaces []string
	// HostPorts are the ports of every Service and ServiceEntry host, as
	// the whole mesh knows them (whatever a namespace sees).
	HostPorts map[string]map[string]bool
	// Routes are the Gateway API routes (HTTPRoute), as written: pilot's
	// gateway controller reads them from the fake Kubernetes client.
	Routes []RouteDoc
}

// RouteDoc is one Gateway API route of the manifests.
type RouteDoc struct {
	Kind, Namespace, Name string
	Spec                  map[string]any
}

// ParseError is a manifest pilot refuses: kubectl-mesh reports these as
// schema findings, never as routing ones.
type ParseError struct {
	Doc int
	Err error
}

func (e *ParseError) Error() string { return fmt.Sprintf("document %d: %v", e.Doc, e.Err) }

func (e *ParseError) Unwrap() error { return e.Err }

// Parse reads multi-document YAML. Every HTTP route of a VirtualService is
// renamed r<index> so that the Envoy routes pilot builds can be traced
// back to it; a route's name changes nothing else about routing.
func Parse(manifests []byte) (*Mesh, error) {
	m := &Mesh{HostPorts: map[string]map[string]bool{}}
	var kube []string
	namespaces := map[string]bool{RootNamespace: true}
	dec := kubeyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 1<<20)
	clusterIP := 0
	for doc := 1; ; doc++ {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, &ParseError{Doc: doc, Err: err}
		}
		if len(obj) == 0 {
			continue
		}
		apiVersion, _ := obj["apiVersion"].(string)
		kind, _ := obj["kind"].(string)
		meta, _ := obj["metadata"].(map[string]any)
		if meta == nil {
			return nil, &ParseError{Doc: doc, Err: errors.New("no metadata")}
		}
		if kind == "Namespace" {
			if name, _ := meta["name"].(string); name != "" {
				namespaces[name] = true
			}
			kube = append(kube, mustYAML(obj))
			continue
		}
		ns, _ := meta["namespace"].(string)
		if ns == "" {
			ns = "default"
			meta["namespace"] = ns
		}
		namespaces[ns] = true
		group := strings.SplitN(apiVersion, "/", 2)[0]
		switch {
		case strings.HasSuffix(group, "istio.io"):
			if kind == "VirtualService" {
				nameRoutes(obj)
			}
			cfgs, _, err := crd.ParseInputs(mustYAML(obj))
			if err != nil {
				return nil, &ParseError{Doc: doc, Err: err}
			}
			for i := range cfgs {
				cfgs[i].Domain = ClusterDomain
				if se, ok := cfgs[i].Spec.(*networking.ServiceEntry); ok {
					for _, h := range se.Hosts {
						for _, p := range se.Ports {
							m.addHostPort(h, fmt.Sprint(p.Number))
						}
					}
				}
			}
			m.Configs = append(m.Configs, cfgs...)
		case kind == "Service" && apiVersion == "v1":
			// Sidecars get listeners only for Services with an address.
			spec, _ := obj["spec"].(map[string]any)
			if spec != nil && spec["type"] != "ExternalName" && spec["clusterIP"] == nil {
				clusterIP++
				spec["clusterIP"] = fmt.Sprintf("10.96.%d.%d", clusterIP/250, clusterIP%250+1)
			}
			ports, _ := spec["ports"].([]any)
			for _, p := range ports {
				if pm, ok := p.(map[string]any); ok {
					m.addHostPort(fmt.Sprintf("%s.%s.svc.%s", meta["name"], ns, ClusterDomain), fmt.Sprint(pm["port"]))
				}
			}
			kube = append(kube, mustYAML(obj))
		case group == GatewayAPIGroup:
			// pilot translates these itself, from the Kubernetes client.
			if kind == "HTTPRoute" {
				name, _ := meta["name"].(string)
				spec, _ := obj["spec"].(map[string]any)
				m.Routes = append(m.Routes, RouteDoc{Kind: kind, Namespace: ns, Name: name, Spec: spec})
			}
			kube = append(kube, mustYAML(obj))
		case kind == "Pod" || kind == "Endpoints" || kind == "ServiceAccount" ||
			(kind == "EndpointSlice" && group == "discovery.k8s.io"):
			kube = append(kube, mustYAML(obj))
		default:
			// Deployments and the like do not reach pilot: it sees pods.
		}
	}
	m.Kube = strings.Join(kube, "\n---\n")
	for ns := range namespaces {
		m.Namespaces = append(m.Namespaces, ns)
	}
	sort.Strings(m.Namespaces)
	return m, nil
}

func (m *Mesh) addHostPort(host, port string) {
	if m.HostPorts[host] == nil {
		m.HostPorts[host] = map[string]bool{}
	}
	m.HostPorts[host][port] = true
}

func nameRoutes(obj map[string]any) {
	spec, _ := obj["spec"].(map[string]any)
	routes, _ := spec["http"].([]any)
	for i, r := range routes {
		if rm, ok := r.(map[string]any); ok {
			rm["name"] = fmt.Sprintf("r%d", i)
		}
	}
}

func mustYAML(obj map[string]any) string {
	b, err := yaml.Marshal(obj)
	if err != nil {
		// A map decoded from YAML always encodes again.
		panic(err)
	}
	return string(b)
}

// virtualServices returns the VirtualService configs of the mesh, sorted.
func (m *Mesh) virtualServices() []config.Config {
	var out []config.Config
	for _, c := range m.Configs {
		if c.GroupVersionKind.Kind == gvk.VirtualService.Kind {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// gateway finds a Gateway config by namespace and name.
func (m *Mesh) gateway(ns, name string) (config.Config, bool) {
	for _, c := range m.Configs {
		if c.GroupVersionKind.Kind == gvk.Gateway.Kind && c.Namespace == ns && c.Name == name {
			return c, true
		}
	}
	return config.Config{}, false
}

func vsSpec(c config.Config) *networking.VirtualService {
	vs, _ := c.Spec.(*networking.VirtualService)
	return vs
}
