package webhook

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// certSync copies the serving certificate from the rotator's Secret into
// the certificate directory as soon as it changes. A kubelet-mounted
// Secret lags by up to a minute, which is long enough for a rotation to
// serve a certificate the caBundle no longer vouches for; writing the
// files here leaves only the time controller-runtime takes to reload them.
type certSync struct {
	client    kubernetes.Interface
	namespace string
	name      string
	dir       string
	log       logr.Logger
}

// Start runs until ctx ends.
func (s *certSync) Start(ctx context.Context) error {
	factory := informers.NewSharedInformerFactoryWithOptions(s.client, 0,
		informers.WithNamespace(s.namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", s.name).String()
		}))
	inf := factory.Core().V1().Secrets().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.write,
		UpdateFunc: func(_, obj any) { s.write(obj) },
	})
	if err != nil {
		return err
	}
	factory.Start(ctx.Done())
	<-ctx.Done()
	factory.Shutdown()
	return nil
}

func (s *certSync) write(obj any) {
	secret, ok := obj.(*corev1.Secret)
	if !ok {
		return
	}
	crt, key := secret.Data[corev1.TLSCertKey], secret.Data[corev1.TLSPrivateKeyKey]
	if len(crt) == 0 || len(key) == 0 {
		return
	}
	if err := writeIfChanged(s.dir, map[string][]byte{corev1.TLSPrivateKeyKey: key, corev1.TLSCertKey: crt}); err != nil {
		s.log.Error(err, "writing the serving certificate", "dir", s.dir)
	}
}

// writeIfChanged writes files atomically (temporary file and rename).
func writeIfChanged(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, name := range []string{corev1.TLSPrivateKeyKey, corev1.TLSCertKey} {
		data := files[name]
		path := filepath.Join(dir, name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
			continue
		}
		tmp, err := os.CreateTemp(dir, "."+name+".*")
		if err != nil {
			return err
		}
		if _, err := tmp.Write(data); err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			return err
		}
		if err := tmp.Close(); err != nil {
			return err
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			return fmt.Errorf("installing %s: %w", path, err)
		}
	}
	return nil
}
