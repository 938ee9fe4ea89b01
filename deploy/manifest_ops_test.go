package deploy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// doc is one manifest object as plain YAML values, for the invariants
// below, which reach into fields the typed object leaves out.
type doc map[string]any

func (d doc) at(path ...string) any {
	var v any = d
	for _, p := range path {
		switch m := v.(type) {
		case doc:
			v = m[p]
		case map[string]any:
			v = m[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i >= len(m) {
				return nil
			}
			v = m[i]
		default:
			return nil
		}
	}
	return v
}

// asDoc is v as a doc: yaml.v3 decodes nested maps into the type of the
// outer one.
func asDoc(v any) doc {
	switch m := v.(type) {
	case doc:
		return m
	case map[string]any:
		return m
	}
	return nil
}

func (d doc) str(path ...string) string { s, _ := d.at(path...).(string); return s }

func loadDocs(t *testing.T) map[string]doc {
	t.Helper()
	raw, err := os.ReadFile("kubernetes/pushpoll.yaml")
	must(t, err)
	return parseDocs(t, raw)
}

// parseDocs reads a multi-document manifest, keyed kind/name.
func parseDocs(t *testing.T, raw []byte) map[string]doc {
	t.Helper()
	out := map[string]doc{}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var d doc
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if d != nil { // an empty document (a template that rendered nothing)
			out[d.str("kind")+"/"+d.str("metadata", "name")] = d
		}
	}
	return out
}

