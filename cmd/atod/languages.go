package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"text/tabwriter"

	"github.com/atod-project/atod/rootfs"
	"github.com/atod-project/atod/runners"
)

// checkLanguages logs each language whose image is missing, with what to do
// about it, and returns how many languages can run.
func checkLanguages(log *slog.Logger, cat *runners.Catalogue, images rootfs.Store) int {
	n := 0
	for _, l := range cat.All() {
		if _, err := images.Lookup(l.Image); err != nil {
			log.Warn("language cannot run", "language", l.ID, "image", l.Image, "err", err)
			continue
		}
		n++
	}
	return n
}

func languages(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("atod languages", flag.ContinueOnError)
	cfg := defaultConfig()
	if _, err := cfg.parseFlags(fs, args); err != nil {
		return err
	}
	cat, images, err := cfg.stores()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tIMAGE\tSTATUS")
	missing := 0
	for _, l := range cat.All() {
		status := "runnable"
		if _, err := images.Lookup(l.Image); err != nil {
			missing++
			status = "image missing"
			if !errors.Is(err, rootfs.ErrNotFound) {
				status = "image unreadable: " + err.Error()
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", l.ID, l.Name, l.Image, status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if missing > 0 {
		fmt.Fprintf(os.Stderr, "\n%d language(s) cannot run: build their image with `scripts/build-rootfs IMAGE` (images live in %s)\n", missing, cfg.Images)
	}
	return nil
}
