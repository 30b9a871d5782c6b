package seccompprofile

import (
	"slices"
	"testing"
)

func profiles(t *testing.T) map[string]Profile {
	t.Helper()
	ps := map[string]Profile{}
	for _, a := range Arches() {
		p, err := For(a)
		if err != nil {
			t.Fatal(err)
		}
		ps[a] = p
	}
	if len(ps) < 2 {
		t.Fatalf("profiles for %v, want amd64 and arm64", Arches())
	}
	return ps
}

func TestForUnknownArch(t *testing.T) {
	if _, err := For("mips"); err == nil {
		t.Fatal("a profile for mips, which has none")
	}
}

// samples are calls that exercise every rule: each rule's own arguments,
// and the same with other bits set.
func samples(p Profile) map[string][][6]uint64 {
	s := map[string][][6]uint64{}
	for _, r := range p.Rules {
		for _, name := range r.Names {
			var a [6]uint64
			for _, c := range r.Conds {
				a[c.Index] = c.Value
			}
			s[name] = append(s[name], a)
		}
	}
	return s
}

// The kernel reads every argument the profile looks at as 32 bits (socket's
// family and protocol and personality's persona are ints, and clone takes
// its flags from the lower 32 bits), so what the upper halves hold must
// never change a verdict: a filter that compared them let
// socket(AF_VSOCK | 1<<32) through (issue 10).
func TestVerdictIgnoresUpperHalves(t *testing.T) {
	for arch, p := range profiles(t) {
		for name, list := range samples(p) {
			for _, args := range list {
				want := p.Decide(name, args)
				for i := range args {
					for _, hi := range []uint64{1 << 32, 0xffff_ffff_0000_0000, 0x8000_0000_0000_0000} {
						b := args
						b[i] |= hi
						if got := p.Decide(name, b); got != want {
							t.Errorf("%s: %s%x is %d, but %d with argument %d's upper half %#x", arch, name, args, want, got, i, hi>>32)
						}
					}
				}
			}
		}
	}
}

func TestConditionsAreWellFormed(t *testing.T) {
	for arch, p := range profiles(t) {
		for _, r := range p.Rules {
			var seen []uint
			for _, c := range r.Conds {
				if c.Index > 5 {
					t.Errorf("%s: %v: argument %d", arch, r.Names, c.Index)
				}
				// libcontainer splits conditions on one argument into
				// separate rules, ORed: the rule would mean something else.
				if slices.Contains(seen, c.Index) {
					t.Errorf("%s: %v: two conditions on argument %d", arch, r.Names, c.Index)
				}
				seen = append(seen, c.Index)
				if c.Value&^c.Mask != 0 {
					t.Errorf("%s: %v: value %#x has bits outside mask %#x: it can never hold", arch, r.Names, c.Value, c.Mask)
				}
			}
		}
	}
}

// overlap reports whether some arguments satisfy both a and b.
func overlap(a, b []Cond) bool {
	for _, ca := range a {
		for _, cb := range b {
			if ca.Index == cb.Index && (ca.Value^cb.Value)&ca.Mask&cb.Mask != 0 {
				return false
			}
		}
	}
	return true
}

// Rules of one call never overlap unless they agree, so the filter has one
// meaning whatever order libseccomp evaluates them in.
func TestRulesNeverConflict(t *testing.T) {
	for arch, p := range profiles(t) {
		for i, a := range p.Rules {
			for _, b := range p.Rules[i+1:] {
				for _, name := range a.Names {
					if slices.Contains(b.Names, name) && a.Errno != b.Errno && overlap(a.Conds, b.Conds) {
						t.Errorf("%s: %s: rules %v (%d) and %v (%d) overlap", arch, name, a.Conds, a.Errno, b.Conds, b.Errno)
					}
				}
			}
		}
	}
}

