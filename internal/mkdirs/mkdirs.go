// Package mkdirs creates directories with the modes asked for, whatever the
// umask: os.MkdirAll applies the umask to every directory it makes, so under
// umask 077 an image store's parents would end up 0700 and the
// unprivileged uids of runs could not reach the trees below them.
package mkdirs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// All creates dir and each of its missing parents with mode (permission
// bits only), chmodding each directory it creates so that the umask does
// not narrow it. Directories that exist are left as they are. It returns
// the directories it created, outermost first.
func All(dir string, mode fs.FileMode) (created []string, err error) {
	dir = filepath.Clean(dir)
	var missing []string
	for p := dir; ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err == nil {
			if !st.IsDir() {
				return nil, fmt.Errorf("creating %s: %s is not a directory", dir, p)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("creating %s: %w", dir, err)
		}
		missing = append(missing, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		p := missing[i]
		if err := os.Mkdir(p, mode.Perm()); err != nil {
			if errors.Is(err, fs.ErrExist) { // made by someone else meanwhile
				continue
			}
			return created, fmt.Errorf("creating %s: %w", p, err)
		}
		if err := os.Chmod(p, mode.Perm()); err != nil {
			return created, fmt.Errorf("setting the mode of %s: %w", p, err)
		}
		created = append(created, p)
	}
	return created, nil
}
