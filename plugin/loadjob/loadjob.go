// Package loadjob runs Fortio's load as a Job inside the mesh: the calls
// then leave through a sidecar, which is where Istio enforces a
// DestinationRule's connection pool and outlier detection. The Job runs
// Fortio's published image with `load -json -`; the pod's log carries the
// result JSON back, which parses into the same result the embedded engine
// returns. The Job is deleted afterwards, also when the caller gives up.
package loadjob

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/loadgen"
)

// FortioVersion is the version of the Fortio library kubectl-mesh embeds
// (go.mod); the default image runs the same version, so its JSON has the
// shape the local engine's has.
const FortioVersion = "1.75.3"

// DefaultImage is Fortio's published image, without a registry host: the
// cluster's configured registry resolves it.
const DefaultImage = "fortio/fortio:" + FortioVersion

// Container is the name of the Fortio container in the Job's pod.
const Container = "fortio"

// Labels on the Job and its pod.
const (
	NameLabel       = "app.kubernetes.io/name"
	ManagedByLabel  = "app.kubernetes.io/managed-by"
	Name            = "mesh-load"
	sidecarLabel    = "sidecar.istio.io/inject"
	proxyConfig     = "proxy.istio.io/config"
	sidecarName     = "istio-proxy"
	jobNameLabel    = "job-name" // set by the Job controller on every pod, in all versions
	cleanupDeadline = 30 * time.Second
	pollInterval    = 500 * time.Millisecond
)

// Options describe an in-cluster run.
type Options struct {
	Namespace string
	// Image is Fortio's image; "" means DefaultImage.
	Image string
	// Load is the run, as for the embedded engine.
	Load loadgen.Options
	// Wait bounds the whole run: image pull, sidecar start, the load
	// itself. 0 means the load's length plus 2 minutes.
	Wait time.Duration
	// Logs opens the Fortio container's log, following it; nil reads it
	// through the API server (tests pass canned logs).
	Logs func(ctx context.Context, namespace, pod string) (io.ReadCloser, error)
	// Progress, when set, hears what the run is waiting for.
	Progress func(format string, args ...any)
}

// Args are the arguments of `fortio load` for the run.
func Args(o loadgen.Options) []string {
	args := []string{"load", "-json", "-", "-loglevel", "Warning"}
	c := o.Concurrency
	if c == 0 {
		c = loadgen.DefaultConcurrency
	}
	args = append(args, "-c", strconv.Itoa(c), "-qps", strconv.FormatFloat(max(o.QPS, 0), 'g', -1, 64))
	if o.Exactly > 0 {
		args = append(args, "-n", strconv.FormatInt(o.Exactly, 10))
	} else {
		d := o.Duration
		if d == 0 {
			d = loadgen.DefaultDuration
		}
		args = append(args, "-t", d.String())
	}
	if o.Timeout > 0 {
		args = append(args, "-timeout", o.Timeout.String())
	}
	for _, h := range o.Headers {
		args = append(args, "-H", h)
	}
	if o.AllowInitialErrors {
		args = append(args, "-allow-initial-errors")
	}
	return append(args, o.URL)
}

// wait is how long the run may take in all.
func (o Options) wait() time.Duration {
	if o.Wait > 0 {
		return o.Wait
	}
	d := o.Load.Duration
	if o.Load.Exactly > 0 || d <= 0 {
		d = time.Minute // a count of calls: no length known in advance
	}
	return d + 2*time.Minute
}

// Job is the Job that runs the load: one pod, never restarted, with the
// sidecar injected (the label works whether or not the namespace is
// labelled for injection) and Fortio held until the proxy is ready, so the
// first calls do not fail for want of a sidecar. The deadline and TTL clean
// up after a client that vanished without deleting it.
func Job(o Options) *batchv1.Job {
	image := o.Image
	if image == "" {
		image = DefaultImage
	}
	labels := map[string]string{NameLabel: Name, ManagedByLabel: "kubectl-mesh"}
	podLabels := map[string]string{NameLabel: Name, ManagedByLabel: "kubectl-mesh", sidecarLabel: "true"}
	deadline := int64(o.wait().Seconds())
	ttl := int32(300)
	backoff := int32(0)
	noEscalation := false
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: Name + "-", Namespace: o.Namespace, Labels: labels},
		Spec: batchv1.JobSpec{
			BackoffLimit:            &backoff,
			ActiveDeadlineSeconds:   &deadline,
			TTLSecondsAfterFinished: &ttl,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      podLabels,
					Annotations: map[string]string{proxyConfig: `{"holdApplicationUntilProxyStarts": true}`},
				},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{
						Name:            Container,
						Image:           image,
						Args:            Args(o.Load),
						SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &noEscalation},
					}},
				},
			},
		},
	}
}

// Outcome is what an in-cluster run returns.
type Outcome struct {
	Result *loadgen.Result
	Job    string
	Pod    string
	// Sidecar says whether the pod got Istio's proxy; without it the
	// calls bypass the mesh's client-side policies.
	Sidecar bool
}

