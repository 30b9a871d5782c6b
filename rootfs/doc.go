// Package rootfs is atod's image store: the root filesystems runs execute in,
// each a plain directory tree on the host, found by name; the leases that
// keep a tree while runs use it; the writer lock; and GC. The ways trees get
// there live beside it, each installing through a Writer: package
// rootfs/install pulls from a registry or imports a docker save tarball or
// an OCI image layout, package rootfs/debian builds from one of atod's
// Debian recipes (kept here, in recipes/, so that the store can say how to
// get an image it lacks), and both unpack with package rootfs/layer, the
// hardened extractor. What a run gets of an image (Image, Lease,
// ErrNotFound) is package rootfs/image's, pure data the server can use
// without the store.
//
// A Dir store keeps, under its root:
//
//	trees/ID/rootfs/       a tree: the image's root files are host root's (or
//	                       the store's Owner's), its other owners shifted
//	                       (layer.ImageIDShift); mountpoints /ATO, /proc, /dev, /tmp
//	trees/ID/image.json    {"id", "source", "digest", "env", "working_dir",
//	                        "user", "uid", "gid", "recipe_hash", "versions",
//	                        "created", "size_bytes"}
//	trees/ID/lease         flocked by runs (shared) and GC (exclusive); root's alone
//	names/NAME             a symlink to ../trees/ID: the image called NAME
//	.work/                 installs in progress; a writer removes what it finds
//	.lock                  the writer lock
//	owner                  {"uid", "gid"}: the user the images are kept for
//	                       (Owner); absent: root
//
// A tree's ID is the image's config digest for pulled and imported images, so
// one image installed under two names, or pulled twice, is one tree.
//
// Writers (Writer: pull, import, build, rm, gc) take the lock, one at a
// time. An install unpacks into .work/, syncs, renames the finished tree into
// trees/ and then points the name at it with an atomic rename, so a reader
// sees the old image or the new one, never half of one; an interrupted
// install leaves only .work/, which the next writer (or the daemon's start)
// removes. Readers never take the lock. A run holds its tree with a Lease: a
// shared flock on the tree's lease file, which GC must take exclusively
// before it removes a tree no name points at. So replacing or removing an
// image while runs use it is safe: they finish on the old tree, new runs get
// the new one, and the old tree goes once the last run releases it.
//
// Layers are untrusted archives; see package rootfs/layer for what is
// refused. Names are restricted to [a-z0-9][a-z0-9._-]*, so that a name can
// never leave the store, and work files (dot names) are never taken for
// images.
//
// The package leaves to callers mounting a tree (the sandbox mounts it
// read-only) and whether a language's image is the right one for it (the
// runners catalogue names it).
package rootfs
