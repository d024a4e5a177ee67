package files

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/refusal"
)

// localTree is what Put will send, checked before a byte is written: its
// folders (relative, for the check against the container) and nothing a
// volume must not get.
type localTree struct {
	dirs []string
}

// scanLocal walks the local file or folder (never through a symbolic
// link) and refuses what a put must not write into a volume: a special
// file (a FIFO, a device, a socket), or a symbolic link that leaves the
// volume, whose root is root and into which the tree lands as dest. A link
// may go up only at its start ("../../a/b") and then down, so resolving it
// from where it lands cannot pass through another link upwards.
func scanLocal(local, dest, root string) (*localTree, error) {
	t := &localTree{}
	base := filepath.Clean(local)
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		in := path.Join(dest, filepath.ToSlash(rel))
		mode := d.Type()
		switch {
		case d.IsDir():
			t.dirs = append(t.dirs, in)
		case mode&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if reason := linkEscapes(in, target, root); reason != "" {
				return fmt.Errorf("%w: %s is a symbolic link to %s, which %s", ErrRefused, p, target, reason)
			}
		case !mode.IsRegular():
			return fmt.Errorf("%w: %s is %s, not a regular file, folder or link", ErrRefused, p, refusal.FileKind(mode))
		}
		return nil
	})
	return t, err
}

// linkEscapes says why a link at in (a container path) to target may not
// be written into the volume at root, or "" when it may.
func linkEscapes(in, target, root string) string {
	if path.IsAbs(target) || strings.HasPrefix(target, "\\") {
		return "is absolute (it would resolve in the container, outside the volume)"
	}
	parts := strings.Split(target, "/")
	down := false
	for _, part := range parts {
		if part == ".." && down {
			return "goes up after going down (it could climb out through another link)"
		}
		down = down || (part != ".." && part != "." && part != "")
	}
	if r := path.Join(path.Dir(in), target); r != root && !strings.HasPrefix(r, root+"/") {
		return "leads out of the volume " + root
	}
	return ""
}

// ErrRefused marks a copy refused before anything changed.
var ErrRefused = refusal.Err

// noLinkOnTheWay refuses a path in the container that is, or passes
// through, a symbolic link anywhere below the volume's root: the engine's
// archive API resolves links in the container's own file system, so a link
// in a volume (an absolute one, or one that climbs out) would make a put
// write, or a get read, outside the volume. Missing paths are fine.
func noLinkOnTheWay(ctx context.Context, api client.APIClient, id, root string, paths ...string) error {
	seen := map[string]bool{}
	for _, p := range paths {
		rel := strings.TrimPrefix(strings.TrimPrefix(p, root), "/")
		cur := root
		for _, part := range strings.Split(rel, "/") {
			if part == "" {
				continue
			}
			cur = path.Join(cur, part)
			if seen[cur] {
				continue
			}
			seen[cur] = true
			st, err := api.ContainerStatPath(ctx, id, client.ContainerStatPathOptions{Path: cur})
			if errdefs.IsNotFound(err) {
				break
			}
			if err != nil {
				return fmt.Errorf("check %s: %w", cur, err)
			}
			if st.Stat.Mode&os.ModeSymlink != 0 || st.Stat.LinkTarget != "" {
				return fmt.Errorf("%w: %s in the volume is a symbolic link (to %s); osgs never copies through one", ErrRefused, cur, st.Stat.LinkTarget)
			}
		}
	}
	return nil
}

// volumeRoot is the root of the volume path p lies in.
func volumeRoot(e *engine.Engine, service, p string) string {
	svc, err := e.Catalog.Get(service)
	if err != nil {
		return "/"
	}
	for _, v := range svc.Volumes {
		if root := path.Clean(v.Path); p == root || strings.HasPrefix(p, root+"/") {
			return root
		}
	}
	return "/"
}
