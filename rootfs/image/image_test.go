package image

import (
	"errors"
	"strings"
	"testing"
)

// TestLeaseReleasesOnce: a store's release runs on the first Release only,
// and leases that hold nothing (nil, or made by a fake store) release
// harmlessly.
func TestLeaseReleasesOnce(t *testing.T) {
	calls := 0
	l := NewLease(Image{Name: "img"}, func() { calls++ })
	l.Release()
	l.Release()
	if calls != 1 {
		t.Errorf("release ran %d times, want once", calls)
	}
	var none *Lease
	none.Release()
	(&Lease{Image: Image{Name: "fake"}}).Release()
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"debian-12", "python-3.12", "a", "0_x", strings.Repeat("a", maxNameLen)} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", ".lock", "-x", "Debian", "a/b", "a b", strings.Repeat("a", maxNameLen+1)} {
		if err := CheckName(bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("CheckName(%q) = %v, want ErrInvalidName", bad, err)
		}
	}
}
