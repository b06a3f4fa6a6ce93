package policies

import (
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
