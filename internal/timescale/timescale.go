// Package timescale stretches the time bounds that tests assert on slow
// machines. ATOD_TIME_SCALE=N multiplies them by N; scripts/vmtest sets it
// in its guest, where QEMU's software emulation runs programs 7-100x slower
// than the host. It changes no behaviour of atod, only what tests accept.
package timescale

import (
	"os"
	"strconv"
	"time"
)

// Factor is $ATOD_TIME_SCALE, or 1 when it is unset, unparsable or below 1.
func Factor() float64 {
	f, err := strconv.ParseFloat(os.Getenv("ATOD_TIME_SCALE"), 64)
	if err != nil || f < 1 {
		return 1
	}
	return f
}

// D is d stretched by Factor.
func D(d time.Duration) time.Duration { return time.Duration(float64(d) * Factor()) }
