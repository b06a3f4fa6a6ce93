{{/*
Name of the chart, or nameOverride.
*/}}
{{- define "mesh-webhook.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Prefix of every object name: fullnameOverride, else the release name when it
already contains the chart name, else <release>-<chart>. Kept to 50
characters so suffixes such as "-tls" stay within the 63 a label allows.
*/}}
{{- define "mesh-webhook.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart label value: name-version.
*/}}
{{- define "mesh-webhook.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels that select the pods (never change them on upgrade: Deployment
selectors are immutable).
*/}}
{{- define "mesh-webhook.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mesh-webhook.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of every object. `kubectl mesh webhook status` finds the objects by
app.kubernetes.io/instance and app.kubernetes.io/part-of.
*/}}
{{- define "mesh-webhook.labels" -}}
helm.sh/chart: {{ include "mesh-webhook.chart" . }}
{{ include "mesh-webhook.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: admission-webhook
app.kubernetes.io/part-of: kubectl-mesh
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
ServiceAccount of the pods.
*/}}
{{- define "mesh-webhook.serviceAccountName" -}}
{{- include "mesh-webhook.fullname" . }}
{{- end }}

{{/*
Secret holding the serving certificate (tls.crt, tls.key and the CA).
*/}}
{{- define "mesh-webhook.tlsSecretName" -}}
{{- printf "%s-tls" (include "mesh-webhook.fullname" .) }}
{{- end }}

{{/*
The Service's in-cluster DNS name, which the serving certificate is for.
*/}}
{{- define "mesh-webhook.serviceDNSName" -}}
{{- printf "%s.%s.svc" (include "mesh-webhook.fullname" .) .Release.Namespace }}
{{- end }}

{{/*
cert-manager Certificate name.
*/}}
{{- define "mesh-webhook.certificateName" -}}
{{- printf "%s-serving" (include "mesh-webhook.fullname" .) }}
{{- end }}

{{/*
Container image reference.
*/}}
{{- define "mesh-webhook.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
Namespaces the webhook never intercepts: the system ones, the release
namespace (so the webhook can always be repaired) and excludedNamespaces.
*/}}
{{- define "mesh-webhook.excludedNamespaces" -}}
{{- $ns := list "kube-system" "kube-node-lease" .Release.Namespace }}
{{- range .Values.excludedNamespaces }}
{{- $ns = append $ns . }}
{{- end }}
{{- toYaml (uniq $ns) }}
{{- end }}

{{/*
Where the serving certificate is read from (--cert-dir).
*/}}
{{- define "mesh-webhook.certDir" -}}
/var/run/mesh-webhook/serving-certs
{{- end }}

{{/*
What both webhook entries share: the Service they call, timeouts and the
namespaces they skip.
*/}}
{{- define "mesh-webhook.webhookCommon" -}}
admissionReviewVersions: ["v1"]
{{- if eq .Values.certificates.mode "self" }}
# clientConfig.caBundle is injected by mesh-webhook once it has created
# its CA; until then the API server cannot call it.
{{- end }}
clientConfig:
  service:
    name: {{ include "mesh-webhook.fullname" . }}
    namespace: {{ .Release.Namespace }}
    path: /validate
    port: 443
matchPolicy: Equivalent
sideEffects: None
timeoutSeconds: 3
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values:
        {{- include "mesh-webhook.excludedNamespaces" . | nindent 8 }}
    # Break glass for a whole namespace:
    # kubectl label namespace NS kubectl-mesh.io/validation=disabled
    - key: kubectl-mesh.io/validation
      operator: NotIn
      values: ["disabled"]
{{- end }}

{{/*
CEL: the request is not a delete by a clean-up controller (the users of
webhook.CleanupUsers).
*/}}
{{- define "mesh-webhook.cleanupCondition" -}}
!(request.userInfo.username in ['system:serviceaccount:kube-system:namespace-controller', 'system:serviceaccount:kube-system:generic-garbage-collector', 'system:kube-controller-manager'])
{{- end }}
