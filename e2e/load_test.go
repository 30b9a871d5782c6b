package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/atod-project/atod/internal/testclient"
	"github.com/atod-project/atod/internal/timescale"
	"github.com/atod-project/atod/protocol"
)

// TestThousandConnections: 1,000 websocket connections at once, from one
// bounded loopback client: 600 v1 connections that stay idle, and 400 v0
// requests of a trivial run, whose waiting beyond max_waiting is refused
// (close 1013). Every request is answered with a result or 1013, a trivial
// run on a new connection still answers while they are all open, and once
// they close the daemon holds no more descriptors than before. Its memory
// with them is reported.
func TestThousandConnections(t *testing.T) {
	const idleConns, runConns = 600, 400
	d := startDaemon(t, daemonOptions{slots: 4, args: []string{"--max-waiting", "32"}})
	serving := d.servingPID(t)
	execute(t, d, job{language: "bash", code: "true"}) // the pool, the page cache
	before := healthOf(t, d)

	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(3*time.Minute))
	defer cancel()
	var idle []*websocket.Conn
	var idleOpen []context.Context // each done when its connection ends
	defer func() {
		for _, c := range idle {
			c.CloseNow()
		}
	}()
	for range idleConns {
		c, _, err := websocket.Dial(ctx, d.url("/api/v1/ws/execute"), nil)
		if err != nil {
			t.Fatalf("idle connection %d: %v", len(idle)+1, err)
		}
		idle = append(idle, c)
		idleOpen = append(idleOpen, c.CloseRead(ctx))
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]int{}
	frame := job{language: "bash", code: "echo hi", timeout: scaledTimeout(30)}.encode(t)
	for range runConns {
		wg.Go(func() {
			o, err := testclient.V0(ctx, d.url("/api/v0/ws/execute"), websocket.MessageBinary, frame)
			key := fmt.Sprintf("close %d", o.Code)
			switch {
			case err != nil:
				key = "error: " + err.Error()
			case o.Result != nil && string(o.Result.Stdout) == "hi\n" && o.Code == websocket.StatusNormalClosure:
				key = "result"
			case o.Code == websocket.StatusCode(protocol.CloseTryAgainLater):
				key = "refused 1013"
			}
			mu.Lock()
			outcomes[key]++
			mu.Unlock()
		})
	}
	// While they are all open: a trivial run on a new connection answers
	// (it may be refused while the queue is full: then it tries again).
	answered := false
	for !answered && ctx.Err() == nil {
		o, err := testclient.V0(ctx, d.url("/api/v0/ws/execute"), websocket.MessageBinary, frame)
		switch {
		case err != nil:
			t.Fatalf("a run among 1,000 connections: %v", err)
		case o.Result != nil:
			answered = true
		case o.Code != websocket.StatusCode(protocol.CloseTryAgainLater):
			t.Fatalf("a run among 1,000 connections: close %d %q", o.Code, o.Reason)
		}
	}
	rssWith := rssKiB(t, serving)
	wg.Wait()
	if outcomes["result"]+outcomes["refused 1013"] != runConns {
		t.Errorf("the %d requests: %v; want each a result or close 1013", runConns, outcomes)
	}
	for i, open := range idleOpen {
		if open.Err() != nil {
			t.Errorf("idle connection %d ended during the runs", i+1)
			break
		}
	}
	t.Logf("%d requests with %d idle connections open: %v; daemon RSS %.1f MiB before, %.1f MiB with them",
		runConns, idleConns, outcomes, float64(before.rssKiB)/1024, float64(rssWith)/1024)
	for _, c := range idle {
		c.Close(websocket.StatusNormalClosure, "")
	}
	idle = nil
	for deadline := time.Now().Add(timescale.D(20 * time.Second)); ; time.Sleep(50 * time.Millisecond) {
		n := healthOf(t, d).fds
		if n <= before.fds {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the daemon holds %d descriptors (but its prepared sandboxes') after the connections closed, %d before", n, before.fds)
			break
		}
	}
}
