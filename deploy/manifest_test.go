// Package deploy holds the tested deployment kit: the nginx and HAProxy
// configurations (run by client-js/e2e/balancer.test.mjs) and the
// Kubernetes manifests, whose invariants this test checks.
package deploy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/pushpoll/pushpoll/notifier"
)

// Only the fields the invariants are about.
type object struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		// Deployment
		Replicas int      `yaml:"replicas"`
		Selector selector `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
		// Service
		SessionAffinity string `yaml:"sessionAffinity"`
		Ports           []struct {
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
		// PodDisruptionBudget
		MaxUnavailable *int `yaml:"maxUnavailable"`
		MinAvailable   *int `yaml:"minAvailable"`
	} `yaml:"spec"`
}

// selector is a Deployment's or a budget's {matchLabels: …}, or a
// Service's plain map of labels.
type selector map[string]string

func (s *selector) UnmarshalYAML(n *yaml.Node) error {
	var m struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	}
	if err := n.Decode(&m); err == nil && m.MatchLabels != nil {
		*s = m.MatchLabels
		return nil
	}
	var flat map[string]string
	if err := n.Decode(&flat); err != nil {
		return err
	}
	*s = flat
	return nil
}

type podSpec struct {
	TerminationGracePeriodSeconds *int            `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               securityContext `yaml:"securityContext"`
	Containers                    []container     `yaml:"containers"`
}

