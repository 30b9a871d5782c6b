package sandbox

import (
	"fmt"
	"strings"
	"testing"
)

func TestOpenFilesLimitFitsTheFileTable(t *testing.T) {
	tests := []struct {
		name     string
		slots    int
		pids     int64
		fileMax  uint64
		want     uint64
		wantFits bool
	}{
		{"a large table: the most", 4, 256, 1 << 40, maxOpenFiles, true},
		{"this machine's table, 8 slots", 8, 256, 2466160, 2466160 / 2 / (8 * 256), true},
		{"a table that cannot hold the least", 8, 256, 100000, minOpenFiles, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, fits, err := openFilesLimit(false, tt.slots, tt.pids, tt.fileMax)
			if err != nil || got != tt.want || fits != tt.wantFits {
				t.Errorf("openFilesLimit(%d slots, %d pids, file-max %d) = %d, %v, %v; want %d, %v",
					tt.slots, tt.pids, tt.fileMax, got, fits, err, tt.want, tt.wantFits)
			}
			if tt.wantFits && uint64(tt.slots)*uint64(tt.pids)*got > tt.fileMax/2 {
				t.Errorf("%d slots x %d tasks x %d files is more than half of %d", tt.slots, tt.pids, got, tt.fileMax)
			}
		})
	}
}

func TestMqueueSysctlsFitTheShare(t *testing.T) {
	for _, c := range []struct {
		share uint64
		want  string
	}{{819200 / 8, "8192"}, {819200 / 16, "4096"}, {819200 / 32, "2048"}, {819200 / 128, "256"}, {100, "128"}} {
		if got := mqueueSysctls(c.share)["fs.mqueue.msgsize_default"]; got != c.want {
			t.Errorf("share %d: msgsize_default %s, want %s", c.share, got, c.want)
		}
	}
}

// Rootless runs share the daemon's user's epoll watches and pipe pages:
// the daemon says which of them one run could take whole, and what to set.
func TestRootlessCountWarnings(t *testing.T) {
	const mib = 1 << 20
	need := uint64(2 * 2 * 512 * mib / epollWatchBytes) // 2 slots of 512 MiB
	for _, c := range []struct {
		name          string
		slots         int
		memory        int64
		watches, hard uint64
		want          []string
	}{
		{"room for every run twice", 2, 512 * mib, need, 0, nil},
		{"one watch short", 2, 512 * mib, need - 1, 0, []string{fmt.Sprintf("fs.epoll.max_user_watches=%d", need)}},
		{"a hard pipe limit", 1, 256 * mib, 1 << 30, 16384, []string{"fs.pipe-user-pages-hard=0"}},
		{"both", 8, 512 * mib, 65536, 1, []string{"fs.epoll.max_user_watches=67108864", "fs.pipe-user-pages-hard=0"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := rootlessCountWarnings(c.slots, c.memory, c.watches, c.hard)
			if len(got) != len(c.want) {
				t.Fatalf("warnings %q, want ones saying %q", got, c.want)
			}
			for i, w := range c.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %q does not say %q", got[i], w)
				}
			}
		})
	}
}

// A cgroup name is one directory below the daemon's own cgroup: anything
// else would put the job cgroups, and what a starting daemon kills as a
// dead one's, outside it.
func TestCgroupNameIsOneDirectory(t *testing.T) {
	for _, name := range []string{"..", ".", "../x", "a/b", "/abs", "x\x00", "a\nb", "a b"} {
		_, err := New(Options{CgroupName: name})
		if err == nil || !strings.Contains(err.Error(), "want one directory name") {
			t.Errorf("cgroup name %q: %v", name, err)
		}
	}
}
