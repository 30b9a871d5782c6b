package sandbox

import (
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
