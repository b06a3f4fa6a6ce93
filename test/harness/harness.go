// Package harness holds what end-to-end tests and `make demo` share to run
// mesh-webhook outside a cluster: a serving certificate for loopback and a
// ValidatingWebhookConfiguration that points the API server at it by URL,
// with the rules the chart gives the webhook.
package harness

import (
	"github.com/kubectl-mesh/kubectl-mesh/charts"

	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ServingCert writes tls.crt and tls.key, a certificate for localhost and
// 127.0.0.1 signed by a fresh CA, into dir and returns the CA bundle. The
// certificate serves as a client certificate too.
func ServingCert(dir string) ([]byte, error) {
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubectl-mesh loopback CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("creating the CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("creating the serving certificate: %w", err)
	}
	for name, block := range map[string]*pem.Block{
		"tls.crt": {Type: "CERTIFICATE", Bytes: der},
		"tls.key": {Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			return nil, err
		}
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), nil
}

// WebhookConfiguration is the chart's ValidatingWebhookConfiguration
// (release in kubectl-mesh-system), named name and pointed at url with
// caBundle, in the state mesh-webhook leaves it in once it serves: the
// CREATE/UPDATE entry with the given failure policy, DELETE's with its
// own (Ignore) and the clean-up controllers skipped.
func WebhookConfiguration(name, url string, caBundle []byte, policy admissionregistrationv1.FailurePolicyType) (*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	vwc, err := charts.MeshWebhookConfiguration("mesh-webhook", "kubectl-mesh-system", map[string]any{"failurePolicy": string(policy)})
	if err != nil {
		return nil, err
	}
	vwc.TypeMeta = metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingWebhookConfiguration"}
	vwc.ObjectMeta = metav1.ObjectMeta{Name: name}
	for i := range vwc.Webhooks {
		wh := &vwc.Webhooks[i]
		wh.ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caBundle}
		if !deletes(wh) {
			wh.FailurePolicy = &policy
		}
	}
	return vwc, nil
}

// deletes reports whether a webhook entry is the one for DELETE.
func deletes(wh *admissionregistrationv1.ValidatingWebhook) bool {
	for _, r := range wh.Rules {
		for _, op := range r.Operations {
			if op == admissionregistrationv1.Delete {
				return true
			}
		}
	}
	return false
}

// FreePort returns a loopback port nothing listens on at the moment.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("reserving a loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
