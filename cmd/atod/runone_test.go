package main

import (
	"testing"

	"github.com/atod-project/atod/protocol"
)

func TestProgramExit(t *testing.T) {
	for _, c := range []struct {
		res  protocol.Result
		want int
	}{
		{protocol.Result{StatusType: "exited", StatusValue: 0}, 0},
		{protocol.Result{StatusType: "exited", StatusValue: 3}, 3},
		{protocol.Result{StatusType: "killed", StatusValue: 9, TimedOut: true}, 124},
		{protocol.Result{StatusType: "killed", StatusValue: 11}, 139},
		{protocol.Result{StatusType: "core_dumped", StatusValue: 6}, 134},
		{protocol.Result{StatusType: "unknown", StatusValue: -1}, 125},
	} {
		if got := programExit(c.res); got != c.want {
			t.Errorf("programExit(%s/%d, timed out %v) = %d, want %d", c.res.StatusType, c.res.StatusValue, c.res.TimedOut, got, c.want)
		}
	}
}
