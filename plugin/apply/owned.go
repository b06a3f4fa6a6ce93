package apply

import (
	"encoding/json"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// Owned returns the part of live that the field manager owns according to
// live's managedFields (operation Apply), as an object carrying live's
// apiVersion, kind, name and namespace.
//
// Server-side apply removes a field its manager applied before and now
// leaves out. A command that changes one setting therefore starts from what
// it owns, overlays its change, and applies the sum: the settings of
// earlier runs survive, and nothing it never owned is claimed.
//
// Lists are taken whole: Istio's CRDs declare their lists atomic (no
// x-kubernetes-list-type), so a manager owns a list as one value.
func Owned(live *unstructured.Unstructured, manager string) *unstructured.Unstructured {
	out := Skeleton(live)
	if live == nil {
		return out
	}
	for _, mf := range live.GetManagedFields() {
		if mf.Manager != manager || mf.Operation != "Apply" || mf.FieldsV1 == nil {
			continue
		}
		var set map[string]any
		if err := json.Unmarshal(mf.FieldsV1.Raw, &set); err != nil {
			continue
		}
		copyOwned(out.Object, live.Object, set)
	}
	return out
}

// Skeleton is an object with live's apiVersion, kind, name and namespace
// and nothing else.
func Skeleton(live *unstructured.Unstructured) *unstructured.Unstructured {
	out := &unstructured.Unstructured{Object: map[string]any{}}
	if live == nil {
		return out
	}
	out.SetAPIVersion(live.GetAPIVersion())
	out.SetKind(live.GetKind())
	out.SetName(live.GetName())
	if ns := live.GetNamespace(); ns != "" {
		out.SetNamespace(ns)
	}
	return out
}

// copyOwned copies from src into dst the fields a FieldsV1 set names.
func copyOwned(dst, src map[string]any, set map[string]any) {
	for key, sub := range set {
		name, isField := strings.CutPrefix(key, "f:")
		if !isField {
			continue // "." is the map itself; k:, v:, i: are list members handled with their list
		}
		value, ok := src[name]
		if !ok {
			continue
		}
		children, _ := sub.(map[string]any)
		srcMap, isMap := value.(map[string]any)
		if !isMap || !hasFieldChildren(children) {
			dst[name] = runtime.DeepCopyJSONValue(value)
			continue
		}
		dstMap, _ := dst[name].(map[string]any)
		if dstMap == nil {
			dstMap = map[string]any{}
			dst[name] = dstMap
		}
		copyOwned(dstMap, srcMap, children)
	}
}

func hasFieldChildren(set map[string]any) bool {
	for k := range set {
		if strings.HasPrefix(k, "f:") {
			return true
		}
	}
	return false
}

// Merged returns what the API server will store when the field manager
// applies partial over live, for checking a change before it is made:
// fields the manager owned and partial leaves out are removed (unless
// another manager owns them too), then maps merge key by key and lists and
// scalars of partial replace live's.
func Merged(live, partial *unstructured.Unstructured, manager string) *unstructured.Unstructured {
	if live == nil {
		out := partial.DeepCopy()
		unstructured.RemoveNestedField(out.Object, "metadata", "managedFields")
		return out
	}
	out := live.DeepCopy()
	mine, theirs := map[string]any{}, map[string]any{}
	for _, mf := range live.GetManagedFields() {
		var set map[string]any
		if mf.FieldsV1 == nil || json.Unmarshal(mf.FieldsV1.Raw, &set) != nil {
			continue
		}
		if mf.Manager == manager && mf.Operation == "Apply" {
			mergeMaps(mine, set)
		} else {
			mergeMaps(theirs, set)
		}
	}
	dropReleased(out.Object, partial.Object, mine, theirs)
	mergeMaps(out.Object, partial.DeepCopy().Object)
	unstructured.RemoveNestedField(out.Object, "metadata", "managedFields")
	return out
}

// dropReleased deletes from obj the fields of the set mine that applied
// leaves out and no set of theirs holds.
func dropReleased(obj, applied, mine, theirs map[string]any) {
	for key, sub := range mine {
		name, isField := strings.CutPrefix(key, "f:")
		if !isField {
			continue
		}
		children, _ := sub.(map[string]any)
		theirChildren, theyOwn := theirs[key].(map[string]any)
		appliedValue, inApplied := applied[name]
		objMap, objIsMap := obj[name].(map[string]any)
		if hasFieldChildren(children) && objIsMap {
			appliedMap, _ := appliedValue.(map[string]any)
			dropReleased(objMap, appliedMap, children, theirChildren)
			continue
		}
		if !inApplied && !theyOwn {
			delete(obj, name)
		}
	}
}

func mergeMaps(dst, src map[string]any) {
	for k, v := range src {
		vm, vIsMap := v.(map[string]any)
		dm, dIsMap := dst[k].(map[string]any)
		if vIsMap && dIsMap {
			mergeMaps(dm, vm)
			continue
		}
		dst[k] = v
	}
}
