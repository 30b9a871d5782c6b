package e2e

import (
	"fmt"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/atod-project/atod/internal/atodtest"
)

// BenchmarkRoundTrip measures a trivial program's round trip over the v0
// websocket (connect, request, run in a fresh sandbox, result, close) and,
// in the same run as a baseline, bubblewrap spawning /bin/true with
// --unshare-all. It prints the median and p95 of each and their ratio; it
// asserts nothing about time.
//
//	go test -tags seccomp -run '^$' -bench RoundTrip -benchtime 100x ./e2e
func BenchmarkRoundTrip(b *testing.B) {
	atodtest.NeedRoot(b)
	bwrap, err := exec.LookPath("bwrap")
	if err != nil {
		b.Fatalf("bubblewrap is not installed: run scripts/setup-host")
	}
	d := startDaemon(b, daemonOptions{})
	j := job{language: "bash", code: "true", timeout: scaledTimeout(10)}.encode(b)
	bw := []string{"--unshare-all", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "/bin/true"}
	// Warm up both paths (first cgroup creation, page cache).
	for range 3 {
		execute(b, d, job{language: "bash", code: "true", timeout: scaledTimeout(10)})
		exec.Command(bwrap, bw...).Run()
	}
	var ws, bwt []time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		out := send(b, d, websocket.MessageBinary, j)
		ws = append(ws, time.Since(start))
		if out.result == nil || out.result.StatusType != "exited" {
			b.Fatalf("trivial run failed: close %d %q", out.code, out.reason)
		}
		start = time.Now()
		if err := exec.Command(bwrap, bw...).Run(); err != nil {
			b.Fatalf("bwrap: %v", err)
		}
		bwt = append(bwt, time.Since(start))
	}
	b.StopTimer()
	wsMed, wsP95 := quantiles(ws)
	bwMed, bwP95 := quantiles(bwt)
	b.ReportMetric(ms(wsMed), "ws-median-ms")
	b.ReportMetric(ms(wsP95), "ws-p95-ms")
	b.ReportMetric(ms(bwMed), "bwrap-median-ms")
	b.ReportMetric(ms(bwP95), "bwrap-p95-ms")
	b.ReportMetric(ms(wsMed)/ms(bwMed), "ratio-median")
	fmt.Printf("round trip over %d runs: websocket median %.2f ms p95 %.2f ms; bwrap --unshare-all /bin/true median %.2f ms p95 %.2f ms; ratio (median) %.2fx\n",
		len(ws), ms(wsMed), ms(wsP95), ms(bwMed), ms(bwP95), ms(wsMed)/ms(bwMed))
}

func quantiles(d []time.Duration) (median, p95 time.Duration) {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2], s[(len(s)*95)/100]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
