// Package webhookstatus is the engine of `kubectl mesh webhook status`: it
// probes mesh-webhook's Deployment, its ValidatingWebhookConfiguration, its
// serving certificate, and whether the API server actually calls it, and
// says what each probe found. It has no command-line plumbing: the caller
// brings the clients and prints the checks.
package webhookstatus

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/apply"
)

const (
	// Release is the Helm release the chart installs mesh-webhook as.
	Release = "mesh-webhook"
	// WebhookName is the chart's webhook for CREATE and UPDATE; DELETE has
	// one of its own, with its own failure policy.
	WebhookName = "validate.mesh.kubectl-mesh.io"
	// selector finds the release's objects (the chart's labels).
	selector = "app.kubernetes.io/instance=" + Release + ",app.kubernetes.io/part-of=kubectl-mesh"
	// breakGlassLabel=disabled on a namespace keeps the webhook out of it.
	breakGlassLabel = "kubectl-mesh.io/validation"
)

// Options are what the probes read the cluster with.
type Options struct {
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	Mapper  meta.RESTMapper
	// ReleaseNamespace holds the release's Deployment and Secret.
	ReleaseNamespace string
	// Namespace is where the known-bad VirtualService is tried.
	Namespace string
	// Now is the time the certificate is checked at.
	Now time.Time
}

// Check is one probe's verdict, in a line.
type Check struct {
	OK   bool
	Text string
}

// Run probes in order: the Deployment, the webhook configuration (with the
// names the Deployment's arguments give), the serving certificate, and
// admission of a known-bad VirtualService by a server-side dry run, which
// stores nothing.
func Run(ctx context.Context, o Options) []Check {
	deploy, checks := o.checkDeployment(ctx)
	webhookConfig, certSecret, policy := "mesh-webhook", "mesh-webhook-tls", ""
	if deploy != nil {
		webhookConfig, certSecret, policy = DeploymentNames(deploy, webhookConfig, certSecret)
	}
	wh, c := o.checkWebhookConfiguration(ctx, webhookConfig, policy)
	checks = append(checks, c)
	checks = append(checks, o.checkCertificate(ctx, certSecret, wh))
	return append(checks, o.checkAdmission(ctx, wh))
}

func (o Options) checkDeployment(ctx context.Context) (*appsv1.Deployment, []Check) {
	list, err := o.Kube.AppsV1().Deployments(o.ReleaseNamespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, []Check{{false, fmt.Sprintf("mesh-webhook Deployment: %v", err)}}
	}
	if len(list.Items) == 0 {
		return nil, []Check{{false, fmt.Sprintf("mesh-webhook Deployment: none in namespace %s (kubectl mesh webhook install)", o.ReleaseNamespace)}}
	}
	d := &list.Items[0]
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	ready := d.Status.ReadyReplicas
	text := fmt.Sprintf("Deployment %s/%s: %d/%d replicas ready", d.Namespace, d.Name, ready, want)
	ok := ready > 0 && ready >= want
	if ready == 0 {
		text += " (no pod serves the webhook)"
	}
	return d, []Check{{ok, text}}
}

// DeploymentNames reads the webhook configuration and certificate Secret
// names from mesh-webhook's arguments and volumes, and the failure policy
// it gives the CREATE/UPDATE webhook (--failure-policy; "" when none).
func DeploymentNames(d *appsv1.Deployment, webhookConfig, certSecret string) (string, string, string) {
	policy := ""
	pod := d.Spec.Template.Spec
	certDir := ""
	for _, c := range pod.Containers {
		for _, a := range c.Args {
			name, val, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			switch name {
			case "webhook-config":
				webhookConfig = val
			case "cert-secret":
				certSecret = val
			case "cert-dir":
				certDir = val
			case "failure-policy":
				policy = val
			}
		}
		for _, m := range c.VolumeMounts {
			if m.MountPath != certDir {
				continue
			}
			for _, v := range pod.Volumes {
				if v.Name == m.Name && v.Secret != nil {
					certSecret = v.Secret.SecretName
				}
			}
		}
	}
	return webhookConfig, certSecret, policy
}

