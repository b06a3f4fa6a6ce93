package workload

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// maxPodsExplained bounds the pods explained per workload: the first few
// tell the story.
const maxPodsExplained = 3

// revisionAnnotation numbers a Deployment's ReplicaSets, newest highest.
const revisionAnnotation = "deployment.kubernetes.io/revision"

// NotReadyError is Wait's answer when its context ended before every
// workload was ready.
type NotReadyError struct {
	Workloads []NotReady
	// Cause is why the wait stopped (the context's error).
	Cause error
}

// NotReady is one workload that was not ready, and why.
type NotReady struct {
	State
	// Reasons are one-line explanations: "pod NAME: container C: REASON:
	// MESSAGE", "pod NAME: Unschedulable: ...", "pod NAME: event REASON:
	// MESSAGE", "ReplicaFailure: ...".
	Reasons []string
}

// Error names each workload with its ready/desired counts, and its
// reasons indented on the lines after it.
func (e *NotReadyError) Error() string {
	var b strings.Builder
	for i, w := range e.Workloads {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(w.Summary())
		for _, r := range w.Reasons {
			b.WriteString("\n  " + r)
		}
	}
	return b.String()
}

// Unwrap gives the context's error, so errors.Is(err,
// context.DeadlineExceeded) holds after a timeout.
func (e *NotReadyError) Unwrap() error { return e.Cause }

// Summary is the workload's first line, e.g.
// "Deployment/istio-system/istiod: 0/1 ready".
func (w NotReady) Summary() string {
	if !w.Found {
		return w.Ref.String() + ": not found"
	}
	return fmt.Sprintf("%s: %d/%d ready", w.Ref, w.Ready, w.Desired)
}

// explain builds the NotReadyError for the pending workloads. The caller's
// context has ended, so the reads get a short context of their own.
func explain(ctx context.Context, client kubernetes.Interface, pending []Ref) error {
	cause := ctx.Err()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), diagnoseTimeout)
	defer cancel()
	e := &NotReadyError{Cause: cause}
	events := map[string][]corev1.Event{} // namespace -> Warning events
	for _, ref := range pending {
		st, err := Check(rctx, client, ref)
		nr := NotReady{State: st}
		if err != nil {
			nr.State = State{Ref: ref}
			nr.Reasons = []string{err.Error()}
			e.Workloads = append(e.Workloads, nr)
			continue
		}
		if st.Found && ref.Kind == Deployment {
			// During a rollout the ready replicas may all be old ones:
			// count those of the newest ReplicaSet.
			if d, err := client.AppsV1().Deployments(ref.Namespace).Get(rctx, ref.Name, metav1.GetOptions{}); err == nil {
				if rs := newestReplicaSet(ownedReplicaSets(rctx, client, d)); rs != nil {
					nr.Ready = min(rs.Status.ReadyReplicas, nr.Desired)
				}
			}
		}
		if st.Found {
			if _, ok := events[ref.Namespace]; !ok {
				events[ref.Namespace] = warningEvents(rctx, client, ref.Namespace)
			}
			nr.Reasons = reasons(rctx, client, st, events[ref.Namespace])
		}
		e.Workloads = append(e.Workloads, nr)
	}
	return e
}

// warningEvents lists a namespace's Warning events; explaining is best
// effort, so a failed read gives none.
func warningEvents(ctx context.Context, client kubernetes.Interface, namespace string) []corev1.Event {
	list, err := client.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{FieldSelector: "type=" + corev1.EventTypeWarning})
	if err != nil {
		return nil
	}
	var out []corev1.Event
	for _, ev := range list.Items {
		if ev.Type == corev1.EventTypeWarning { // fake clients ignore field selectors
			out = append(out, ev)
		}
	}
	return out
}