// Run creates the Job, waits for Fortio to finish, reads its result from
// the log and deletes the Job (and its pod), whatever happened, also when
// ctx is cancelled (Ctrl-C).
func Run(ctx context.Context, client kubernetes.Interface, o Options) (out *Outcome, err error) {
	if err := o.Load.Validate(); err != nil {
		return nil, err
	}
	if o.Load.Exactly == 0 && o.Load.Duration < 0 {
		return nil, errors.New("an in-cluster run needs -n or -t: it cannot run until interrupted")
	}
	progress := o.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	job, err := client.BatchV1().Jobs(o.Namespace).Create(ctx, Job(o), metav1.CreateOptions{FieldManager: "kubectl-mesh"})
	if err != nil {
		return nil, fmt.Errorf("creating the load Job in namespace %s: %w", o.Namespace, err)
	}
	out = &Outcome{Job: job.Name}
	defer func() {
		// A cancelled ctx must not stop the clean-up.
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupDeadline)
		defer cancel()
		background := metav1.DeletePropagationBackground
		if derr := client.BatchV1().Jobs(o.Namespace).Delete(cleanup, job.Name, metav1.DeleteOptions{PropagationPolicy: &background}); derr != nil {
			err = errors.Join(err, fmt.Errorf("deleting job/%s (delete it by hand): %w", job.Name, derr))
		}
	}()
	progress("job/%s created in namespace %s; waiting for its pod", job.Name, o.Namespace)
	ctx, cancel := context.WithTimeout(ctx, o.wait())
	defer cancel()
	pod, err := waitForFortio(ctx, client, o.Namespace, job.Name)
	if err != nil {
		return out, err
	}
	out.Pod, out.Sidecar = pod.Name, hasSidecar(pod)
	progress("pod/%s is running the load", pod.Name)
	logs := o.Logs
	if logs == nil {
		logs = func(ctx context.Context, ns, name string) (io.ReadCloser, error) {
			return client.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{Container: Container, Follow: true}).Stream(ctx)
		}
	}
	stream, err := logs(ctx, o.Namespace, pod.Name)
	if err != nil {
		return out, fmt.Errorf("reading the log of pod/%s: %w", pod.Name, err)
	}
	defer stream.Close()
	text, err := io.ReadAll(stream)
	if err != nil {
		return out, fmt.Errorf("reading the log of pod/%s: %w", pod.Name, err)
	}
	if out.Result, err = ParseResult(text); err != nil {
		return out, fmt.Errorf("pod/%s: %w", pod.Name, err)
	}
	return out, nil
}

// waitForFortio polls for the Job's pod until its Fortio container runs or
// has run; a pod that cannot start fails fast with the kubelet's reason.
func waitForFortio(ctx context.Context, client kubernetes.Interface, namespace, job string) (*corev1.Pod, error) {
	selector := jobNameLabel + "=" + job
	for {
		pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return nil, fmt.Errorf("listing the pods of job/%s: %w", job, err)
		}
		for i := range pods.Items {
			pod := &pods.Items[i]
			for _, cs := range pod.Status.ContainerStatuses {
				if cs.Name != Container {
					continue
				}
				if cs.State.Running != nil || cs.State.Terminated != nil {
					return pod, nil
				}
				if w := cs.State.Waiting; w != nil && stuck(w.Reason) {
					return nil, fmt.Errorf("pod/%s cannot start Fortio: %s: %s", pod.Name, w.Reason, w.Message)
				}
			}
			if pod.Status.Phase == corev1.PodFailed {
				return nil, fmt.Errorf("pod/%s failed: %s %s", pod.Name, pod.Status.Reason, pod.Status.Message)
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the pod of job/%s to run Fortio: %w", job, context.Cause(ctx))
		case <-time.After(pollInterval):
		}
	}
}

// stuck reports the waiting reasons that do not resolve by waiting.
func stuck(reason string) bool {
	switch reason {
	case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError":
		return true
	}
	return false
}

func hasSidecar(p *corev1.Pod) bool {
	for _, c := range append(append([]corev1.Container(nil), p.Spec.Containers...), p.Spec.InitContainers...) {
		if c.Name == sidecarName {
			return true
		}
	}
	return false
}

// ParseResult finds Fortio's result in a pod's log. Fortio writes it to
// stdout as indented JSON, its first line a lone "{"; its own log lines on
// stderr are interleaved in the pod's log, but each is one line (plain
// text, or one-line JSON), so the result is the object starting at such a
// line.
func ParseResult(log []byte) (*loadgen.Result, error) {
	start := -1
	if bytes.HasPrefix(log, []byte("{\n")) {
		start = 0
	} else if i := bytes.Index(log, []byte("\n{\n")); i >= 0 {
		start = i + 1
	}
	if start < 0 {
		return nil, fmt.Errorf("no Fortio result in the log:\n%s", tail(log, 10))
	}
	var res loadgen.Result
	if err := json.NewDecoder(bytes.NewReader(log[start:])).Decode(&res); err != nil {
		return nil, fmt.Errorf("reading Fortio's result: %w\n%s", err, tail(log, 10))
	}
	if res.DurationHistogram == nil {
		return nil, fmt.Errorf("Fortio's result has no DurationHistogram:\n%s", tail(log, 10))
	}
	return &res, nil
}

// tail is the last n lines of a log, for error messages.
func tail(log []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(log), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
