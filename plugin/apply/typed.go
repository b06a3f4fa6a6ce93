package apply

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// FromTyped converts typed objects (a corev1.Service, an appsv1.Deployment)
// to the unstructured form the Applier takes, without the null and empty
// fields the converter writes for unset structs, so server-side apply owns
// only what the caller really set.
func FromTyped(typed ...runtime.Object) ([]*unstructured.Unstructured, error) {
	out := make([]*unstructured.Unstructured, 0, len(typed))
	for _, obj := range typed {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return nil, fmt.Errorf("converting %T: %w", obj, err)
		}
		pruneEmpty(m)
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out, nil
}

// pruneEmpty drops nulls and empty maps (creationTimestamp: null,
// status: {}, resources: {}); an emptyDir: {} volume source means something
// and stays.
func pruneEmpty(m map[string]any) {
	for k, v := range m {
		switch t := v.(type) {
		case nil:
			delete(m, k)
		case map[string]any:
			pruneEmpty(t)
			if len(t) == 0 && k != "emptyDir" {
				delete(m, k)
			}
		case []any:
			for _, item := range t {
				if im, ok := item.(map[string]any); ok {
					pruneEmpty(im)
				}
			}
		}
	}
}
