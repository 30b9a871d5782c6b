package e2e

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atod-project/atod/internal/timescale"
	"github.com/atod-project/atod/protocol"
)

// The tests of atod as a service manager runs it: scripts/vmtest-guest's
// systemd stage installs the rootless unit (make install's, as on a cgroup
// v2 host) in a guest whose PID 1 is systemd, starts it and runs them, with
// a smoke subset of the v0 tests and TestRootlessDaemon's "serves", against
// that daemon ($ATOD_E2E_SERVICE; serviceDaemon). Elsewhere they skip.

// serviceUnit is the service's unit.
const serviceUnit = "atod.service"

// needService returns the service's daemon, or skips t.
func needService(t *testing.T) *daemon {
	t.Helper()
	if os.Getenv("ATOD_E2E_SERVICE") == "" {
		t.Skip("no service to test: $ATOD_E2E_SERVICE is not set (scripts/vmtest's systemd stage sets it)")
	}
	return startDaemon(t, daemonOptions{})
}

// unitProperties reads properties of the unit from systemd.
func unitProperties(t *testing.T, names ...string) map[string]string {
	t.Helper()
	out, err := exec.Command("systemctl", "show", serviceUnit, "--property", strings.Join(names, ",")).CombinedOutput()
	if err != nil {
		t.Fatalf("systemctl show %s: %v\n%s", serviceUnit, err, out)
	}
	props := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			props[k] = v
		}
	}
	return props
}

// get fetches path from the daemon and returns its status and body.
func get(t *testing.T, d *daemon, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + d.addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// TestServiceUnit: systemd started the unit as its user, with the
// notification of its readiness (Type=notify: the start would have failed
// otherwise), its endpoints answer, and a reload keeps it running.
func TestServiceUnit(t *testing.T) {
	d := needService(t)
	props := unitProperties(t, "ActiveState", "SubState", "Type", "User", "Delegate", "MainPID", "NRestarts", "StatusErrno")
	for k, want := range map[string]string{"ActiveState": "active", "SubState": "running", "Type": "notify", "Delegate": "yes", "NRestarts": "0"} {
		if props[k] != want {
			t.Errorf("%s: %s=%s, want %s", serviceUnit, k, props[k], want)
		}
	}
	if d.user.rootless && props["User"] != "atod" {
		t.Errorf("%s runs as User=%q, want atod (the rootless unit)", serviceUnit, props["User"])
	}
	if props["MainPID"] != "" && props["MainPID"] != strconv.Itoa(d.pid) {
		t.Errorf("%s: MainPID %s, the test was given %d", serviceUnit, props["MainPID"], d.pid)
	}
	for path, want := range map[string]string{"/healthz": `"version"`, "/readyz": "ready", "/metrics": "atod_runs_total"} {
		if code, body := get(t, d, path); code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d %.300q, want 200 with %q", path, code, body, want)
		}
	}
	r := execute(t, d, job{language: "bash", code: "echo before reload", timeout: scaledTimeout(30)})
	if string(r.Stdout) != "before reload\n" {
		t.Errorf("a run: %s %q %q", status(r), r.Stdout, r.Stderr)
	}
	if out, err := exec.Command("systemctl", "reload", serviceUnit).CombinedOutput(); err != nil {
		t.Fatalf("systemctl reload: %v\n%s", err, out)
	}
	waitFor(t, "the daemon to log its reload", func() bool { return strings.Contains(d.logs(), "configuration reloaded") })
	if after := unitProperties(t, "MainPID", "ActiveState"); after["MainPID"] != props["MainPID"] || after["ActiveState"] != "active" {
		t.Errorf("after a reload: %v, before %v", after, props)
	}
	r = execute(t, d, job{language: "bash", code: "echo after reload", timeout: scaledTimeout(30)})
	if string(r.Stdout) != "after reload\n" {
		t.Errorf("a run after the reload: %s %q %q", status(r), r.Stdout, r.Stderr)
	}
}

// TestServiceStopDrains: systemctl stop lets a run in flight finish and
// answer its client, and the daemon exits 0 (the unit's stop succeeds).
// It stops the service: the systemd stage runs it last.
func TestServiceStopDrains(t *testing.T) {
	d := needService(t)
	type answer struct {
		r   *protocol.Result
		err error
	}
	done := make(chan answer, 1)
	go func() {
		r, err := executeErr(d, job{language: "bash", code: holdCode("drain") + "; echo drained", timeout: 60})
		done <- answer{r, err}
	}()
	awaitHold(t, d, "drain")
	stop := exec.Command("systemctl", "stop", serviceUnit)
	var stopOut strings.Builder
	stop.Stdout, stop.Stderr = &stopOut, &stopOut
	if err := stop.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop.Wait() }()
	waitFor(t, "the daemon to drain", func() bool { return strings.Contains(d.logs(), "draining") })
	release(t, d, "drain")
	select {
	case a := <-done:
		if a.err != nil {
			t.Errorf("the run in flight at the stop: %v", a.err)
		} else if string(a.r.Stdout) != "drained\n" || status(a.r) != "exited/0" {
			t.Errorf("the run in flight at the stop: %s %q %q", status(a.r), a.r.Stdout, a.r.Stderr)
		}
	case <-time.After(timescale.D(60 * time.Second)):
		t.Fatal("the run in flight got no answer")
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("systemctl stop: %v\n%s", err, stopOut.String())
		}
	case <-time.After(timescale.D(60 * time.Second)):
		t.Fatal("systemctl stop did not return")
	}
	// A main process killed (by its stop timeout, say) or exiting
	// non-zero would make the result another.
	props := unitProperties(t, "ActiveState", "Result", "ExecMainStatus")
	if props["ActiveState"] != "inactive" || props["Result"] != "success" || props["ExecMainStatus"] != "0" {
		t.Errorf("after systemctl stop: %v, want inactive, success, exit status 0", props)
	}
}
