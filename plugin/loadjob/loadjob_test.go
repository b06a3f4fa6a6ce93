package loadjob

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/loadgen"
)

func TestArgs(t *testing.T) {
	tests := []struct {
		o    loadgen.Options
		want string
	}{
		{loadgen.Options{URL: "http://httpbin:8000/get", Concurrency: 2, Exactly: 20},
			"load -json - -loglevel Warning -c 2 -qps 0 -n 20 http://httpbin:8000/get"},
		{loadgen.Options{URL: "http://productpage:9080/", QPS: 20, Duration: 30 * time.Second, Timeout: 5 * time.Second, Headers: []string{"end-user: jason"}, AllowInitialErrors: true},
			"load -json - -loglevel Warning -c 4 -qps 20 -t 30s -timeout 5s -H end-user: jason -allow-initial-errors http://productpage:9080/"},
	}
	for _, tt := range tests {
		if got := strings.Join(Args(tt.o), " "); got != tt.want {
			t.Errorf("Args = %s\nwant   %s", got, tt.want)
		}
	}
}

func TestJob(t *testing.T) {
	job := Job(Options{Namespace: "shop", Load: loadgen.Options{URL: "http://httpbin:8000/get", Concurrency: 2, Exactly: 20}})
	if job.GenerateName != "mesh-load-" || job.Namespace != "shop" || *job.Spec.BackoffLimit != 0 || *job.Spec.ActiveDeadlineSeconds != 180 {
		t.Errorf("job %+v", job.ObjectMeta)
	}
	pod := job.Spec.Template
	if pod.Labels["sidecar.istio.io/inject"] != "true" || pod.Annotations["proxy.istio.io/config"] != `{"holdApplicationUntilProxyStarts": true}` {
		t.Errorf("pod metadata %+v", pod.ObjectMeta)
	}
	c := pod.Spec.Containers[0]
	if pod.Spec.RestartPolicy != corev1.RestartPolicyNever || c.Name != "fortio" || c.Image != "fortio/fortio:"+FortioVersion || c.Args[len(c.Args)-1] != "http://httpbin:8000/get" {
		t.Errorf("container %+v", c)
	}
	if strings.Contains(c.Image, ".") && strings.Contains(strings.SplitN(c.Image, "/", 2)[0], ".") {
		t.Errorf("the default image names a registry host: %s", c.Image)
	}
}

// fortioLog is a pod log as Fortio writes it: one-line log entries on
// stderr around the indented result on stdout.
func fortioLog(t *testing.T) ([]byte, *loadgen.Result) {
	t.Helper()
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n++
		if n%5 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	res, err := loadgen.Run(context.Background(), loadgen.Options{URL: srv.URL, Concurrency: 1, Exactly: 20})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	log := `{"ts":1764072000.123456,"level":"warn","r":1,"file":"http_client.go","line":1150,"msg":"Non ok http code","code":503,"status":"HTTP/1.1 503"}
Fortio 1.75.3 running at 0 queries per second, 2->2 procs, for 20 calls: http://httpbin:8000/get
` + string(b) + "\n" + `{"ts":1764072001.5,"level":"info","msg":"All done"}` + "\n"
	return []byte(log), res
}

func TestParseResult(t *testing.T) {
	log, want := fortioLog(t)
	got, err := ParseResult(log)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.RetCodes, want.RetCodes) || got.DurationHistogram.Count != 20 || got.RetCodes[503] != 4 {
		t.Errorf("RetCodes %v, count %d", got.RetCodes, got.DurationHistogram.Count)
	}
	for _, bad := range []string{"", "Fortio 1.75.3\nerror: dial tcp: lookup httpbin: no such host\n", "{\n  \"RetCodes\": \n"} {
		if _, err := ParseResult([]byte(bad)); err == nil {
			t.Errorf("ParseResult(%q) should fail", bad)
		}
	}
}

// cluster is a fake API server where the Job controller and kubelet are
// played by hand: the Job gets its generated name, and its pod exists with
// the given Fortio container state.
func cluster(t *testing.T, state corev1.ContainerState, sidecar bool) *fake.Clientset {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "mesh-load-x7k2p-abcde", Namespace: "shop", Labels: map[string]string{"job-name": "mesh-load-x7k2p"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "fortio"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "fortio", State: state}}},
	}
	if sidecar {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "istio-proxy"})
	}
	client := fake.NewClientset(pod)
	client.PrependReactor("create", "jobs", func(action k8stesting.Action) (bool, runtime.Object, error) {
		job := action.(k8stesting.CreateAction).GetObject().(*batchv1.Job)
		job.Name = job.GenerateName + "x7k2p"
		return false, nil, nil
	})
	return client
}

