package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// helmVersion is the Helm release the chart is checked with, built from the
// Go module proxy (the only registry besides Debian and npm here).
const helmVersion = "v3.16.3"

// helmBinary is helm from PATH or, with PUSHPOLL_TEST_HELM=1, built from
// the module proxy into a temporary directory. The first build compiles
// Kubernetes' client libraries (more than ten minutes on a loaded two-core
// machine), too long for scripts/test's budget on a fresh machine; the Go
// build cache makes later builds take seconds.
func helmBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	if os.Getenv("PUSHPOLL_TEST_HELM") == "" {
		t.Skip("helm not on PATH; PUSHPOLL_TEST_HELM=1 builds helm " + helmVersion + " from the Go module proxy")
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "install", "helm.sh/helm/v3/cmd/helm@"+helmVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cannot build helm %s from the module proxy: %v\n%s", helmVersion, err, out)
	}
	return filepath.Join(dir, "helm")
}

// The chart lints, and renders to the same operator's kit as
// kubernetes/pushpoll.yaml: the invariants are checked on its output.
func TestHelmChart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds helm")
	}
	helm := helmBinary(t)
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(helm, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("lint", "--strict", "helm/pushpoll")
	run("lint", "--strict", "helm/pushpoll", "--set", "autoscaling.enabled=true")
	rendered := run("template", "pushpoll", "helm/pushpoll", "--set", "autoscaling.enabled=true")
	checkOperatorKit(t, parseDocs(t, []byte(rendered)))

	t.Run("memory request follows maxSockets", func(t *testing.T) {
		docs := parseDocs(t, []byte(run("template", "pushpoll", "helm/pushpoll", "--set", "maxSockets=40000", "--set", "memoryLimit=1Gi")))
		c := asDoc(docs["Deployment/pushpoll"].at("spec", "template", "spec", "containers", "0"))
		// 40,000 × 16 KiB = 625 MiB, plus 64.
		if got := c.str("resources", "requests", "memory"); got != "689Mi" {
			t.Errorf("memory request %s for 40,000 sockets, want 689Mi", got)
		}
	})
	t.Run("refuses latest and a bad socket cap", func(t *testing.T) {
		for _, set := range []string{"image.tag=latest", "maxSockets=0"} {
			out, err := exec.Command(helm, "template", "pushpoll", "helm/pushpoll", "--set", set).CombinedOutput()
			if err == nil {
				t.Errorf("--set %s rendered:\n%.300s", set, out)
			}
		}
	})
}
