// Command atod is the daemon and its operator tools:
//
//	atod serve      serve the API (the daemon)
//	atod run        run one program through the sandbox and print the result
//	atod languages  list the runnable languages; verify them
//	atod rootfs     pull, import, build, list and remove language images
//	atod check      diagnose the host for the daemon
//	atod version    print the version and the commit built from
//
// main only wires packages together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/atod-project/atod/internal/version"
	"github.com/atod-project/atod/sandbox"
)

func main() {
	var cgroupView string
	if runsPrograms(os.Args[1:]) {
		// The commands that run programs: unprivileged, in a user and
		// mount namespace of their own; as root, in a mount namespace of
		// their own, on cgroup v2 seeing only their delegated cgroup.
		// Each returns in the re-executed process only.
		err := sandbox.EnterUserNS()
		if err == nil {
			cgroupView, err = sandbox.EnterOwnMountNamespace()
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "atod: %v\n", err)
			os.Exit(1)
		}
	}
	stopSignals := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if len(os.Args) > 1 && os.Args[1] == "rootfs" {
		// A lost terminal stops an install cleanly too (serve has its
		// own use for SIGHUP).
		stopSignals = append(stopSignals, syscall.SIGHUP)
	}
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	err := run(ctx, os.Args[1:], cgroupView)
	stop()
	var exit exitCode
	switch {
	case errors.As(err, &exit):
		os.Exit(int(exit))
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case err != nil:
		fmt.Fprintf(os.Stderr, "atod: %v\n", err)
		os.Exit(1)
	}
}

// runsPrograms reports whether args (without the program name) is a command
// that runs programs in the sandbox.
func runsPrograms(args []string) bool {
	switch {
	case len(args) == 0:
		return false
	case args[0] == "serve", args[0] == "run", args[0] == "check":
		return true
	default:
		return args[0] == "languages" && len(args) > 1 && args[1] == "verify"
	}
}

// exitCode ends the program with a status and no further message.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

const usage = `usage: atod COMMAND [flags]

commands:
  serve       serve the websocket API (the daemon)
  run         run one program through the sandbox and print the result
  languages   list the runnable languages (--all: every one; verify: run their hello-world cases)
  rootfs      pull, import, build, list and remove language images
  check       diagnose this host for atod serve; exits 1 if it could not serve
  version     print atod's version and the commit it was built from
  completion  print a shell completion script (bash, zsh, fish)
  man         write atod's man pages into a directory

Run "atod COMMAND -h" for a command's flags.
`

// cgroupView is the delegated cgroup EnterOwnMountNamespace made the root of
// the daemon's view ("" for none).
func run(ctx context.Context, args []string, cgroupView string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return exitCode(2)
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], cgroupView)
	case "run":
		return runOne(ctx, args[1:], cgroupView)
	case "languages":
		return languages(ctx, args[1:], cgroupView)
	case "rootfs":
		return rootfsCommand(ctx, args[1:])
	case "check":
		return check(ctx, args[1:], cgroupView)
	case "completion":
		return completion(args[1:], os.Stdout)
	case cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd:
		// The completion scripts ask the binary what comes next.
		root := commandTree()
		root.SetArgs(args)
		return root.Execute()
	case "man":
		return manPages(args[1:])
	case "version", "-version", "--version":
		fmt.Println(version.Get())
		return nil
	case "-h", "-help", "--help", "help":
		fmt.Fprint(os.Stdout, usage)
		return nil
	default:
		fmt.Fprintf(os.Stderr, "atod: unknown command %q\n\n%s", args[0], usage)
		return exitCode(2)
	}
}
