{{- define "pushpoll.labels" -}}
app: {{ .Release.Name }}
{{- end -}}

{{- define "pushpoll.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if eq $tag "latest" -}}{{- fail "image.tag latest: pin a release" -}}{{- end -}}
{{ .Values.image.repository }}:{{ $tag }}
{{- end -}}

{{/* maxSockets × 16 KiB + 64 MiB, in MiB. */}}
{{- define "pushpoll.memoryRequest" -}}
{{- if le (int .Values.maxSockets) 0 -}}{{- fail "maxSockets must be a positive number" -}}{{- end -}}
{{ add 64 (div (mul (int .Values.maxSockets) 16) 1024) }}Mi
{{- end -}}