func deletions(client *fake.Clientset) []string {
	var out []string
	for _, a := range client.Actions() {
		if d, ok := a.(k8stesting.DeleteActionImpl); ok {
			policy := ""
			if p := d.DeleteOptions.PropagationPolicy; p != nil {
				policy = string(*p)
			}
			out = append(out, d.GetResource().Resource+"/"+d.GetName()+" "+policy)
		}
	}
	return out
}

func running() corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
}

func TestRun(t *testing.T) {
	log, want := fortioLog(t)
	client := cluster(t, running(), true)
	var logged []string
	out, err := Run(context.Background(), client, Options{
		Namespace: "shop",
		Load:      loadgen.Options{URL: "http://httpbin:8000/get", Concurrency: 2, Exactly: 20},
		Logs: func(_ context.Context, ns, pod string) (io.ReadCloser, error) {
			logged = append(logged, ns+"/"+pod)
			return io.NopCloser(strings.NewReader(string(log))), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.Job != "mesh-load-x7k2p" || out.Pod != "mesh-load-x7k2p-abcde" || !out.Sidecar || out.Result.RetCodes[503] != want.RetCodes[503] {
		t.Errorf("outcome %+v", out)
	}
	if !reflect.DeepEqual(logged, []string{"shop/mesh-load-x7k2p-abcde"}) {
		t.Errorf("logs read from %v", logged)
	}
	if d := deletions(client); !reflect.DeepEqual(d, []string{"jobs/mesh-load-x7k2p Background"}) {
		t.Errorf("deletions %v", d)
	}
	if jobs, _ := client.BatchV1().Jobs("shop").List(context.Background(), metav1.ListOptions{}); len(jobs.Items) != 0 {
		t.Errorf("%d Jobs left", len(jobs.Items))
	}
}

// Ctrl-C while Fortio runs: the run stops and the Job still goes.
func TestRunCancelled(t *testing.T) {
	client := cluster(t, running(), false)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := Run(ctx, client, Options{
		Namespace: "shop",
		Load:      loadgen.Options{URL: "http://httpbin:8000/get", Exactly: 20},
		Logs: func(ctx context.Context, _, _ string) (io.ReadCloser, error) {
			cancel()
			<-ctx.Done()
			return nil, ctx.Err()
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
	if d := deletions(client); len(d) != 1 {
		t.Errorf("deletions %v", d)
	}
}

func TestRunFailures(t *testing.T) {
	pull := corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "fortio/fortio:0.0"`}}
	client := cluster(t, pull, true)
	_, err := Run(context.Background(), client, Options{Namespace: "shop", Load: loadgen.Options{URL: "http://httpbin:8000/get", Exactly: 5}})
	if err == nil || !strings.Contains(err.Error(), "cannot start Fortio: ImagePullBackOff: Back-off pulling image") {
		t.Errorf("err = %v", err)
	}
	if d := deletions(client); len(d) != 1 {
		t.Errorf("deletions %v", d)
	}
	// Never scheduled: the wait gives up, the Job goes.
	client = cluster(t, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}, true)
	_, err = Run(context.Background(), client, Options{Namespace: "shop", Wait: 700 * time.Millisecond, Load: loadgen.Options{URL: "http://httpbin:8000/get", Exactly: 5}})
	if err == nil || !strings.Contains(err.Error(), "waiting for the pod of job/mesh-load-x7k2p to run Fortio: context deadline exceeded") {
		t.Errorf("err = %v", err)
	}
	if d := deletions(client); len(d) != 1 {
		t.Errorf("deletions %v", d)
	}
	if _, err := Run(context.Background(), client, Options{Namespace: "shop", Load: loadgen.Options{URL: "http://x", Duration: -1}}); err == nil {
		t.Error("an endless in-cluster run should be refused")
	}
}

// The image runs the Fortio the engine embeds, so both write one JSON shape.
func TestImageMatchesTheEmbeddedFortio(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mod), "\tfortio.org/fortio v"+FortioVersion+"\n") {
		t.Errorf("go.mod does not require fortio.org/fortio v%s: update FortioVersion with the module", FortioVersion)
	}
}
