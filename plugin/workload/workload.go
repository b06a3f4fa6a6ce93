// Package workload waits for Deployments (and StatefulSets and DaemonSets)
// to be rolled out and ready, and when they are not, says why in the words
// of their pods: waiting containers (ImagePullBackOff, CrashLoopBackOff,
// ...), unschedulable pods, failed pod creation and Warning events.
package workload

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Kinds Wait and Check understand.
const (
	Deployment  = "Deployment"
	StatefulSet = "StatefulSet"
	DaemonSet   = "DaemonSet"
)

// pollInterval is how often Wait looks again.
const pollInterval = 500 * time.Millisecond

// diagnoseTimeout bounds the reads that explain a timeout, which run after
// the caller's context ended.
const diagnoseTimeout = 10 * time.Second

// maxEventsPerPod bounds the Warning events reported per pod.
const maxEventsPerPod = 3

// Ref names a workload, e.g. Deployment/istio-system/istiod.
type Ref struct {
	Kind, Namespace, Name string
}

// String is Kind/Namespace/Name, as istioctl names what it waits for.
func (r Ref) String() string { return r.Kind + "/" + r.Namespace + "/" + r.Name }

// State is a workload's readiness at one moment.
type State struct {
	Ref Ref
	// Found is false when the workload does not exist.
	Found bool
	// Ready counts the replicas (or DaemonSet pods) ready and up to date;
	// Desired counts those wanted.
	Ready, Desired int32
	// RolledOut is true when the controller saw the latest spec, every
	// replica runs it, all of them are available, and no old one is left.
	RolledOut bool
	// Images are the images of the pod template's containers.
	Images []string
	// Labels are the workload's own labels.
	Labels map[string]string

	selector *metav1.LabelSelector
}

// Wait returns nil when every workload is rolled out and ready, looking
// every 500ms. onPending (may be nil) is called with the workloads not yet
// ready whenever that set changes. When ctx ends first, Wait returns a
// *NotReadyError explaining each workload still not ready.
func Wait(ctx context.Context, client kubernetes.Interface, refs []Ref, onPending func(pending []Ref)) error {
	return wait(ctx, client, refs, onPending, pollInterval)
}

func wait(ctx context.Context, client kubernetes.Interface, refs []Ref, onPending func([]Ref), interval time.Duration) error {
	var last []Ref
	first := true
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		var pending []Ref
		for _, ref := range refs {
			st, err := Check(ctx, client, ref)
			// A failed read is retried until ctx ends (the client's rate
			// limiter refuses reads that would end past the deadline, for
			// one); only refusals that retrying cannot cure end the wait.
			if err != nil && (apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err)) {
				return err
			}
			if err != nil || !st.RolledOut {
				pending = append(pending, ref)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		if onPending != nil && (first || !slices.Equal(pending, last)) {
			onPending(slices.Clone(pending))
		}
		first, last = false, pending
		select {
		case <-ctx.Done():
			return explain(ctx, client, pending)
		case <-ticker.C:
		}
	}
}

// Check reads one workload's State. A workload that does not exist is
// not an error: its State has Found false.
func Check(ctx context.Context, client kubernetes.Interface, ref Ref) (State, error) {
	st := State{Ref: ref}
	var err error
	switch ref.Kind {
	case Deployment:
		var d *appsv1.Deployment
		if d, err = client.AppsV1().Deployments(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{}); err == nil {
			st = deploymentState(d)
		}
	case StatefulSet:
		var s *appsv1.StatefulSet
		if s, err = client.AppsV1().StatefulSets(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{}); err == nil {
			st = statefulSetState(s)
		}
	case DaemonSet:
		var d *appsv1.DaemonSet
		if d, err = client.AppsV1().DaemonSets(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{}); err == nil {
			st = daemonSetState(d)
		}
	default:
		return st, fmt.Errorf("%s: unsupported kind %q (Deployment, StatefulSet or DaemonSet)", ref, ref.Kind)
	}
	if apierrors.IsNotFound(err) {
		return State{Ref: ref}, nil
	}
	if err != nil {
		return st, fmt.Errorf("reading %s: %w", ref, err)
	}
	return st, nil
}

// Status lists the Deployments of a namespace that match a label selector
// ("" for all), sorted by name.
func Status(ctx context.Context, client kubernetes.Interface, namespace, selector string) ([]State, error) {
	list, err := client.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("listing Deployments in %s: %w", namespace, err)
	}
	out := make([]State, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, deploymentState(&list.Items[i]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref.Name < out[j].Ref.Name })
	return out, nil
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

func images(spec corev1.PodSpec) []string {
	var out []string
	for _, c := range spec.Containers {
		out = append(out, c.Image)
	}
	return out
}

// deploymentState follows `kubectl rollout status`: the controller saw the
// latest generation, every replica is updated and available, and no old
// replica remains.
func deploymentState(d *appsv1.Deployment) State {
	want := replicas(d.Spec.Replicas)
	s := d.Status
	return State{
		Ref:   Ref{Deployment, d.Namespace, d.Name},
		Found: true, Ready: min(s.ReadyReplicas, s.UpdatedReplicas), Desired: want,
		RolledOut: s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want &&
			s.AvailableReplicas == want && s.Replicas == want,
		Images: images(d.Spec.Template.Spec), Labels: d.Labels, selector: d.Spec.Selector,
	}
}

func statefulSetState(ss *appsv1.StatefulSet) State {
	want := replicas(ss.Spec.Replicas)
	s := ss.Status
	return State{
		Ref:   Ref{StatefulSet, ss.Namespace, ss.Name},
		Found: true, Ready: s.ReadyReplicas, Desired: want,
		RolledOut: s.ObservedGeneration >= ss.Generation && s.UpdatedReplicas == want &&
			s.AvailableReplicas == want && s.ReadyReplicas == want,
		Images: images(ss.Spec.Template.Spec), Labels: ss.Labels, selector: ss.Spec.Selector,
	}
}

func daemonSetState(d *appsv1.DaemonSet) State {
	s := d.Status
	want := s.DesiredNumberScheduled
	return State{
		Ref:   Ref{DaemonSet, d.Namespace, d.Name},
		Found: true, Ready: s.NumberReady, Desired: want,
		RolledOut: s.ObservedGeneration >= d.Generation && s.UpdatedNumberScheduled == want &&
			s.NumberAvailable == want,
		Images: images(d.Spec.Template.Spec), Labels: d.Labels, selector: d.Spec.Selector,
	}
}
