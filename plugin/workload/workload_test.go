package workload

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

const ns = "istio-system"

func int32p(i int32) *int32 { return &i }

func deployment(name string, want int32, status appsv1.DeploymentStatus) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Generation: 2, UID: types.UID("uid-" + name)},
		Spec: appsv1.DeploymentSpec{
			Replicas: int32p(want),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "istio/" + name + ":1"}}}},
		},
		Status: status,
	}
}

func ready(n int32) appsv1.DeploymentStatus {
	return appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
}

func TestDeploymentRolledOut(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status appsv1.DeploymentStatus
		want   bool
	}{
		{"ready", ready(2), true},
		{"old generation", appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2}, false},
		{"not all updated", appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 1, ReadyReplicas: 2, AvailableReplicas: 2}, false},
		{"not all available", appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 1, AvailableReplicas: 1}, false},
		{"old replica left", appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 2, ReadyReplicas: 3, AvailableReplicas: 2}, false},
		{"nothing yet", appsv1.DeploymentStatus{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := deploymentState(deployment("istiod", 2, tc.status))
			if st.RolledOut != tc.want {
				t.Errorf("RolledOut = %v, want %v (state %+v)", st.RolledOut, tc.want, st)
			}
		})
	}
}

func TestWaitReturnsWhenReady(t *testing.T) {
	client := fake.NewClientset(deployment("istiod", 1, appsv1.DeploymentStatus{}))
	refs := []Ref{{Deployment, ns, "istiod"}, {Deployment, ns, "istio-ingressgateway"}}
	var mu sync.Mutex
	var calls [][]Ref
	go func() {
		time.Sleep(30 * time.Millisecond)
		d := deployment("istiod", 1, ready(1))
		_, _ = client.AppsV1().Deployments(ns).UpdateStatus(context.Background(), d, metav1.UpdateOptions{})
		time.Sleep(30 * time.Millisecond)
		_, _ = client.AppsV1().Deployments(ns).Create(context.Background(), deployment("istio-ingressgateway", 1, ready(1)), metav1.CreateOptions{})
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := wait(ctx, client, refs, func(p []Ref) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, p)
	}, 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 || len(calls[0]) != 2 || len(calls[1]) != 1 || calls[1][0].Name != "istio-ingressgateway" {
		t.Errorf("onPending calls = %v, want both, then the gateway alone", calls)
	}
}

func TestWaitExplainsWhatIsNotReady(t *testing.T) {
	d := deployment("istiod", 1, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 1, UpdatedReplicas: 1})
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{
		Name: "istiod-5d8f", Namespace: ns, UID: "uid-rs", Labels: map[string]string{"app": "istiod"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "istiod", UID: d.UID, Controller: new(true)}},
	}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "istiod-5d8f-x1", Namespace: ns, UID: "uid-pod", Labels: map[string]string{"app": "istiod"}},
		Status: corev1.PodStatus{
			Phase:      corev1.PodPending,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "discovery", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
				Reason: "ImagePullBackOff", Message: `Back-off pulling image "istio/pilot:does-not-exist"`,
			}}}},
		},
	}
	unscheduled := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "istiod-5d8f-x2", Namespace: ns, UID: "uid-pod2", Labels: map[string]string{"app": "istiod"}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/1 nodes are available: 1 Insufficient cpu.",
		}}},
	}
	healthy := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "istiod-5d8f-ok", Namespace: ns, Labels: map[string]string{"app": "istiod"}},
		Status:     corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	now := time.Now()
	event := func(name string, obj corev1.ObjectReference, reason, msg string, at time.Time, typ string) *corev1.Event {
		return &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: ns},
			InvolvedObject: obj, Reason: reason, Message: msg, Type: typ, Count: 1,
			LastTimestamp: metav1.NewTime(at),
		}
	}
	podRef := corev1.ObjectReference{Kind: "Pod", Name: pod.Name, Namespace: ns, UID: pod.UID}
	objs := []runtime.Object{d, rs, pod, unscheduled, healthy,
		event("e1", podRef, "Failed", "Failed to pull image: not found", now.Add(-3*time.Second), corev1.EventTypeWarning),
		event("e2", podRef, "Scheduled", "assigned", now.Add(-4*time.Second), corev1.EventTypeNormal),
		event("e3", corev1.ObjectReference{Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID}, "FailedCreate",
			`Error creating: Internal error occurred: failed calling webhook "namespace.sidecar-injector.istio.io"`, now, corev1.EventTypeWarning),
	}
	client := fake.NewClientset(objs...)
	refs := []Ref{{Deployment, ns, "istiod"}, {Deployment, ns, "istio-egressgateway"}}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := wait(ctx, client, refs, nil, 5*time.Millisecond)
	var nre *NotReadyError
	if !errors.As(err, &nre) {
		t.Fatalf("err = %v (%T), want *NotReadyError", err, err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Error("the error does not unwrap to context.DeadlineExceeded")
	}
	want := `Deployment/istio-system/istiod: 0/1 ready
  event FailedCreate: Error creating: Internal error occurred: failed calling webhook "namespace.sidecar-injector.istio.io"
  pod istiod-5d8f-x1: container discovery: ImagePullBackOff: Back-off pulling image "istio/pilot:does-not-exist"
  pod istiod-5d8f-x1: event Failed: Failed to pull image: not found
  pod istiod-5d8f-x2: Unschedulable: 0/1 nodes are available: 1 Insufficient cpu.
Deployment/istio-system/istio-egressgateway: not found`
	if got := err.Error(); got != want {
		t.Errorf("error:\n%s\nwant:\n%s", got, want)
	}
}

