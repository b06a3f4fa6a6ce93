package plugin

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestLoadInClusterDryRun(t *testing.T) {
	out, errOut, code := runOn(t, nil, "load", "http://httpbin:8000/get", "--in-cluster", "--namespace", "shop", "-c", "2", "-n", "20", "--qps", "0", "--dry-run=client")
	if code != ExitOK || errOut != "" {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "load-in-cluster-job.yaml", out)
}

// The command's side of an in-cluster run on a fake API server: the Job
// is created in the namespace, the pod's log is read, and the Job is
// deleted even though the log (the fake's canned "fake logs") holds no
// result. Reading real logs is tested in plugin/loadjob.
func TestLoadInClusterCleansUp(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "mesh-load-q4x9z-1", Namespace: "shop", Labels: map[string]string{"job-name": "mesh-load-q4x9z"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "fortio"}, {Name: "istio-proxy"}}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "fortio", State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: 0},
		}}}},
	}
	kube := fake.NewClientset(pod)
	kube.PrependReactor("create", "jobs", func(action k8stesting.Action) (bool, runtime.Object, error) {
		job := action.(k8stesting.CreateAction).GetObject().(*batchv1.Job)
		job.Name = job.GenerateName + "q4x9z"
		return false, nil, nil
	})
	c := &fakeCluster{kube: kube}
	_, errOut, code := runOn(t, c, "load", "http://httpbin:8000/get", "--in-cluster", "--namespace", "shop", "-c", "2", "-n", "20")
	if code != ExitFailed || !strings.Contains(errOut, "job/mesh-load-q4x9z created in namespace shop") || !strings.Contains(errOut, "no Fortio result in the log:\nfake logs") {
		t.Errorf("exit %d\n%s", code, errOut)
	}
	var verbs []string
	for _, a := range kube.Actions() {
		if a.GetResource().Resource == "jobs" {
			verbs = append(verbs, a.GetVerb())
		}
	}
	if strings.Join(verbs, ",") != "create,delete" {
		t.Errorf("job actions %v", verbs)
	}
}