type securityContext struct {
	RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
	RunAsUser                *int  `yaml:"runAsUser"`
	AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

type container struct {
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	Lifecycle      struct {
		PreStop *struct {
			Sleep *struct {
				Seconds int `yaml:"seconds"`
			} `yaml:"sleep"`
		} `yaml:"preStop"`
	} `yaml:"lifecycle"`
	SecurityContext securityContext `yaml:"securityContext"`
}

func (c container) env(name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

func loadManifests(t *testing.T) map[string]object {
	t.Helper()
	raw, err := os.ReadFile("kubernetes/pushpoll.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]object{}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var o object
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("kubernetes/pushpoll.yaml: %v", err)
		}
		// The objects named pushpoll by kind; others (Service
		// pushpoll-script) by kind/name.
		key := o.Kind
		if o.Metadata.Name != "pushpoll" {
			key += "/" + o.Metadata.Name
		}
		if _, dup := out[key]; dup {
			t.Fatalf("two %ss", key)
		}
		out[key] = o
	}
	for _, kind := range []string{"Deployment", "Service", "Service/pushpoll-script", "PodDisruptionBudget", "NetworkPolicy", "HorizontalPodAutoscaler"} {
		if _, ok := out[kind]; !ok {
			t.Fatalf("kubernetes/pushpoll.yaml has no %s", kind)
		}
	}
	return out
}

func TestKubernetesManifests(t *testing.T) {
	m := loadManifests(t)
	dep := m["Deployment"]
	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want the notifier alone", len(pod.Containers))
	}
	c := pod.Containers[0]
	labels := dep.Spec.Template.Metadata.Labels

	t.Run("probes are the node's health endpoints", func(t *testing.T) {
		if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
			t.Errorf("readinessProbe = %+v, want GET /readyz (fails while draining)", c.ReadinessProbe)
		}
		if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
			t.Errorf("livenessProbe = %+v, want GET /healthz (fails only when the process is stuck)", c.LivenessProbe)
		}
		srv := newNotifier(t)
		for _, p := range []*probe{c.ReadinessProbe, c.LivenessProbe} {
			if p == nil {
				continue
			}
			rec := httptest.NewRecorder()
			srv.Router().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p.HTTPGet.Path, nil))
			if rec.Code == http.StatusNotFound || rec.Code == http.StatusMethodNotAllowed {
				t.Errorf("probe path %s: the notifier answers %d", p.HTTPGet.Path, rec.Code)
			}
			if port := containerPort(c, p.HTTPGet.Port); port == 0 {
				t.Errorf("probe port %q is not a container port", p.HTTPGet.Port)
			}
		}
	})

	t.Run("the node listens on its container port", func(t *testing.T) {
		listen, _ := c.env("PUSHPOLL_LISTEN")
		_, port, err := net.SplitHostPort(listen)
		if err != nil || containerPort(c, port) == 0 {
			t.Errorf("PUSHPOLL_LISTEN %q does not match the container port", listen)
		}
		adv, ok := c.env("PUSHPOLL_ADVERTISE_URL")
		if !ok || !strings.HasSuffix(adv, ":"+port) || !strings.Contains(adv, "$(POD_IP)") {
			t.Errorf("PUSHPOLL_ADVERTISE_URL = %q, want the pod's IP and port %s, where the other pods reach it", adv, port)
		}
	})

	t.Run("grace period outlasts preStop and drain", func(t *testing.T) {
		drain := notifier.Default().DrainTimeout
		if v, ok := c.env("PUSHPOLL_DRAIN_TIMEOUT"); ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				t.Fatalf("PUSHPOLL_DRAIN_TIMEOUT %q: %v", v, err)
			}
			drain = d
		}
		if c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds <= 0 {
			t.Fatal("no preStop sleep: endpoints would still send handshakes to a pod that refuses them")
		}
		preStop := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
		if pod.TerminationGracePeriodSeconds == nil {
			t.Fatal("terminationGracePeriodSeconds unset: Kubernetes' 30s default is not longer than the drain")
		}
		grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
		// The node needs the drain, then up to 5s to close HTTP.
		if need := preStop + drain + 5*time.Second; grace <= need {
			t.Errorf("terminationGracePeriodSeconds %s <= preStop %s + drain %s + 5s shutdown", grace, preStop, drain)
		}
	})

	t.Run("runs as non-root", func(t *testing.T) {
		nonRoot := pod.SecurityContext.RunAsNonRoot
		if c.SecurityContext.RunAsNonRoot != nil {
			nonRoot = c.SecurityContext.RunAsNonRoot
		}
		user := pod.SecurityContext.RunAsUser
		if c.SecurityContext.RunAsUser != nil {
			user = c.SecurityContext.RunAsUser
		}
		if nonRoot == nil || !*nonRoot {
			t.Error("runAsNonRoot is not true")
		}
		if user == nil || *user == 0 {
			t.Error("runAsUser is unset or 0")
		}
		if e := c.SecurityContext.AllowPrivilegeEscalation; e == nil || *e {
			t.Error("allowPrivilegeEscalation is not false")
		}
		// The image agrees: its USER is the distroless nonroot user.
		df, err := os.ReadFile("../Dockerfile")
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`(?m)^USER nonroot`).Match(df) {
			t.Error("the Dockerfile does not switch to a non-root USER")
		}
	})

	t.Run("service and budget select the pods, without affinity", func(t *testing.T) {
		if !selects(dep.Spec.Selector, labels) {
			t.Errorf("the Deployment's selector %v does not match its pods %v", dep.Spec.Selector, labels)
		}
		svc := m["Service"]
		if !selects(svc.Spec.Selector, labels) {
			t.Errorf("the Service's selector %v does not match the pods %v", svc.Spec.Selector, labels)
		}
		if svc.Spec.SessionAffinity != "" && svc.Spec.SessionAffinity != "None" {
			t.Errorf("Service sessionAffinity %q: none is needed", svc.Spec.SessionAffinity)
		}
		for _, p := range svc.Spec.Ports {
			if containerPort(c, p.TargetPort) == 0 {
				t.Errorf("Service targetPort %q is not a container port", p.TargetPort)
			}
		}
		pdb := m["PodDisruptionBudget"]
		if !selects(pdb.Spec.Selector, labels) {
			t.Errorf("the budget's selector %v does not match the pods %v", pdb.Spec.Selector, labels)
		}
		switch {
		case pdb.Spec.MaxUnavailable != nil:
			if *pdb.Spec.MaxUnavailable < 1 || *pdb.Spec.MaxUnavailable >= dep.Spec.Replicas {
				t.Errorf("maxUnavailable %d of %d replicas", *pdb.Spec.MaxUnavailable, dep.Spec.Replicas)
			}
		case pdb.Spec.MinAvailable != nil:
			if *pdb.Spec.MinAvailable < 1 || *pdb.Spec.MinAvailable >= dep.Spec.Replicas {
				t.Errorf("minAvailable %d of %d replicas", *pdb.Spec.MinAvailable, dep.Spec.Replicas)
			}
		default:
			t.Error("the budget sets neither maxUnavailable nor minAvailable")
		}
		if dep.Spec.Replicas < 2 {
			t.Errorf("%d replicas: a drain needs another node to move to", dep.Spec.Replicas)
		}
	})
}

// containerPort resolves a port by name or number; 0 when c has no such port.
func containerPort(c container, nameOrNumber string) int {
	for _, p := range c.Ports {
		if p.Name == nameOrNumber || strconv.Itoa(p.ContainerPort) == nameOrNumber {
			return p.ContainerPort
		}
	}
	return 0
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func newNotifier(t *testing.T) *notifier.Server {
	t.Helper()
	cfg := notifier.Default()
	cfg.TokenSecret = strings.Repeat("k", 32)
	srv, err := notifier.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}
