package integration

import (
	"os/exec"
	"testing"
	"time"

	"github.com/atod-project/atod/internal/timescale"
)

// BenchmarkRun measures one sandboxed run of a trivial runner (bash running
// `true`), and in the same run, as a baseline, a plain fork/exec of the same
// command outside any sandbox.
func BenchmarkRun(b *testing.B) {
	sb := newSandbox(b, 1)
	runScript(b, sb, "true", timescale.D(10*time.Second)) // warm up
	var sandboxed, plain time.Duration
	for b.Loop() {
		start := time.Now()
		out := runScript(b, sb, "true", timescale.D(10*time.Second))
		sandboxed += time.Since(start)
		if out.res.Status.String() != "exited/0" {
			b.Fatalf("status %v", out.res.Status)
		}
		start = time.Now()
		if err := exec.Command("bash", "-c", "bash -c true").Run(); err != nil {
			b.Fatal(err)
		}
		plain += time.Since(start)
	}
	n := float64(b.N)
	b.ReportMetric(float64(sandboxed.Microseconds())/n/1000, "sandbox-ms/run")
	b.ReportMetric(float64(plain.Microseconds())/n/1000, "forkexec-ms/run")
	b.ReportMetric(float64(sandboxed)/float64(plain), "ratio")
}
