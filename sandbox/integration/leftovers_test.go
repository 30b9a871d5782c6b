package integration

import (
	"testing"

	"github.com/atod-project/atod/internal/leftovers"
)

// assertNoLeftovers checks that nothing of sb's runs remains: no process
// running as one of its uids (the slots' own and their namespaces' roots),
// no job cgroup, no mount, no state or job files.
func assertNoLeftovers(t testing.TB, sb *testSandbox) {
	t.Helper()
	found, err := leftovers.Find(leftovers.Scope{
		UIDLo: testUIDBase, UIDHi: testUIDBase + 2*sb.slots,
		CgroupName: sb.cgroup, StateDir: sb.state,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Errorf("left behind: %s", f)
	}
}
