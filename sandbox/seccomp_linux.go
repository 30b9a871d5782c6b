package sandbox

import (
	"runtime"

	"github.com/opencontainers/runc/libcontainer/configs"

	"github.com/atod-project/atod/sandbox/seccompprofile"
)

// seccompConfig is the run's system-call policy (package seccompprofile:
// an allow-list, ENOSYS for every call it does not name) for the
// architecture atod was built for, as libcontainer's configuration.
func seccompConfig() (*configs.Seccomp, error) {
	p, err := seccompprofile.For(runtime.GOARCH)
	if err != nil {
		return nil, err
	}
	return libcontainerSeccomp(p), nil
}

func libcontainerSeccomp(p seccompprofile.Profile) *configs.Seccomp {
	errno := func(e seccompprofile.Errno) *uint { n := uint(e); return &n }
	c := &configs.Seccomp{
		DefaultAction:   configs.Errno,
		DefaultErrnoRet: errno(p.DefaultErrno),
		Architectures:   []string{p.Arch},
	}
	for _, r := range p.Rules {
		for _, name := range r.Names {
			s := &configs.Syscall{Name: name, Action: configs.Allow}
			if r.Errno != seccompprofile.Allow {
				s.Action, s.ErrnoRet = configs.Errno, errno(r.Errno)
			}
			// Conditions on different arguments are ANDed in one rule
			// (seccompprofile never puts two on one argument, which
			// libcontainer would split into rules of their own, ORed).
			for _, cond := range r.Conds {
				s.Args = append(s.Args, &configs.Arg{Index: cond.Index, Value: cond.Mask, ValueTwo: cond.Value, Op: configs.MaskEqualTo})
			}
			c.Syscalls = append(c.Syscalls, s)
		}
	}
	return c
}