// reasons explains one workload: its failure conditions, the Warning events
// of the workload and of its ReplicaSets (failed pod creation shows there,
// e.g. a webhook that denied it), and what its pods wait for.
func reasons(ctx context.Context, client kubernetes.Interface, st State, events []corev1.Event) []string {
	var out []string
	add := func(s string) {
		for _, have := range out {
			if have == s {
				return
			}
		}
		out = append(out, s)
	}
	owners := map[types.UID]bool{}
	if st.Ref.Kind == Deployment {
		if d, err := client.AppsV1().Deployments(st.Ref.Namespace).Get(ctx, st.Ref.Name, metav1.GetOptions{}); err == nil {
			owners[d.UID] = true
			for _, c := range d.Status.Conditions {
				if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
					add(fmt.Sprintf("%s: %s", c.Reason, c.Message))
				}
				if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse {
					add(fmt.Sprintf("%s: %s", c.Reason, c.Message))
				}
			}
			for _, rs := range ownedReplicaSets(ctx, client, d) {
				owners[rs.UID] = true
			}
		}
	}
	for _, ev := range recent(events, func(o corev1.ObjectReference) bool {
		return owners[o.UID] || (o.Kind == st.Ref.Kind && o.Name == st.Ref.Name)
	}) {
		add(eventText(ev))
	}

	sel, err := metav1.LabelSelectorAsSelector(st.selector)
	if err != nil || sel.Empty() {
		return out
	}
	pods, err := client.CoreV1().Pods(st.Ref.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return append(out, fmt.Sprintf("listing pods: %v", err))
	}
	items := pods.Items
	sort.Slice(items, func(i, j int) bool { return items[i].Name < items[j].Name })
	explained := 0
	for i := range items {
		p := &items[i]
		if podReady(p) || p.DeletionTimestamp != nil {
			continue
		}
		if explained == maxPodsExplained {
			add("(more pods not ready)")
			break
		}
		explained++
		why := podReasons(p)
		for _, ev := range recent(events, func(o corev1.ObjectReference) bool {
			return o.Kind == "Pod" && (o.UID == p.UID || (o.UID == "" && o.Name == p.Name))
		}) {
			why = append(why, eventText(ev))
		}
		if len(why) == 0 {
			why = []string{fmt.Sprintf("phase %s, not ready", p.Status.Phase)}
		}
		for _, w := range why {
			add("pod " + p.Name + ": " + w)
		}
	}
	return out
}

func ownedReplicaSets(ctx context.Context, client kubernetes.Interface, d *appsv1.Deployment) []appsv1.ReplicaSet {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil
	}
	list, err := client.AppsV1().ReplicaSets(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil
	}
	var out []appsv1.ReplicaSet
	for _, rs := range list.Items {
		if metav1.IsControlledBy(&rs, d) {
			out = append(out, rs)
		}
	}
	return out
}

// newestReplicaSet is the ReplicaSet of the Deployment's latest revision.
func newestReplicaSet(rss []appsv1.ReplicaSet) *appsv1.ReplicaSet {
	var newest *appsv1.ReplicaSet
	best := int64(-1)
	for i := range rss {
		rev, err := strconv.ParseInt(rss[i].Annotations[revisionAnnotation], 10, 64)
		if err != nil {
			continue
		}
		if rev > best {
			best, newest = rev, &rss[i]
		}
	}
	return newest
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podReasons says why a pod is not ready: not scheduled, failed, or
// containers waiting or terminated.
func podReasons(p *corev1.Pod) []string {
	var out []string
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			out = append(out, joinReason(c.Reason, c.Message))
		}
	}
	if p.Status.Phase == corev1.PodFailed {
		out = append(out, "failed: "+joinReason(p.Status.Reason, p.Status.Message))
	}
	statuses := append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for _, cs := range statuses {
		switch {
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "PodInitializing" && cs.State.Waiting.Reason != "ContainerCreating":
			text := "container " + cs.Name + ": " + joinReason(cs.State.Waiting.Reason, cs.State.Waiting.Message)
			if t := cs.LastTerminationState.Terminated; t != nil {
				text += fmt.Sprintf(" (last exit: %s, code %d)", t.Reason, t.ExitCode)
			}
			out = append(out, text)
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0:
			t := cs.State.Terminated
			out = append(out, fmt.Sprintf("container %s: terminated: %s (exit code %d)", cs.Name, joinReason(t.Reason, t.Message), t.ExitCode))
		case cs.State.Running != nil && !cs.Ready:
			out = append(out, "container "+cs.Name+": running, not ready")
		}
	}
	return out
}

func joinReason(reason, message string) string {
	message = strings.TrimSpace(message)
	switch {
	case reason == "":
		return message
	case message == "":
		return reason
	}
	return reason + ": " + message
}

// recent returns the latest Warning events about an object, newest last.
func recent(events []corev1.Event, about func(corev1.ObjectReference) bool) []corev1.Event {
	var out []corev1.Event
	for _, ev := range events {
		if about(ev.InvolvedObject) {
			out = append(out, ev)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return eventTime(out[i]).Before(eventTime(out[j])) })
	if len(out) > maxEventsPerPod {
		out = out[len(out)-maxEventsPerPod:]
	}
	return out
}

func eventTime(ev corev1.Event) time.Time {
	switch {
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp.Time
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	}
	return ev.CreationTimestamp.Time
}

func eventText(ev corev1.Event) string {
	text := "event " + joinReason(ev.Reason, ev.Message)
	if ev.Count > 1 {
		text += fmt.Sprintf(" (x%d)", ev.Count)
	}
	return text
}
