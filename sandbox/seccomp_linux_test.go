//go:build seccomp

package sandbox

import (
	"encoding/binary"
	"slices"
	"testing"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/atod-project/atod/sandbox/seccompprofile"
)

// TestSeccompNamesResolve: every call the profile names exists in its
// architecture's table as libseccomp knows it, but for the calls of
// kernels newer than that libseccomp (marked with Since), which then fall
// to the default error. A misspelt or foreign name would otherwise be
// skipped by libcontainer without a word.
func TestSeccompNamesResolve(t *testing.T) {
	for _, goarch := range seccompprofile.Arches() {
		p, err := seccompprofile.For(goarch)
		if err != nil {
			t.Fatal(err)
		}
		arch, err := libseccomp.GetArchFromString(p.Arch)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range seccompprofile.Groups() {
			if g.Arches != nil && !slices.Contains(g.Arches, goarch) {
				continue
			}
			for _, r := range g.Rules {
				for _, name := range r.Names {
					nr, err := libseccomp.GetSyscallFromNameByArch(name, arch)
					switch {
					case (err != nil || nr < 0) && g.Since != "":
						t.Logf("%s: %s (Linux %s) is unknown to this libseccomp: it will get ENOSYS", goarch, name, g.Since)
					case err != nil || nr < 0:
						t.Errorf("%s: group %q: %s is no system call of %s (%v)", goarch, g.Title, name, p.Arch, err)
					}
				}
			}
		}
	}
}

// seccompAuditArch is the AUDIT_ARCH_* value a filter sees for each
// architecture's native ABI.
var seccompAuditArch = map[string]uint32{"amd64": 0xc000003e, "arm64": 0xc00000b7}

const (
	auditArchI386 = 0x40000003
	x32SyscallBit = 0x40000000
	retAllow      = 0x7fff0000
	retErrno      = 0x00050000
)

// seccompFilter is the BPF program the sandbox loads for profile p
// (seccompProgram), for the simulator.
func seccompFilter(t *testing.T, p seccompprofile.Profile) []bpf.Instruction {
	t.Helper()
	raw, err := seccompProgram(p)
	if err != nil {
		t.Fatalf("%s: %v", p.Arch, err)
	}
	var prog []bpf.RawInstruction
	for len(raw) >= 8 { // struct sock_filter, little-endian on both architectures
		prog = append(prog, bpf.RawInstruction{
			Op: binary.LittleEndian.Uint16(raw), Jt: raw[2], Jf: raw[3], K: binary.LittleEndian.Uint32(raw[4:]),
		})
		raw = raw[8:]
	}
	insns, ok := bpf.Disassemble(prog)
	if !ok {
		t.Fatalf("%s: libseccomp's program has instructions the simulator does not know", p.Arch)
	}
	return insns
}

// runFilter is the filter's verdict on one system call: struct seccomp_data
// laid out as the kernel does on a little-endian machine, each 32-bit word
// stored big-endian because the simulator's loads are (the kernel loads
// native words).
func runFilter(t *testing.T, vm *bpf.VM, auditArch, nr uint32, args [6]uint64) uint32 {
	t.Helper()
	data := make([]byte, 64)
	binary.BigEndian.PutUint32(data[0:], nr)
	binary.BigEndian.PutUint32(data[4:], auditArch)
	for i, a := range args {
		binary.BigEndian.PutUint32(data[16+8*i:], uint32(a))
		binary.BigEndian.PutUint32(data[20+8*i:], uint32(a>>32))
	}
	ret, err := vm.Run(data)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(ret)
}

