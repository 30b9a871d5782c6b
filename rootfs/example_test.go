package rootfs_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/atod-project/atod/rootfs"
	"github.com/atod-project/atod/rootfs/image"
)

func ExampleWriter_Install() {
	root, err := os.MkdirTemp("", "images")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	store, err := rootfs.OpenDir(root)
	if err != nil {
		log.Fatal(err)
	}

	// A writer fills a work directory with rootfs/ and installs it.
	w, err := store.TryLock()
	if err != nil {
		log.Fatal(err)
	}
	work, err := w.WorkDir("example")
	if err != nil {
		log.Fatal(err)
	}
	os.MkdirAll(filepath.Join(work, "rootfs", "bin"), 0o755)
	id := strings.Repeat("ab", 32)
	if _, err := w.Install(work, "tiny", id, rootfs.Meta{Env: []string{"LANG=C.UTF-8"}}); err != nil {
		log.Fatal(err)
	}
	w.Unlock()

	// Runs hold the image while they use it.
	lease, err := store.Acquire("tiny")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(lease.Name, lease.ID == id, filepath.Base(lease.Path), lease.Env)
	lease.Release()

	_, err = store.Lookup("alpine")
	fmt.Println(errors.Is(err, image.ErrNotFound))
	// Output:
	// tiny true rootfs [LANG=C.UTF-8]
	// true
}