// checkWebhookConfiguration reports the failure policy per operation
// (CREATE/UPDATE and DELETE are separate entries) and whether every entry
// has a caBundle; want is the policy mesh-webhook sets on the
// CREATE/UPDATE entry once it serves. It returns that entry.
func (o Options) checkWebhookConfiguration(ctx context.Context, name, want string) (*admissionregistrationv1.ValidatingWebhook, Check) {
	vwc, err := o.Kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, Check{false, fmt.Sprintf("ValidatingWebhookConfiguration %s: %v", name, err)}
	}
	var main *admissionregistrationv1.ValidatingWebhook
	var policies []string
	caMissing := false
	for i := range vwc.Webhooks {
		wh := &vwc.Webhooks[i]
		if wh.Name == WebhookName {
			main = wh
		}
		fp := admissionregistrationv1.Fail
		if wh.FailurePolicy != nil {
			fp = *wh.FailurePolicy
		}
		var ops []string
		for _, r := range wh.Rules {
			for _, op := range r.Operations {
				if !slices.Contains(ops, string(op)) {
					ops = append(ops, string(op))
				}
			}
		}
		policies = append(policies, fmt.Sprintf("%s %s", strings.Join(ops, "/"), fp))
		caMissing = caMissing || len(wh.ClientConfig.CABundle) == 0
	}
	if main == nil {
		return nil, Check{false, fmt.Sprintf("ValidatingWebhookConfiguration %s: no webhook %s", name, WebhookName)}
	}
	text := fmt.Sprintf("ValidatingWebhookConfiguration %s: failurePolicy %s", name, strings.Join(policies, ", "))
	if caMissing {
		return main, Check{false, text + "; no caBundle yet (the API server cannot call the webhook)"}
	}
	if want != "" && main.FailurePolicy != nil && string(*main.FailurePolicy) != want {
		return main, Check{false, fmt.Sprintf("%s; caBundle set, but %s is still %s: mesh-webhook sets %s once it serves", text, WebhookName, *main.FailurePolicy, want)}
	}
	return main, Check{true, text + "; caBundle set"}
}

func (o Options) checkCertificate(ctx context.Context, name string, wh *admissionregistrationv1.ValidatingWebhook) Check {
	what := fmt.Sprintf("serving certificate (Secret %s/%s)", o.ReleaseNamespace, name)
	secret, err := o.Kube.CoreV1().Secrets(o.ReleaseNamespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return Check{false, fmt.Sprintf("%s: %v", what, err)}
	}
	data := secret.Data[corev1.TLSCertKey]
	if len(data) == 0 {
		return Check{false, what + ": no tls.crt yet"}
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return Check{false, what + ": tls.crt is not PEM"}
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return Check{false, fmt.Sprintf("%s: %v", what, err)}
	}
	now := o.Now
	left := cert.NotAfter.Sub(now)
	text := fmt.Sprintf("%s: expires %s (in %s)", what, cert.NotAfter.UTC().Format(time.RFC3339), humanDuration(left))
	switch {
	case left <= 0:
		return Check{false, fmt.Sprintf("%s: expired %s", what, cert.NotAfter.UTC().Format(time.RFC3339))}
	case now.Before(cert.NotBefore):
		return Check{false, fmt.Sprintf("%s: not valid before %s", what, cert.NotBefore.UTC().Format(time.RFC3339))}
	}
	// Does the API server's CA bundle vouch for it?
	if wh != nil && len(wh.ClientConfig.CABundle) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(wh.ClientConfig.CABundle) {
			return Check{false, text + "; the caBundle holds no certificate"}
		}
		opts := x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		if svc := wh.ClientConfig.Service; svc != nil {
			opts.DNSName = svc.Name + "." + svc.Namespace + ".svc"
		}
		if _, err := cert.Verify(opts); err != nil {
			return Check{false, fmt.Sprintf("%s; the webhook's caBundle does not verify it: %v", text, err)}
		}
	}
	return Check{true, text}
}

func humanDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	default:
		return d.Round(time.Second).String()
	}
}

// badVirtualService is a VirtualService every kubectl-mesh policy set
// denies: its weights add up to 110 (MESH0104).
func badVirtualService(gv schema.GroupVersion, namespace string) *unstructured.Unstructured {
	route := func(host string, weight int64) map[string]any {
		return map[string]any{"destination": map[string]any{"host": host}, "weight": weight}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": gv.String(),
		"kind":       "VirtualService",
		"metadata": map[string]any{
			"name":      "kubectl-mesh-webhook-check",
			"namespace": namespace,
			"labels":    map[string]any{apply.ManagedByLabel: apply.ManagedBy},
		},
		"spec": map[string]any{
			"hosts": []any{"kubectl-mesh-webhook-check"},
			"http": []any{map[string]any{"route": []any{
				route("kubectl-mesh-webhook-check-a", 90),
				route("kubectl-mesh-webhook-check-b", 20),
			}}},
		},
	}}
}

// findingCode picks the finding codes out of a denial's message.
var findingCode = regexp.MustCompile(`\[(MESH[0-9]{4})\]`)

func (o Options) checkAdmission(ctx context.Context, wh *admissionregistrationv1.ValidatingWebhook) Check {
	what := fmt.Sprintf("admission: a VirtualService with weights 90/20 in namespace %s", o.Namespace)
	mapping, err := o.Mapper.RESTMapping(schema.GroupKind{Group: "networking.istio.io", Kind: "VirtualService"})
	if err != nil {
		return Check{false, fmt.Sprintf("%s: the cluster does not serve VirtualServices (is Istio installed?): %v", what, err)}
	}
	vs := badVirtualService(mapping.GroupVersionKind.GroupVersion(), o.Namespace)
	_, err = o.Dynamic.Resource(mapping.Resource).Namespace(o.Namespace).Create(ctx, vs, metav1.CreateOptions{
		DryRun: []string{metav1.DryRunAll}, FieldManager: apply.FieldManager,
	})
	if err == nil {
		return Check{false, what + " was admitted: " + o.admittedBecause(ctx, wh)}
	}
	msg := err.Error()
	if codes := findingCode.FindAllStringSubmatch(msg, -1); len(codes) > 0 && strings.Contains(msg, "denied the request") {
		var list []string
		for _, c := range codes {
			if !slices.Contains(list, c[1]) {
				list = append(list, c[1])
			}
		}
		sort.Strings(list)
		return Check{true, fmt.Sprintf("%s was denied by mesh-webhook (%s)", what, strings.Join(list, ", "))}
	}
	return Check{false, fmt.Sprintf("%s was not denied by mesh-webhook: %s", what, firstLine(msg))}
}

// admittedBecause guesses why the known-bad VirtualService got through.
func (o Options) admittedBecause(ctx context.Context, wh *admissionregistrationv1.ValidatingWebhook) string {
	if wh == nil {
		return "no mesh-webhook configuration is registered"
	}
	if wh.NamespaceSelector != nil {
		ns, err := o.Kube.CoreV1().Namespaces().Get(ctx, o.Namespace, metav1.GetOptions{})
		sel, serr := metav1.LabelSelectorAsSelector(wh.NamespaceSelector)
		if err == nil && serr == nil && !sel.Matches(labels.Set(ns.Labels)) {
			return fmt.Sprintf("the webhook's namespaceSelector leaves namespace %s out (an excluded namespace, or labelled %s=disabled); check another with -n",
				o.Namespace, breakGlassLabel)
		}
	}
	if wh.FailurePolicy != nil && *wh.FailurePolicy == admissionregistrationv1.Ignore {
		return "the API server could not call mesh-webhook and failurePolicy Ignore let the object through"
	}
	return "mesh-webhook allowed it (are MESH0104 and the host checks turned off?)"
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