// TestSeccompFilterMatchesProfile builds each architecture's filter with
// libseccomp and runs it, in a BPF simulator, on calls chosen to probe
// every rule and its edges (upper halves of int arguments set, namespace
// flags among others, every socket family): the verdicts must be what the
// profile says (Decide). It is how the arm64 profile is checked on an
// amd64 host; the amd64 one is also loaded for real by the end-to-end
// tests.
func TestSeccompFilterMatchesProfile(t *testing.T) {
	for _, goarch := range seccompprofile.Arches() {
		t.Run(goarch, func(t *testing.T) {
			p, err := seccompprofile.For(goarch)
			if err != nil {
				t.Fatal(err)
			}
			vm, err := bpf.NewVM(seccompFilter(t, p))
			if err != nil {
				t.Fatal(err)
			}
			arch, _ := libseccomp.GetArchFromString(p.Arch)
			type call struct {
				name string
				args [6]uint64
			}
			var calls []call
			for _, r := range p.Rules {
				for _, name := range r.Names {
					var a [6]uint64
					for _, c := range r.Conds {
						a[c.Index] = c.Value
					}
					calls = append(calls, call{name, a})
					for _, c := range r.Conds { // the same with the upper half set
						b := a
						b[c.Index] |= 1 << 32
						calls = append(calls, call{name, b})
					}
				}
			}
			for family := uint64(0); family < 80; family++ {
				for _, hi := range []uint64{0, 1 << 32, 0xffff_ffff_0000_0000} {
					calls = append(calls, call{"socket", [6]uint64{family | hi, unix.SOCK_STREAM}})
					calls = append(calls, call{"socket", [6]uint64{family | hi, unix.SOCK_RAW, 15}})
				}
			}
			threads := uint64(unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD |
				unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID)
			for _, flags := range []uint64{uint64(unix.SIGCHLD), threads, threads | unix.CLONE_NEWUSER, unix.CLONE_NEWNET | uint64(unix.SIGCHLD),
				unix.CLONE_NEWNS | 1<<32, 1 << 33, unix.CLONE_VFORK | unix.CLONE_VM | uint64(unix.SIGCHLD), unix.CLONE_NEWPID | unix.CLONE_NEWCGROUP} {
				calls = append(calls, call{"clone", [6]uint64{flags}})
			}
			for _, v := range []uint64{0, 8, 0x20000, 0x40000, 0xffff_ffff, 0x1_0000_0000} {
				calls = append(calls, call{"personality", [6]uint64{v}})
			}
			for _, name := range []string{"get_mempolicy", "uselib", "memfd_secret", "io_uring_setup", "fork", "socketcall"} {
				calls = append(calls, call{name, [6]uint64{}})
			}
			checked := 0
			for _, c := range calls {
				nr, err := libseccomp.GetSyscallFromNameByArch(c.name, arch)
				if err != nil || nr < 0 {
					continue // not a call of this architecture (or unknown to this libseccomp)
				}
				want := uint32(retAllow)
				if e := p.Decide(c.name, c.args); e != seccompprofile.Allow {
					want = retErrno | uint32(e)
				}
				if got := runFilter(t, vm, seccompAuditArch[goarch], uint32(nr), c.args); got != want {
					t.Errorf("%s%x: filter says %#x, profile %#x", c.name, c.args, got, want)
				}
				checked++
			}
			t.Logf("%d calls agree", checked)

			// Another ABI's calls never pass: i386's int 0x80 (AUDIT_ARCH_I386)
			// and x32 (the x32 bit in the number).
			getpid, _ := libseccomp.GetSyscallFromNameByArch("getpid", arch)
			if got := runFilter(t, vm, auditArchI386, 20, [6]uint64{}); got == retAllow {
				t.Errorf("an i386 system call is allowed")
			}
			if goarch == "amd64" {
				if got := runFilter(t, vm, seccompAuditArch[goarch], uint32(getpid)|x32SyscallBit, [6]uint64{}); got == retAllow {
					t.Errorf("an x32 system call is allowed")
				}
			}
			if got := runFilter(t, vm, seccompAuditArch[goarch], uint32(getpid), [6]uint64{}); got != retAllow {
				t.Errorf("getpid: %#x, want allowed", got)
			}
		})
	}
}

// TestSeccompProfileUsesLinuxNumbers: the profile carries Linux's numbers
// itself (it builds on any OS); they must be the kernel headers'.
func TestSeccompProfileUsesLinuxNumbers(t *testing.T) {
	for _, c := range []struct {
		profile seccompprofile.Errno
		linux   unix.Errno
	}{{seccompprofile.EPERM, unix.EPERM}, {seccompprofile.ENOSYS, unix.ENOSYS}, {seccompprofile.EAFNOSUPPORT, unix.EAFNOSUPPORT}, {seccompprofile.EPROTONOSUPPORT, unix.EPROTONOSUPPORT}} {
		if uint16(c.profile) != uint16(c.linux) {
			t.Errorf("%v: profile has %d, Linux %d", c.linux, c.profile, uint16(c.linux))
		}
	}
	p, err := seccompprofile.For("amd64")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		family uint64
		want   seccompprofile.Errno
	}{{unix.AF_UNIX, seccompprofile.Allow}, {unix.AF_INET, seccompprofile.Allow}, {unix.AF_INET6, seccompprofile.Allow},
		{unix.AF_VSOCK, seccompprofile.EAFNOSUPPORT}, {unix.AF_ALG, seccompprofile.EAFNOSUPPORT}, {unix.AF_PACKET, seccompprofile.EAFNOSUPPORT}} {
		if got := p.Decide("socket", [6]uint64{c.family}); got != c.want {
			t.Errorf("socket(%d): %d, want %d", c.family, got, c.want)
		}
	}
	if got := p.Decide("socket", [6]uint64{unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE}); got != seccompprofile.Allow {
		t.Errorf("netlink route: %d", got)
	}
	if got := p.Decide("clone", [6]uint64{unix.CLONE_NEWUSER}); got != seccompprofile.EPERM {
		t.Errorf("clone(CLONE_NEWUSER): %d", got)
	}
}
