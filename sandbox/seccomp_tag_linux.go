//go:build seccomp

package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"github.com/atod-project/atod/sandbox/seccompprofile"
)

// seccompProgram compiles profile p with libseccomp: a filter for p's
// architecture alone (a call through another ABI matches none and is
// killed: libseccomp's default for a foreign architecture), whose default
// is p's error, with a rule for each call, its conditions ANDed. A rule
// that does what the default does is left out, and a name this libseccomp
// cannot resolve is skipped, so that call gets the default error
// (TestSeccompNamesResolve lists them). The result is the kernel's BPF
// program: struct sock_filter after struct sock_filter.
func seccompProgram(p seccompprofile.Profile) (_ []byte, err error) {
	arch, err := libseccomp.GetArchFromString(p.Arch)
	if err != nil {
		return nil, fmt.Errorf("architecture %s: %w", p.Arch, err)
	}
	def := libseccomp.ActErrno.SetReturnCode(int16(p.DefaultErrno))
	f, err := libseccomp.NewFilter(def)
	if err != nil {
		return nil, err
	}
	defer f.Release()
	if err := f.AddArch(arch); err != nil {
		return nil, err
	}
	if native, _ := libseccomp.GetNativeArch(); native != arch {
		if err := f.RemoveArch(native); err != nil {
			return nil, err
		}
	}
	// A binary tree of the calls instead of a list: a few comparisons per
	// call instead of hundreds.
	if err := f.SetOptimize(2); err != nil {
		return nil, err
	}
	// The setup sets no_new_privs itself.
	if err := f.SetNoNewPrivsBit(false); err != nil {
		return nil, err
	}
	for _, r := range p.Rules {
		act := libseccomp.ActAllow
		if r.Errno != seccompprofile.Allow {
			act = libseccomp.ActErrno.SetReturnCode(int16(r.Errno))
		}
		if act == def {
			continue
		}
		var conds []libseccomp.ScmpCondition
		for _, c := range r.Conds {
			cond, err := libseccomp.MakeCondition(c.Index, libseccomp.CompareMaskedEqual, c.Mask, c.Value)
			if err != nil {
				return nil, err
			}
			conds = append(conds, cond)
		}
		for _, name := range r.Names {
			// The native number; libseccomp translates it by name for
			// the filter's architecture.
			nr, err := libseccomp.GetSyscallFromName(name)
			if err != nil {
				continue
			}
			if len(conds) == 0 {
				err = f.AddRule(nr, act)
			} else {
				err = f.AddRuleConditional(nr, act, conds)
			}
			if err != nil {
				return nil, fmt.Errorf("adding %s: %w", name, err)
			}
		}
	}
	// libseccomp writes the program to a file (ExportBPFMem needs a
	// libseccomp newer than Debian 12's).
	fd, err := unix.MemfdCreate("atod-seccomp-export", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	tmp := os.NewFile(uintptr(fd), "atod-seccomp-export")
	defer tmp.Close()
	if err := f.ExportBPF(tmp); err != nil {
		return nil, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	prog, err := io.ReadAll(tmp)
	if err == nil && (len(prog) == 0 || len(prog)%8 != 0) {
		err = errors.New("libseccomp exported no BPF program")
	}
	return prog, err
}
