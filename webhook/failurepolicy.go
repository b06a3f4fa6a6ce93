package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// Names of the chart's two webhook entries.
const (
	// WebhookName reviews CREATE and UPDATE; its failure policy is the
	// configured one once mesh-webhook serves.
	WebhookName = "validate.mesh.kubectl-mesh.io"
	// DeleteWebhookName reviews DELETE, with failurePolicy Ignore.
	DeleteWebhookName = "validate-delete.mesh.kubectl-mesh.io"
)

// failurePolicySwitch gives the webhook entry its configured failure
// policy once mesh-webhook is ready to answer and the entry has a CA: the
// chart installs it with Ignore, so a webhook that cannot be called yet
// (no CA injected, pods not started) never blocks Istio writes. It acts
// once per process and never reverts a policy changed by hand later.
type failurePolicySwitch struct {
	client  kubernetes.Interface
	config  string // ValidatingWebhookConfiguration
	webhook string // entry
	policy  admissionregistrationv1.FailurePolicyType
	ready   func() bool
	every   time.Duration
	log     logr.Logger
}

// Start implements manager.Runnable.
func (s *failurePolicySwitch) Start(ctx context.Context) error {
	err := wait.PollUntilContextCancel(ctx, s.every, true, func(ctx context.Context) (bool, error) {
		if !s.ready() {
			return false, nil
		}
		done, err := s.trySwitch(ctx)
		if err != nil {
			s.log.Error(err, "setting the failure policy; retrying", "webhook", s.webhook)
		}
		return done, nil
	})
	if err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// NeedLeaderElection: every replica may switch it; the patch is idempotent.
func (s *failurePolicySwitch) NeedLeaderElection() bool { return false }

// trySwitch sets the policy when the entry has its CA; true when done.
func (s *failurePolicySwitch) trySwitch(ctx context.Context) (bool, error) {
	api := s.client.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	vwc, err := api.Get(ctx, s.config, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Errorf("reading ValidatingWebhookConfiguration %s: %w", s.config, err)
	}
	for i, wh := range vwc.Webhooks {
		if wh.Name != s.webhook {
			continue
		}
		if wh.FailurePolicy != nil && *wh.FailurePolicy == s.policy {
			return true, nil
		}
		if len(wh.ClientConfig.CABundle) == 0 && wh.ClientConfig.URL == nil {
			return false, nil // the CA is not injected yet
		}
		// The test keeps the patch from landing on another entry should
		// the list have changed since the read.
		patch, err := json.Marshal([]map[string]any{
			{"op": "test", "path": fmt.Sprintf("/webhooks/%d/name", i), "value": s.webhook},
			{"op": "replace", "path": fmt.Sprintf("/webhooks/%d/failurePolicy", i), "value": s.policy},
		})
		if err != nil {
			return false, err
		}
		if _, err := api.Patch(ctx, s.config, types.JSONPatchType, patch, metav1.PatchOptions{FieldManager: "mesh-webhook"}); err != nil {
			return false, fmt.Errorf("patching the failure policy of %s in %s: %w", s.webhook, s.config, err)
		}
		s.log.Info("failure policy set", "configuration", s.config, "webhook", s.webhook, "failurePolicy", s.policy)
		return true, nil
	}
	return false, fmt.Errorf("ValidatingWebhookConfiguration %s has no webhook %s", s.config, s.webhook)
}
