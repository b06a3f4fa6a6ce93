package webhook

import (
	"context"
	"testing"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// TestFailurePolicySwitch: the entry keeps Ignore until mesh-webhook is
// ready and the CA is in place, then gets the configured policy; the
// DELETE entry keeps its own.
func TestFailurePolicySwitch(t *testing.T) {
	ignore := admissionregistrationv1.Ignore
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "mesh-webhook"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			{Name: WebhookName, FailurePolicy: &ignore},
			{Name: DeleteWebhookName, FailurePolicy: &ignore},
		},
	}
	cs := fake.NewClientset(vwc)
	s := &failurePolicySwitch{client: cs, config: "mesh-webhook", webhook: WebhookName, policy: admissionregistrationv1.Fail, ready: func() bool { return true }, log: logr.Discard()}
	ctx := context.Background()
	policies := func() (admissionregistrationv1.FailurePolicyType, admissionregistrationv1.FailurePolicyType) {
		got, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "mesh-webhook", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return *got.Webhooks[0].FailurePolicy, *got.Webhooks[1].FailurePolicy
	}
	if done, err := s.trySwitch(ctx); done || err != nil {
		t.Fatalf("switched without a CA: %v %v", done, err)
	}
	vwc.Webhooks[0].ClientConfig.CABundle = []byte("ca")
	vwc.Webhooks[1].ClientConfig.CABundle = []byte("ca")
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Update(ctx, vwc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if done, err := s.trySwitch(ctx); !done || err != nil {
		t.Fatalf("not switched with the CA in place: %v %v", done, err)
	}
	if main, del := policies(); main != admissionregistrationv1.Fail || del != admissionregistrationv1.Ignore {
		t.Errorf("failure policies %s and %s, want Fail and Ignore", main, del)
	}
	s.webhook = "missing.example.com"
	if _, err := s.trySwitch(ctx); err == nil {
		t.Error("no error for a configuration without the entry")
	}
}
