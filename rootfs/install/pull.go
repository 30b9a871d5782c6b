package install

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/atod-project/atod/rootfs"
	"github.com/atod-project/atod/rootfs/image"
)

// Pull installs the image ref names from its registry as image name, with
// the store's writer w. Registry
// credentials come from the Docker config (~/.docker/config.json, or
// $DOCKER_CONFIG) when there is one; the registry's own errors are reported
// with what to do about them.
func Pull(ctx context.Context, w *rootfs.Writer, ref, name string, opts Options) (rootfs.Installed, error) {
	r, err := parseRef(ref, opts.Insecure)
	if err != nil {
		return rootfs.Installed{}, err
	}
	img, err := remote.Image(r,
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithPlatform(opts.platform()))
	if err != nil {
		return rootfs.Installed{}, fmt.Errorf("pulling %s: %w", ref, registryHint(err))
	}
	inst, err := installImage(ctx, w, name, origin{image: img, source: "pull " + r.Name(), downloaded: true}, opts)
	if err != nil {
		return inst, fmt.Errorf("pulling %s: %w", ref, registryHint(err))
	}
	return inst, nil
}

// parseRef parses an image reference strictly: the registry must be named
// (no Docker Hub default), since atod has no default registry.
func parseRef(ref string, insecure bool) (name.Reference, error) {
	nameOpts := []name.Option{name.StrictValidation}
	if insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nameOpts...)
	if err != nil {
		// Try again leniently only to tell a missing registry apart.
		if _, lerr := name.ParseReference(ref); lerr == nil {
			return nil, fmt.Errorf("image reference %q names no registry or tag: write it in full, REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST", ref)
		}
		return nil, fmt.Errorf("image reference %q: %w", ref, err)
	}
	if first, _, _ := strings.Cut(ref, "/"); !strings.ContainsAny(first, ".:") && first != "localhost" {
		return nil, fmt.Errorf("image reference %q names no registry: write it as REGISTRY/REPOSITORY:TAG", ref)
	}
	return r, nil
}

// registryHint explains the registry errors operators meet.
func registryHint(err error) error {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return err
	}
	switch {
	case terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden:
		return fmt.Errorf("the registry refused access (%w); log in with `docker login REGISTRY` or put credentials in $DOCKER_CONFIG/config.json", err)
	case terr.StatusCode == http.StatusNotFound || slices.ContainsFunc(terr.Errors, func(d transport.Diagnostic) bool {
		return d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode
	}):
		return fmt.Errorf("unknown image: the registry has no such repository or tag (%w)", err)
	case terr.StatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("the registry is rate-limiting this host (%w); try again later", err)
	}
	return err
}

// NameFromRef derives an image name from a reference: the repository's last
// element, and the tag unless it is "latest" (REGISTRY/lib/python:3.12 is
// python-3.12).
func NameFromRef(ref string) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w", ref, err)
	}
	n := path.Base(r.Context().RepositoryStr())
	if t, ok := r.(name.Tag); ok && t.TagStr() != "latest" {
		n += "-" + t.TagStr()
	}
	n = strings.ToLower(n)
	if err := image.CheckName(n); err != nil {
		return "", fmt.Errorf("cannot derive an image name from %q (%w); give one with --name", ref, err)
	}
	return n, nil
}
