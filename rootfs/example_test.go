package rootfs_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/atod-project/atod/rootfs"
)

func ExampleDir_Lookup() {
	root, err := os.MkdirTemp("", "images")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	// What scripts/build-rootfs leaves behind, image.json last.
	os.MkdirAll(filepath.Join(root, "debian-12", "rootfs"), 0o755)
	os.WriteFile(filepath.Join(root, "debian-12", "image.json"),
		[]byte(`{"name": "debian-12", "env": ["LANG=C.UTF-8"], "recipe_hash": "…", "created": "2025-01-01T00:00:00Z"}`), 0o644)

	store, err := rootfs.OpenDir(root)
	if err != nil {
		log.Fatal(err)
	}
	img, err := store.Lookup("debian-12")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(img.Name, filepath.Base(img.Path), img.Env)

	_, err = store.Lookup("alpine")
	fmt.Println(errors.Is(err, rootfs.ErrNotFound))
	// Output:
	// debian-12 rootfs [LANG=C.UTF-8]
	// true
}
