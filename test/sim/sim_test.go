// Package sim checks the simulated cluster of hack/sim.sh: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok on
// loopback, where Deployments roll out with no container runtime.
// `make test` sets MESH_SIM=1; without it the test is skipped.
package sim

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func TestSimulatedClusterRunsDeployments(t *testing.T) {
	if os.Getenv("MESH_SIM") != "1" {
		t.Skip("MESH_SIM is not set (make test sets it)")
	}
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	dir := t.TempDir()
	// Ports of its own, so a developer's running `make sim-up` is untouched.
	env := append(os.Environ(), "SIM_DIR="+dir, "SIM_ETCD_PORT=33790", "SIM_ETCD_PEER_PORT=33800",
		"SIM_API_PORT=36443", "SIM_KCM_PORT=36257", "SIM_SCHED_PORT=36259", "SIM_KWOK_PORT=36247")
	sim := func(verb string) string {
		cmd := exec.Command(filepath.Join(root, "hack", "sim.sh"), verb)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			logs, _ := exec.Command("sh", "-c", "tail -n 20 "+dir+"/logs/*.log").CombinedOutput()
			t.Fatalf("hack/sim.sh %s: %v\n%s\n%s", verb, err, out, logs)
		}
		return string(out)
	}
	start := time.Now()
	out := sim("up")
	t.Cleanup(func() { sim("down") })
	t.Logf("simulated cluster up in %v", time.Since(start).Round(time.Second))
	kubeconfig := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	replicas := int32(3)
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "example.invalid/web:1"}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		d, err := cs.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Status.AvailableReplicas == 3 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("deployment not available: %+v", d.Status)
		case <-time.After(200 * time.Millisecond):
		}
	}
	pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || p.Spec.NodeName != "sim-node-0" || p.Status.PodIP == "" {
			t.Errorf("pod %s: phase %s on %q with IP %q", p.Name, p.Status.Phase, p.Spec.NodeName, p.Status.PodIP)
		}
	}
}