func TestCheckUnsupportedKind(t *testing.T) {
	_, err := Check(context.Background(), fake.NewClientset(), Ref{"CronJob", ns, "x"})
	if err == nil || !strings.Contains(err.Error(), "unsupported kind") {
		t.Errorf("err = %v", err)
	}
}

func TestOtherKinds(t *testing.T) {
	ss := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns, Generation: 1},
		Spec:       appsv1.StatefulSetSpec{Replicas: int32p(2)},
		Status:     appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: 2, ReadyReplicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2},
	}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "cni", Namespace: ns, Generation: 1},
		Status:     appsv1.DaemonSetStatus{ObservedGeneration: 1, DesiredNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 2, NumberReady: 2},
	}
	client := fake.NewClientset(ss, ds)
	st, err := Check(context.Background(), client, Ref{StatefulSet, ns, "db"})
	if err != nil || !st.RolledOut || st.Ready != 2 {
		t.Errorf("StatefulSet state %+v, %v", st, err)
	}
	st, err = Check(context.Background(), client, Ref{DaemonSet, ns, "cni"})
	if err != nil || st.RolledOut || st.Ready != 2 || st.Desired != 3 {
		t.Errorf("DaemonSet state %+v, %v", st, err)
	}
}

func TestStatusListsBySelector(t *testing.T) {
	a := deployment("istiod", 1, ready(1))
	a.Labels = map[string]string{"app": "istiod"}
	b := deployment("istio-ingressgateway", 2, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 1, AvailableReplicas: 1})
	b.Labels = map[string]string{"app": "istio-ingressgateway"}
	client := fake.NewClientset(a, b)
	all, err := Status(context.Background(), client, ns, "")
	if err != nil || len(all) != 2 || all[0].Ref.Name != "istio-ingressgateway" || all[0].RolledOut || all[0].Ready != 1 || !all[1].RolledOut {
		t.Fatalf("Status = %+v, %v", all, err)
	}
	one, err := Status(context.Background(), client, ns, "app=istiod")
	if err != nil || len(one) != 1 || one[0].Images[0] != "istio/istiod:1" {
		t.Errorf("Status(app=istiod) = %+v, %v", one, err)
	}
}

func TestRolloutCountsTheNewReplicaSet(t *testing.T) {
	d := deployment("istiod", 1, appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1})
	rs := func(name, rev string, ready int32) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{
				Name: name, Namespace: ns, UID: types.UID("uid-" + name), Labels: map[string]string{"app": "istiod"},
				Annotations:     map[string]string{"deployment.kubernetes.io/revision": rev},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "istiod", UID: d.UID, Controller: new(true)}},
			},
			Status: appsv1.ReplicaSetStatus{ReadyReplicas: ready},
		}
	}
	client := fake.NewClientset(d, rs("istiod-old", "1", 1), rs("istiod-new", "2", 0))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := wait(ctx, client, []Ref{{Deployment, ns, "istiod"}}, nil, time.Millisecond)
	if err == nil || !strings.HasPrefix(err.Error(), "Deployment/istio-system/istiod: 0/1 ready") {
		t.Errorf("err = %v, want the new ReplicaSet's 0/1", err)
	}
}
