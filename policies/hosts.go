package policies

import (
	"fmt"
	"strings"
)

const (
	// DefaultClusterDomain is Kubernetes' default DNS domain.
	DefaultClusterDomain = "cluster.local"
	// DefaultRootNamespace is Istio's default root (config) namespace.
	DefaultRootNamespace = "istio-system"
	// MeshGateway is the reserved gateway name for sidecars.
	MeshGateway = "mesh"
)

// ResolveHost turns a host as written in namespace into the name Istio
// looks up: a short name (no dot) becomes name.namespace.svc.domain; a name
// with a dot, and a wildcard, are taken literally, as Istio does.
func ResolveHost(host, namespace, domain string) string {
	if host == "" || host == "*" || strings.Contains(host, ".") {
		return host
	}
	return host + "." + namespace + ".svc." + domain
}

// ServiceFromFQDN splits name.namespace.svc.domain into its namespace and
// name; ok is false for any other host.
func ServiceFromFQDN(fqdn, domain string) (namespace, name string, ok bool) {
	rest, found := strings.CutSuffix(fqdn, ".svc."+domain)
	if !found {
		return "", "", false
	}
	name, namespace, found = strings.Cut(rest, ".")
	if !found || name == "" || namespace == "" || strings.Contains(namespace, ".") || strings.Contains(name, "*") {
		return "", "", false
	}
	return namespace, name, true
}

// HostCovers reports whether pattern (possibly a wildcard like *.example.com
// or *) matches host; a wildcard host is covered by an equal or wider one.
func HostCovers(pattern, host string) bool {
	if pattern == host || pattern == "*" {
		return true
	}
	suffix, wild := strings.CutPrefix(pattern, "*")
	if !wild {
		return false
	}
	return strings.HasSuffix(host, suffix) && len(host) > len(suffix)
}

// HostsIntersect reports whether two hosts, either possibly a wildcard, can
// name the same host: Istio binds a VirtualService host to a gateway server
// host when they intersect.
func HostsIntersect(a, b string) bool { return HostCovers(a, b) || HostCovers(b, a) }

// ExportedTo reports whether an object of namespace owner with the given
// exportTo is visible from namespace client. An empty list means everywhere
// (Istio's default mesh configuration).
func ExportedTo(exportTo []string, owner, client string) bool {
	if len(exportTo) == 0 {
		return true
	}
	for _, e := range exportTo {
		switch e {
		case "*":
			return true
		case ".":
			if owner == client {
				return true
			}
		case "~":
		default:
			if e == client {
				return true
			}
		}
	}
	return false
}

// GatewayKey turns a gateway reference of a VirtualService in namespace ns
// ("name" or "namespace/name") into namespace/name.
func GatewayKey(ref, ns string) string {
	if strings.Contains(ref, "/") {
		return ref
	}
	return ns + "/" + ref
}

// GatewayRef is a gateway named by a VirtualService, with where it is named.
type GatewayRef struct {
	Name  string
	Field string
}

// GatewayRefs lists the gateways a VirtualService spec names: spec.gateways
// and the gateways of every match clause. Malformed entries are skipped (the
// schema policy reports them).
func GatewayRefs(spec map[string]any) []GatewayRef {
	var out []GatewayRef
	for i, g := range sliceAt(spec, "gateways") {
		if s, ok := g.(string); ok {
			out = append(out, GatewayRef{Name: s, Field: fmt.Sprintf("spec.gateways[%d]", i)})
		}
	}
	for _, proto := range routeKinds {
		for i, r := range sliceAt(spec, proto) {
			route, _ := r.(map[string]any)
			for j, m := range sliceAt(route, "match") {
				match, _ := m.(map[string]any)
				for k, g := range sliceAt(match, "gateways") {
					if s, ok := g.(string); ok {
						out = append(out, GatewayRef{Name: s, Field: fmt.Sprintf("spec.%s[%d].match[%d].gateways[%d]", proto, i, j, k)})
					}
				}
			}
		}
	}
	return out
}

// routeKinds are the route lists of a VirtualService.
var routeKinds = [...]string{"http", "tcp", "tls"}

// DestinationRef is a destination named by a VirtualService route or mirror.
type DestinationRef struct {
	Host   string
	Subset string
	Field  string
}

// DestinationRefs lists every destination of a VirtualService spec: the
// route destinations of http, tcp and tls routes and the http mirrors.
func DestinationRefs(spec map[string]any) []DestinationRef {
	var out []DestinationRef
	add := func(d any, field string) {
		dest, ok := d.(map[string]any)
		if !ok {
			return
		}
		host, ok := dest["host"].(string)
		if !ok {
			return
		}
		subset, _ := dest["subset"].(string)
		out = append(out, DestinationRef{Host: host, Subset: subset, Field: field})
	}
	for _, proto := range routeKinds {
		for i, r := range sliceAt(spec, proto) {
			route, ok := r.(map[string]any)
			if !ok {
				continue
			}
			for j, rd := range sliceAt(route, "route") {
				if m, ok := rd.(map[string]any); ok {
					add(m["destination"], fmt.Sprintf("spec.%s[%d].route[%d].destination", proto, i, j))
				}
			}
			if proto != "http" {
				continue
			}
			if m, ok := route["mirror"]; ok {
				add(m, fmt.Sprintf("spec.http[%d].mirror", i))
			}
			for j, mp := range sliceAt(route, "mirrors") {
				if m, ok := mp.(map[string]any); ok {
					add(m["destination"], fmt.Sprintf("spec.http[%d].mirrors[%d].destination", i, j))
				}
			}
		}
	}
	return out
}
