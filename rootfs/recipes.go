package rootfs

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"

	"github.com/atod-project/atod/rootfs/image"
)

// recipeFS holds the Debian recipes `atod rootfs build` builds from, so an
// installed binary can build the images its catalogue names without the
// repository at hand.
//
//go:embed recipes
var recipeFS embed.FS

// Recipe returns the recipe file that builds image name, if atod has one.
func Recipe(name string) ([]byte, bool) {
	if image.CheckName(name) != nil {
		return nil, false
	}
	data, err := fs.ReadFile(recipeFS, "recipes/"+name)
	return data, err == nil
}

// Recipes lists the names of the images atod can build from a recipe.
func Recipes() []string {
	entries, _ := fs.ReadDir(recipeFS, "recipes") // embedded: cannot fail
	var names []string
	for _, e := range entries {
		if !e.IsDir() && image.CheckName(e.Name()) == nil {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names
}

// FetchHint is the command that installs image name into the store: a build
// when atod has its recipe, a pull or an import otherwise.
func FetchHint(name string) string {
	if _, ok := Recipe(name); ok {
		return fmt.Sprintf("atod rootfs build %s", name)
	}
	return fmt.Sprintf("atod rootfs pull REFERENCE --name %s (or atod rootfs import FILE --name %s)", name, name)
}
