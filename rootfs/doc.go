// Package rootfs is atod's image store: the root filesystems runs execute in,
// each a plain directory tree on the host, found by name.
//
// A Dir store keeps image NAME at
//
//	<root>/NAME/rootfs/      the tree itself, owned by host root, readable by others,
//	                         with empty mountpoints /ATO, /proc, /dev and /tmp
//	<root>/NAME/image.json   {"name": NAME, "env": ["PATH=...", ...],
//	                          "recipe_hash": ..., "created": RFC 3339 time}
//
// Writers (scripts/build-rootfs today) build an image under <root>/.tmp-*,
// write image.json last and rename the directory into place, so a reader
// never sees half an image: a directory without image.json is an unfinished
// build and is not found. Names are restricted to [a-z0-9][a-z0-9._-]*, so
// that a name can never leave the root, and work files (dot names) are never
// taken for images.
//
// The package only reads the store. It leaves to callers mounting the tree
// (the sandbox mounts it read-only) and whether a language's image is the
// right one for it (the runners catalogue names it).
package rootfs
