{{- define "docker-cd.labels" -}}
app.kubernetes.io/name: docker-cd
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "docker-cd.selector" -}}
app.kubernetes.io/name: docker-cd
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