// releaseVersion is internal/version's Default, read from its source so
// that this test needs no build of it.
func releaseVersion(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile("../internal/version/version.go")
	must(t, err)
	m := regexp.MustCompile(`const Default = "([^"]+)"`).FindSubmatch(src)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// mebibytes reads a Kubernetes quantity in Mi or Gi.
func mebibytes(t *testing.T, q string) int {
	t.Helper()
	for suffix, mul := range map[string]int{"Mi": 1, "Gi": 1024} {
		if n, ok := strings.CutSuffix(q, suffix); ok {
			v, err := strconv.Atoi(n)
			must(t, err)
			return v * mul
		}
	}
	t.Fatalf("quantity %q is not in Mi or Gi", q)
	return 0
}

// The operator's kit (issue 22): pinned image, memory sized for the socket
// cap, secrets as files, admin port fenced off, spread, budget, autoscaling.
func TestKubernetesOperatorKit(t *testing.T) { checkOperatorKit(t, loadDocs(t)) }

// checkOperatorKit checks the invariants on the plain manifest or on the
// Helm chart's rendering (helm_test.go).
func checkOperatorKit(t *testing.T, docs map[string]doc) {
	for _, kind := range []string{"Deployment/pushpoll", "Service/pushpoll", "Service/pushpoll-script", "PodDisruptionBudget/pushpoll", "NetworkPolicy/pushpoll", "HorizontalPodAutoscaler/pushpoll"} {
		if docs[kind] == nil {
			t.Fatalf("no %s", kind)
		}
	}
	dep := docs["Deployment/pushpoll"]
	pod := asDoc(dep.at("spec", "template", "spec"))
	c := asDoc(pod.at("containers", "0"))
	env := map[string]doc{}
	for _, e := range c.at("env").([]any) {
		e := asDoc(e)
		env[e.str("name")] = e
	}

	t.Run("image pinned to the release", func(t *testing.T) {
		image := c.str("image")
		_, tag, ok := strings.Cut(image, ":")
		if !ok || tag == "latest" || !regexp.MustCompile(`^v?\d+\.\d+\.\d+$`).MatchString(tag) {
			t.Fatalf("image %q is not pinned to a version", image)
		}
		if v := releaseVersion(t); v != "" && tag != v {
			t.Errorf("image tag %s, internal/version.Default %s", tag, v)
		}
	})

	t.Run("memory sized for the socket cap, GOMEMLIMIT from the limit", func(t *testing.T) {
		maxSockets, err := strconv.Atoi(env["PUSHPOLL_MAX_SOCKETS"].str("value"))
		if err != nil || maxSockets <= 0 {
			t.Fatalf("PUSHPOLL_MAX_SOCKETS = %q, want a cap", env["PUSHPOLL_MAX_SOCKETS"].str("value"))
		}
		// BENCHMARKS.md, Idle memory per socket: 15.4 KB RSS at 19,000.
		const perSocketKiB = 16
		need := maxSockets * perSocketKiB / 1024
		request := mebibytes(t, c.str("resources", "requests", "memory"))
		limit := mebibytes(t, c.str("resources", "limits", "memory"))
		if request < need+32 {
			t.Errorf("memory request %d Mi, below %d sockets × %d KiB = %d Mi plus the process", request, maxSockets, perSocketKiB, need)
		}
		if limit < request {
			t.Errorf("memory limit %d Mi below the request %d Mi", limit, request)
		}
		ref := env["GOMEMLIMIT"].at("valueFrom", "resourceFieldRef")
		if ref == nil || asDoc(ref).str("resource") != "limits.memory" {
			t.Errorf("GOMEMLIMIT = %v, want the container's memory limit (resourceFieldRef)", env["GOMEMLIMIT"])
		}
	})

	t.Run("secrets are files, no token mounted", func(t *testing.T) {
		if pod.at("automountServiceAccountToken") != false {
			t.Error("automountServiceAccountToken is not false")
		}
		mounts := map[string]bool{}
		for _, m := range c.at("volumeMounts").([]any) {
			m := asDoc(m)
			if m.at("readOnly") != true {
				t.Errorf("mount %s is not read-only", m.str("mountPath"))
			}
			mounts[m.str("mountPath")] = true
		}
		for _, name := range []string{"PUSHPOLL_TOKEN_SECRET_FILE", "PUSHPOLL_PUBLISH_SECRET_FILE", "PUSHPOLL_ADMIN_SECRET_FILE", "PUSHPOLL_REDIS_URL_FILE"} {
			path := env[name].str("value")
			dir := path[:max(strings.LastIndexByte(path, '/'), 0)]
			if !mounts[dir] {
				t.Errorf("%s = %q is not in a mounted volume", name, path)
			}
		}
		for name, e := range env {
			if e.at("valueFrom", "secretKeyRef") != nil {
				t.Errorf("%s comes from a secret through the environment: it cannot be rotated", name)
			}
		}
	})

	t.Run("admin port only from the monitoring namespace", func(t *testing.T) {
		for _, cidr := range strings.Split(env["PUSHPOLL_TRUSTED_PROXIES"].str("value"), ",") {
			if _, _, err := net.ParseCIDR(strings.TrimSpace(cidr)); err != nil {
				t.Errorf("PUSHPOLL_TRUSTED_PROXIES %q: %v (behind the ingress every socket would count against its address)", cidr, err)
			}
		}
		if env["PUSHPOLL_ADMIN_LISTEN"].str("value") != ":9090" {
			t.Fatalf("PUSHPOLL_ADMIN_LISTEN = %q", env["PUSHPOLL_ADMIN_LISTEN"].str("value"))
		}
		for _, svc := range []string{"Service/pushpoll", "Service/pushpoll-script"} {
			for _, p := range docs[svc].at("spec", "ports").([]any) {
				if tp := asDoc(p).at("targetPort"); tp == "admin" || tp == 9090 {
					t.Errorf("%s exposes the admin port", svc)
				}
			}
		}
		np := docs["NetworkPolicy/pushpoll"]
		adminFromMonitoring := false
		for _, rule := range np.at("spec", "ingress").([]any) {
			r := asDoc(rule)
			for _, p := range r.at("ports").([]any) {
				if port := asDoc(p).at("port"); port == "admin" || port == 9090 {
					ns := r.str("from", "0", "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name")
					if ns != "monitoring" || len(r.at("from").([]any)) != 1 {
						t.Errorf("admin port reachable from %v, want the monitoring namespace only", r.at("from"))
					}
					adminFromMonitoring = true
				}
			}
		}
		if !adminFromMonitoring {
			t.Error("no NetworkPolicy rule for the admin port")
		}
	})

	t.Run("the script outlives readiness", func(t *testing.T) {
		if docs["Service/pushpoll-script"].at("spec", "publishNotReadyAddresses") != true {
			t.Error("Service pushpoll-script does not publish not-ready pods: /pushpoll.js would vanish while Redis is down")
		}
	})

	t.Run("spread, budget and autoscaling", func(t *testing.T) {
		keys := map[string]bool{}
		for _, s := range pod.at("topologySpreadConstraints").([]any) {
			s := asDoc(s)
			keys[s.str("topologyKey")] = s.str("labelSelector", "matchLabels", "app") == "pushpoll"
		}
		if !keys["kubernetes.io/hostname"] || !keys["topology.kubernetes.io/zone"] {
			t.Errorf("topologySpreadConstraints over %v, want hostname and zone, selecting the pods", keys)
		}
		hpa := docs["HorizontalPodAutoscaler/pushpoll"]
		if hpa.str("spec", "scaleTargetRef", "name") != "pushpoll" {
			t.Error("the HPA does not scale the Deployment")
		}
		if min, _ := hpa.at("spec", "minReplicas").(int); min < 2 {
			t.Errorf("HPA minReplicas %v: a drain needs another pod", hpa.at("spec", "minReplicas"))
		}
	})
}
