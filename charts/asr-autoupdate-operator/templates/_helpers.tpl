{{/* Names, labels and the pieces several templates share. */}}

{{- define "asr-autoupdate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "asr-autoupdate.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Cluster-scoped objects are shared by every release in the cluster: the namespace keeps two installs apart. */}}
{{- define "asr-autoupdate.clusterName" -}}
{{- printf "%s-%s" (include "asr-autoupdate.fullname" .) .Release.Namespace | trunc 253 | trimSuffix "-" }}
{{- end }}

{{- define "asr-autoupdate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "asr-autoupdate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "asr-autoupdate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "asr-autoupdate.labels" -}}
helm.sh/chart: {{ include "asr-autoupdate.chart" . }}
{{ include "asr-autoupdate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: asr-autoupdate
{{- end }}

{{- define "asr-autoupdate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "asr-autoupdate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "asr-autoupdate.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Where the CA bundle comes from: "" (none), "pem", "configMap" or "secret". */}}
{{- define "asr-autoupdate.caBundleSource" -}}
{{- $ca := .Values.azure.caBundle }}
{{- $set := 0 }}
{{- if $ca.pem }}{{ $set = add1 $set }}{{ end }}
{{- if $ca.existingConfigMap }}{{ $set = add1 $set }}{{ end }}
{{- if $ca.existingSecret }}{{ $set = add1 $set }}{{ end }}
{{- if gt $set 1 }}
{{- fail "azure.caBundle: set at most one of pem, existingConfigMap, existingSecret" }}
{{- end }}
{{- if $ca.pem }}pem{{ else if $ca.existingConfigMap }}configMap{{ else if $ca.existingSecret }}secret{{ end }}
{{- end }}

{{/* The kopf peering object's name: shared by the replicas of one release, apart from every other release. */}}
{{- define "asr-autoupdate.peeringName" -}}
{{- default (include "asr-autoupdate.clusterName" .) .Values.peering.name }}
{{- end }}

{{/* Replicas without peering would all act: refuse them. */}}
{{- define "asr-autoupdate.checkReplicas" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.peering.enabled) }}
{{- fail "replicaCount above 1 needs peering.enabled: without peering every replica would act on Azure" }}
{{- end }}
{{- end }}

{{/* The arguments of `asr-autoupdate run` (the image's ENTRYPOINT is `asr-autoupdate`). */}}
{{- define "asr-autoupdate.args" -}}
- run
{{- if .Values.watchNamespaces }}
{{- range .Values.watchNamespaces }}
- --namespace={{ . }}
{{- end }}
{{- else }}
- --all-namespaces
{{- end }}
- --liveness=http://0.0.0.0:{{ .Values.probes.port }}/healthz
- --log-format={{ .Values.logFormat }}
{{- if .Values.metrics.enabled }}
- --metrics-port={{ .Values.metrics.port }}
{{- else }}
- --metrics-port=0
{{- end }}
{{- if .Values.peering.enabled }}
- --peering={{ include "asr-autoupdate.peeringName" . }}
- --peering-lifetime={{ int .Values.peering.lifetime }}
{{- end }}
{{- if .Values.verbose }}
- --verbose
{{- end }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/*
What the operator does with its own kinds and with Events, wherever it watches. Derived from kopf 1.45 and
handlers.py, and proven by a real kube-apiserver's enforcement (tests/e2e/test_chart_rbac.py: the operator
does its whole job under these rules, and fails without any one verb). Policies: kopf lists and watches them,
merge- and JSON-patches them (finalizer, progress annotations) and merge-patches `/status`; it never GETs a
single policy, so `get` is not granted. A fleet keeps its child policies: it creates one per matching vault
and deletes the children of vaults that are gone or no longer match (docs/rollouts.md). Fleets: as policies,
listed, watched and patched by kopf (finalizer, progress annotations, the release-wave annotation removed),
and their `/status` merge-patched. Events: core/v1 POST only (never events.k8s.io, never PATCH). One resource per rule, so a
test can take out one verb of one resource.
*/}}
{{- define "asr-autoupdate.policyRules" -}}
- apiGroups: ["asr.autoupdate.dev"]
  resources: ["mobilityupdatepolicies"]
  verbs: ["list", "watch", "patch", "create", "delete"]
- apiGroups: ["asr.autoupdate.dev"]
  resources: ["mobilityupdatepolicies/status"]
  verbs: ["patch"]
- apiGroups: ["asr.autoupdate.dev"]
  resources: ["mobilityupdatefleets"]
  verbs: ["list", "watch", "patch"]
- apiGroups: ["asr.autoupdate.dev"]
  resources: ["mobilityupdatefleets/status"]
  verbs: ["patch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end }}

{{/* kopf watches CRDs to notice its resources appear, change or go (cluster-scoped, so always a ClusterRole). */}}
{{- define "asr-autoupdate.crdRules" -}}
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["list", "watch"]
{{- end }}

{{/*
kopf's peering (with peering.enabled): every replica lists and watches the peering objects and merge-patches its
keep-alive into the status of its own one (kopf 1.45 kopf/_core/engines/peering.py: `touch` and `clean` PATCH
the object itself, the CRD has no status subresource; it never GETs, creates or deletes one: the chart creates
them). Cluster-wide: ClusterKopfPeering in the ClusterRole; namespaced: KopfPeering in each watched namespace's
Role. Proven needed like the rest by tests/e2e/test_chart_rbac.py.
*/}}
{{- define "asr-autoupdate.peeringRules" -}}
{{- if .Values.peering.enabled }}
- apiGroups: ["kopf.dev"]
  resources: [{{ if .Values.watchNamespaces }}"kopfpeerings"{{ else }}"clusterkopfpeerings"{{ end }}]
  verbs: ["list", "watch", "patch"]
{{- end }}
{{- end }}

{{- define "asr-autoupdate.secretRules" -}}
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
{{- end }}
