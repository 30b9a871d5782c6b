package sandbox

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atod-project/atod/internal/atodtest"
	"github.com/atod-project/atod/internal/timescale"
)

// TestAsFileSystemIDs: what f makes belongs to the ids given, and no thread
// of the process keeps them after: the thread that took them is gone.
func TestAsFileSystemIDs(t *testing.T) {
	atodtest.NeedRoot(t)
	dir := t.TempDir()
	// The ids given have no privilege: they need a directory they may
	// reach and write.
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	for range 20 { // threads come and go: a leak would show on one of them
		if err := asFileSystemIDs(4242, 4243, func() error {
			return os.WriteFile(filepath.Join(dir, "f"), nil, 0o644)
		}); err != nil {
			t.Fatal(err)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join(dir, "f"), &st); err != nil || st.Uid != 4242 || st.Gid != 4243 {
			t.Fatalf("a file made as 4242:4243 is %d:%d (%v)", st.Uid, st.Gid, err)
		}
		os.Remove(filepath.Join(dir, "f"))
	}
	// The threads that took the ids exit after their goroutine: wait
	// for them, no longer than it takes.
	var kept []string
	for deadline := time.Now().Add(timescale.D(2 * time.Second)); ; time.Sleep(5 * time.Millisecond) {
		kept = threadsWithFileSystemIDs(t)
		if len(kept) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, k := range kept {
		t.Errorf("a thread keeps the run's file system ids: %s", k)
	}
}

// threadsWithFileSystemIDs lists this process's threads whose file system
// uid or gid is not root's, but for the main thread: Go cannot end it when a
// goroutine locked to it exits, so it parks it for good instead, never to
// run another goroutine.
func threadsWithFileSystemIDs(t *testing.T) []string {
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, task := range tasks {
		if filepath.Base(filepath.Dir(task)) == strconv.Itoa(os.Getpid()) {
			continue
		}
		b, err := os.ReadFile(task)
		if err != nil {
			continue // gone meanwhile
		}
		for line := range strings.Lines(string(b)) {
			if (strings.HasPrefix(line, "Uid:") || strings.HasPrefix(line, "Gid:")) && strings.Fields(line)[4] != "0" {
				kept = append(kept, task+": "+strings.TrimSpace(line))
			}
		}
	}
	return kept
}
