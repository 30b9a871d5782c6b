// Package seccompprofile is the system-call policy of a run, as data: the
// calls its processes may make, and the error every other call gets, for
// each architecture atod runs on. It is an allow-list. A call it does not
// name fails with ENOSYS, as on a kernel without it, so that programs and
// language runtimes take the fallback they already have for older kernels;
// calls that a run must not make but that exist everywhere fail with the
// error an unprivileged process gets (EPERM, EAFNOSUPPORT), which is the
// honest answer.
//
// The starting point is the field's reference profile, containerd's and
// Moby's default, without the calls it grants only to containers holding
// capabilities (a run holds none), and without what a run must not have
// even though that profile allows it: ptrace and the other ways into other
// processes, AIO and inotify (host-wide or per-user pools that no limit of
// a run bounds), io_uring, fanotify, handles, modify_ldt, most socket
// families, and every non-native ABI.
//
// Every argument condition is a masked equality, the one comparison that
// cannot be fooled by the upper half of a register: the kernel reads C int
// arguments as 32 bits, and a filter comparing all 64 let
// socket(AF_VSOCK | 1<<32, ...) through (issue 10). Conditions on int
// arguments mask the low 32 bits; conditions on flag words mask the flags.
//
// The package is pure data and builds on any OS; package sandbox compiles
// it to the BPF program every run's setup loads. Its numbers are Linux's ABI
// (errno values and address families are the same on amd64 and arm64), not
// the build host's.
package seccompprofile

import (
	"fmt"
	"slices"
)

// Errno is a Linux error number (asm-generic numbering, as on amd64 and
// arm64).
type Errno uint16

// The errors the profile returns.
const (
	EPERM           Errno = 1
	ENOSYS          Errno = 38
	EPROTONOSUPPORT Errno = 93
	EAFNOSUPPORT    Errno = 97
)

// Allow is the Errno of a rule that lets a call through.
const Allow Errno = 0

// Cond holds when (argument Index & Mask) == Value.
type Cond struct {
	Index       uint
	Mask, Value uint64
}

// Rule applies its action to the calls Names when all of Conds hold (no
// conditions: always). Errno is Allow or the error the calls fail with.
type Rule struct {
	Names []string
	Errno Errno
	Conds []Cond
}

// Group is a documented set of rules: what they are and why a run has (or
// lacks) them. Arches limits the group to some architectures (nil: all).
// Since names the kernel release that added its calls when that is newer
// than what every supported libseccomp knows: the sandbox skips a name
// libseccomp cannot resolve, so the call then gets the default error.
type Group struct {
	Title, Why string
	Arches     []string
	Since      string
	Rules      []Rule
}

// Profile is the policy for one architecture: libseccomp's name for it, the error of every call no rule names, and
// the rules. Only the native ABI is listed: a system call made through
// another (i386's int 0x80 and x32 on amd64, AArch32 on arm64) matches no
// architecture of the filter and is refused.
type Profile struct {
	Arch         string
	DefaultErrno Errno
	Rules        []Rule
}

// Arches are the architectures the profile is defined for, as Go names
// them (GOARCH), with libseccomp's name of their native ABI.
var archNames = map[string]string{"amd64": "amd64", "arm64": "arm64"}

// Arches lists the GOARCH values the profile is defined for.
func Arches() []string {
	var a []string
	for k := range archNames {
		a = append(a, k)
	}
	slices.Sort(a)
	return a
}

// For returns the profile of architecture goarch (a GOARCH value).
func For(goarch string) (Profile, error) {
	arch, ok := archNames[goarch]
	if !ok {
		return Profile{}, fmt.Errorf("no seccomp profile for %s: atod's system-call policy is defined for %v", goarch, Arches())
	}
	p := Profile{Arch: arch, DefaultErrno: ENOSYS}
	for _, g := range Groups() {
		if g.Arches != nil && !slices.Contains(g.Arches, goarch) {
			continue
		}
		p.Rules = append(p.Rules, g.Rules...)
	}
	return p, nil
}

// intIs holds when int argument i is v: the low 32 bits, which is what the
// kernel reads.
func intIs(i uint, v uint64) Cond { return Cond{Index: i, Mask: 0xffff_ffff, Value: v} }

// flagsClear holds when none of the bits of mask are set in argument i.
func flagsClear(i uint, mask uint64) Cond { return Cond{Index: i, Mask: mask, Value: 0} }

// flagSet holds when the bit flag is set in argument i.
func flagSet(i uint, flag uint64) Cond { return Cond{Index: i, Mask: flag, Value: flag} }

func allow(names ...string) Rule { return Rule{Names: names} }

func fail(errno Errno, names ...string) Rule { return Rule{Names: names, Errno: errno} }

// Decide is what the profile does with a call of name with these
// arguments: the Errno of the first rule that names the call and whose
// conditions hold, or DefaultErrno. It is the profile's meaning as data
// (the filter libseccomp builds from the rules must agree); rules are
// checked never to overlap, so the order does not matter.
func (p Profile) Decide(name string, args [6]uint64) Errno {
	for _, r := range p.Rules {
		if !slices.Contains(r.Names, name) {
			continue
		}
		holds := true
		for _, c := range r.Conds {
			if args[c.Index]&c.Mask != c.Value {
				holds = false
				break
			}
		}
		if holds {
			return r.Errno
		}
	}
	return p.DefaultErrno
}