func TestPolicy(t *testing.T) {
	const (
		afInet, afVsock, afAlg, afPacket, afNetlink = 2, 40, 38, 17, 16
		netlinkAudit, netlinkUevent                 = 9, 15
		cloneNewUser, cloneNewNet, sigchld          = 0x10000000, 0x40000000, 17
		threadFlags                                 = 0x3d0f00
	)
	for arch, p := range profiles(t) {
		for _, c := range []struct {
			name string
			args [6]uint64
			want Errno
		}{
			{"read", [6]uint64{}, Allow},
			{"execve", [6]uint64{}, Allow},
			{"exit_group", [6]uint64{}, Allow},
			{"socket", [6]uint64{afInet, 1}, Allow},
			{"socket", [6]uint64{afNetlink, 3, 0}, Allow},
			{"socket", [6]uint64{afNetlink, 3, netlinkAudit}, EPROTONOSUPPORT},
			{"socket", [6]uint64{afNetlink, 3, netlinkUevent}, EPROTONOSUPPORT},
			{"socket", [6]uint64{afVsock, 1}, EAFNOSUPPORT},
			{"socket", [6]uint64{afVsock | 1<<32, 1}, EAFNOSUPPORT},
			{"socket", [6]uint64{afAlg | 1<<32, 5}, EAFNOSUPPORT},
			{"socket", [6]uint64{afPacket, 3}, EAFNOSUPPORT},
			{"socketpair", [6]uint64{afVsock, 1}, EAFNOSUPPORT},
			{"socket", [6]uint64{1000, 1}, ENOSYS},
			{"socket", [6]uint64{afInet, 2, 17}, Allow},
			{"socket", [6]uint64{afInet, 2, 1}, Allow},
			{"socket", [6]uint64{afInet | 1<<32, 1, 6 | 1<<32}, Allow},
			{"socket", [6]uint64{afInet, 1, 262}, ENOSYS},  // MPTCP
			{"socket", [6]uint64{afInet6, 2, 136}, ENOSYS}, // UDP-Lite
			{"socket", [6]uint64{afInet6, 5, 132}, ENOSYS}, // SCTP
			{"clone", [6]uint64{sigchld}, Allow},
			{"clone", [6]uint64{threadFlags}, Allow},
			{"clone", [6]uint64{threadFlags | cloneNewUser}, EPERM},
			{"clone", [6]uint64{cloneNewNet | sigchld | 1<<40}, EPERM},
			{"clone3", [6]uint64{}, ENOSYS},
			{"unshare", [6]uint64{}, EPERM},
			{"ptrace", [6]uint64{}, EPERM},
			{"bpf", [6]uint64{}, EPERM},
			{"mount", [6]uint64{}, EPERM},
			{"io_setup", [6]uint64{}, ENOSYS},
			{"io_uring_setup", [6]uint64{}, ENOSYS},
			{"inotify_init1", [6]uint64{}, ENOSYS},
			{"get_mempolicy", [6]uint64{}, ENOSYS},
			{"personality", [6]uint64{0xffff_ffff}, Allow},
			{"personality", [6]uint64{0x40000}, ENOSYS},
			{"no_such_call", [6]uint64{}, ENOSYS},
		} {
			if got := p.Decide(c.name, c.args); got != c.want {
				t.Errorf("%s: %s%x: %d, want %d", arch, c.name, c.args, got, c.want)
			}
		}
	}
}

// What the deny list this profile replaced refused is still refused.
func TestOldDenyListStaysRefused(t *testing.T) {
	old := []string{
		"ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "keyctl", "add_key", "request_key",
		"bpf", "perf_event_open", "userfaultfd", "lookup_dcookie", "fanotify_init", "io_uring_setup",
		"io_uring_enter", "io_uring_register", "kexec_load", "kexec_file_load", "init_module",
		"finit_module", "delete_module", "mount", "umount2", "pivot_root", "chroot", "unshare", "setns",
		"fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
		"open_by_handle_at", "name_to_handle_at", "reboot", "swapon", "swapoff", "acct", "settimeofday",
		"clock_settime", "syslog", "quotactl", "quotactl_fd", "vhangup", "iopl", "ioperm",
		"sethostname", "setdomainname", "uselib", "ustat", "sysfs", "nfsservctl", "io_setup",
		"io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents", "inotify_init",
		"inotify_init1", "clone3",
	}
	for arch, p := range profiles(t) {
		for _, name := range old {
			if p.Decide(name, [6]uint64{}) == Allow {
				t.Errorf("%s: %s is allowed", arch, name)
			}
		}
	}
}

func TestGroupsAreDocumented(t *testing.T) {
	names := map[string]string{}
	for _, g := range Groups() {
		if g.Title == "" || len(g.Why) < 10 {
			t.Errorf("group %q has no reason", g.Title)
		}
		for _, a := range g.Arches {
			if _, ok := archNames[a]; !ok {
				t.Errorf("group %q: unknown architecture %s", g.Title, a)
			}
		}
		for _, r := range g.Rules {
			for _, n := range r.Names {
				// A call is described in one group: two groups giving it
				// unconditional verdicts would say two things of it.
				if prev, ok := names[n]; ok && len(r.Conds) == 0 && prev != g.Title {
					t.Errorf("%s is in %q and in %q", n, prev, g.Title)
				}
				if len(r.Conds) == 0 {
					names[n] = g.Title
				}
			}
		}
	}
}
