package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// The shell completion and the man pages are cobra's (spf13/cobra, the CLI
// library most Go tools use, kept up by its maintainers: bash, zsh and fish
// completion, man pages through cobra/doc). cobra is given the very flag
// definitions the commands parse with (config.defineFlags and each
// command's own, such as runFlags), through pflag's AddGoFlagSet. The
// commands still parse with the standard flag package: it keeps the
// configuration file's values as the flags' defaults, and flags anywhere
// among the operands, which the commands' tests hold.

// cliCommand describes one command of atod for commandTree.
type cliCommand struct {
	use, short string
	config     flagGroup              // the configuration's flags it takes (0: none)
	own        func(fs *flag.FlagSet) // its own flags, if any
	sub        []cliCommand
}

// cliCommands are atod's commands, as main's run dispatches them.
func cliCommands() []cliCommand {
	sandboxCmd := storeFlags | sandboxFlags
	return []cliCommand{
		{use: "serve", short: "serve the API (the daemon)", config: sandboxCmd | serverFlags},
		{use: "run [flags] FILE [-- ARGS...]", short: "run one program through the sandbox, as a command line tool", config: sandboxCmd,
			own: func(fs *flag.FlagSet) { runFlags(fs) }},
		{use: "languages", short: "list the languages that can run here", config: storeFlags,
			own: func(fs *flag.FlagSet) { languagesFlags(fs) },
			sub: []cliCommand{{use: "verify [flags] [ID...]", short: "run the languages' hello-world cases through the sandbox", config: sandboxCmd,
				own: func(fs *flag.FlagSet) { verifyFlags(fs) }}}},
		{use: "rootfs", short: "pull, import, build, list and remove language images", sub: []cliCommand{
			{use: "pull [flags] REF", short: "pull an image from a registry", config: storeFlags, own: func(fs *flag.FlagSet) { pullFlags(fs) }},
			{use: "import --name NAME [flags] FILE|DIR", short: "import a docker save tarball or an OCI image layout", config: storeFlags, own: func(fs *flag.FlagSet) { importFlags(fs) }},
			{use: "build [flags] RECIPE...", short: "build Debian images from atod's recipes", config: storeFlags, own: func(fs *flag.FlagSet) { buildFlags(fs) }},
			{use: "list", short: "list the images", config: storeFlags},
			{use: "rm NAME...", short: "remove images", config: storeFlags},
			{use: "gc", short: "remove the image trees no name points at and no run uses", config: storeFlags},
			{use: "owner [USER[:GROUP]]", short: "print or set the user the store keeps its images for", config: storeFlags},
		}},
		{use: "check", short: "diagnose this host for atod serve", config: sandboxCmd},
		{use: "version", short: "print atod's version and the commit it was built from"},
		{use: "completion bash|zsh|fish", short: "print a shell completion script"},
		{use: "man DIR", short: "write atod's man pages into DIR"},
	}
}

// commandTree is atod's commands as cobra describes them.
func commandTree() *cobra.Command {
	root := &cobra.Command{
		Use:   "atod",
		Short: "run untrusted programs in many languages in a Linux sandbox",
		Long: "atod serves the Attempt This Online API (v0 and v1 websockets, an HTTP API) and runs each\n" +
			"program in a sandbox of its own: namespaces, cgroups, seccomp, a fresh root filesystem.",
		DisableAutoGenTag: true, // the pages change only with the commands
	}
	root.CompletionOptions.DisableDefaultCmd = true // atod's own completion command
	for _, c := range cliCommands() {
		root.AddCommand(c.cobra())
	}
	return root
}

func (c cliCommand) cobra() *cobra.Command {
	cc := &cobra.Command{Use: c.use, Short: c.short, Run: func(*cobra.Command, []string) {}}
	fs := flag.NewFlagSet(c.use, flag.ContinueOnError)
	if c.config != 0 {
		cfg := defaultConfig()
		cfg.defineFlags(fs, c.config)
	}
	if c.own != nil {
		c.own(fs)
	}
	cc.Flags().AddGoFlagSet(fs)
	for _, s := range c.sub {
		cc.AddCommand(s.cobra())
	}
	return cc
}

// completion is `atod completion SHELL`: the script that completes atod's
// commands and flags in that shell.
func completion(args []string, w io.Writer) error {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: atod completion bash|zsh|fish")
		return exitCode(2)
	}
	root := commandTree()
	switch args[0] {
	case "bash":
		return root.GenBashCompletionV2(w, true)
	case "zsh":
		return root.GenZshCompletion(w)
	case "fish":
		return root.GenFishCompletion(w, true)
	default:
		return fmt.Errorf("no completion for %q: bash, zsh or fish", args[0])
	}
}

// manPages is `atod man DIR`: a page for atod and each of its commands
// (atod.1, atod-serve.1, ...) in DIR.
func manPages(args []string) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(os.Stderr, "usage: atod man DIR")
		return exitCode(2)
	}
	if err := os.MkdirAll(args[0], 0o755); err != nil {
		return err
	}
	header := &doc.GenManHeader{Title: "ATOD", Section: "1", Source: "atod", Manual: "atod manual"}
	if err := doc.GenManTree(commandTree(), header, args[0]); err != nil {
		return fmt.Errorf("writing the man pages: %w", err)
	}
	return nil
}
