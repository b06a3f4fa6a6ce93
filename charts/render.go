package charts

import (
	"fmt"
	"path"

	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/yaml"
)

// MeshWebhookConfiguration renders the chart's ValidatingWebhookConfiguration
// for a release in namespace with values, so that tests and local runs
// register exactly what an install would.
func MeshWebhookConfiguration(release, namespace string, values map[string]any) (*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	c, err := LoadMeshWebhook()
	if err != nil {
		return nil, err
	}
	rv, err := chartutil.ToRenderValues(c, values, chartutil.ReleaseOptions{Name: release, Namespace: namespace, Revision: 1, IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, fmt.Errorf("values of the mesh-webhook chart: %w", err)
	}
	files, err := engine.Render(c, rv)
	if err != nil {
		return nil, fmt.Errorf("rendering the mesh-webhook chart: %w", err)
	}
	name := path.Join(MeshWebhookName, "templates", "validatingwebhookconfiguration.yaml")
	out, ok := files[name]
	if !ok {
		return nil, fmt.Errorf("the chart renders no %s", name)
	}
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := yaml.UnmarshalStrict([]byte(out), &vwc); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", name, err)
	}
	return &vwc, nil
}
