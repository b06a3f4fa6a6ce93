package main

import (
	"strings"
	"testing"

	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// The auth providers a kubeconfig's users may name are linked in: oidc
// works, gcp and azure explain that their exec plugins replace them
// (exec credential plugins themselves are part of client-go's transport).
func TestAuthProvidersLinked(t *testing.T) {
	for _, name := range []string{"oidc", "gcp", "azure"} {
		_, err := rest.GetAuthProvider("https://127.0.0.1:6443", &clientcmdapi.AuthProviderConfig{Name: name, Config: map[string]string{}}, nil)
		if err != nil && strings.Contains(err.Error(), "no Auth Provider found") {
			t.Errorf("auth provider %s is not linked: %v", name, err)
		}
	}
}
