// Package files streams files and folders between this host and a service's
// volumes (QGIS projects, fonts, SVG icons, ...) as tar streams through the
// engine's archive API: nothing is staged in a temporary file.
package files

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/files/untar"
	"github.com/osgs/osgs/internal/refusal"
)

// Options configure Put and Get.
type Options struct {
	Service    string
	VolumePath string // a path inside one of the service's volumes
	Local      string
	Yes        bool      // overwrite what exists
	Progress   io.Writer // receives the bytes transferred (may be nil)
}

// checkVolumePath makes sure p lies in one of the service's volumes, where
// files survive the container; it returns the cleaned path and the
// volume's catalog name.
func checkVolumePath(e *engine.Engine, service, p string) (string, string, error) {
	svc, err := e.Catalog.Get(service)
	if err != nil {
		return "", "", err
	}
	clean := path.Clean("/" + p)
	var roots []string
	for _, v := range svc.Volumes {
		root := path.Clean(v.Path)
		if clean == root || strings.HasPrefix(clean, root+"/") {
			return clean, v.Name, nil
		}
		roots = append(roots, root)
	}
	if len(roots) == 0 {
		return "", "", fmt.Errorf("%w: %s keeps no files in volumes", ErrRefused, service)
	}
	return "", "", fmt.Errorf("%w: %s is not inside a volume of %s (volumes: %s)", ErrRefused, clean, service, strings.Join(roots, ", "))
}

// target is the container of service that copies go through.
func target(ctx context.Context, e *engine.Engine, service string) (string, error) {
	if err := e.Connect(ctx); err != nil {
		return "", err
	}
	return e.ContainerOf(ctx, service)
}

// Put copies the local file or folder into the folder VolumePath, keeping
// its name; files get the container user's ownership. On a swarm, a
// mirrored volume's other copies then get the change.
func Put(ctx context.Context, e *engine.Engine, o Options) error {
	dir, vol, err := checkVolumePath(e, o.Service, o.VolumePath)
	if err != nil {
		return err
	}
	info, err := os.Lstat(o.Local)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRefused, err)
	}
	id, err := target(ctx, e, o.Service)
	if err != nil {
		return err
	}
	st, err := e.DockerFor(id).ContainerStatPath(ctx, id, client.ContainerStatPathOptions{Path: dir})
	if err != nil || !st.Stat.Mode.IsDir() {
		return fmt.Errorf("%w: %s:%s is not a folder", ErrRefused, o.Service, dir)
	}
	name := filepath.Base(filepath.Clean(o.Local))
	dest := path.Join(dir, name)
	root := volumeRoot(e, o.Service, dir)
	tree, err := scanLocal(o.Local, dest, root)
	if err != nil {
		return err
	}
	if err := noLinkOnTheWay(ctx, e.DockerFor(id), id, root, append([]string{dest}, tree.dirs...)...); err != nil {
		return err
	}
	if _, err := e.DockerFor(id).ContainerStatPath(ctx, id, client.ContainerStatPathOptions{Path: dest}); err == nil && !o.Yes {
		return &engine.ConfirmError{What: fmt.Sprintf("overwrite %s:%s", o.Service, dest)}
	} else if err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	owner, err := containerUser(ctx, e, id)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(pw, o.Local, name, info, owner, o.Progress)) }()
	defer pr.Close()
	_, err = e.DockerFor(id).CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: dir, Content: pr})
	if err != nil {
		return fmt.Errorf("put %s into %s:%s: %w", o.Local, o.Service, dir, err)
	}
	return e.Mirror(ctx, o.Service, vol)
}

// ids are numeric owner ids.
type ids struct{ uid, gid int }

// containerUser asks the container which user its processes run as, so that
// put files belong to the service rather than to whoever runs osgs.
func containerUser(ctx context.Context, e *engine.Engine, id string) (ids, error) {
	var out strings.Builder
	if err := e.Exec(ctx, id, []string{"sh", "-c", "id -u; id -g"}, engine.ExecOptions{Stdout: &out}); err != nil {
		return ids{}, fmt.Errorf("find the service's user: %w", err)
	}
	var u ids
	if _, err := fmt.Sscan(out.String(), &u.uid, &u.gid); err != nil {
		return ids{}, fmt.Errorf("find the service's user: unexpected %q", out.String())
	}
	return u, nil
}

// writeTar streams root (a file or folder) as a tar whose entries start with
// name and belong to owner.
func writeTar(w io.Writer, root, name string, info fs.FileInfo, owner ids, progress io.Writer) error {
	tw := tar.NewWriter(w)
	add := func(p, rel string, fi fs.FileInfo) error {
		link := ""
		if t := fi.Mode().Type(); t&^(fs.ModeDir|fs.ModeSymlink) != 0 {
			return fmt.Errorf("%w: %s became %s while it was sent", ErrRefused, p, refusal.FileKind(t))
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			var err error
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = owner.uid, owner.gid, "", ""
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		var dst io.Writer = tw
		if progress != nil {
			dst = io.MultiWriter(tw, progress)
		}
		_, err = io.Copy(dst, f)
		return err
	}
	if !info.IsDir() {
		if err := add(root, name, info); err != nil {
			return err
		}
		return tw.Close()
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		return add(p, filepath.Join(name, rel), fi)
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// Get copies the file or folder VolumePath into the local folder Local,
// keeping its name, owners where permitted, modes, symlinks and times.
func Get(ctx context.Context, e *engine.Engine, o Options) error {
	src, _, err := checkVolumePath(e, o.Service, o.VolumePath)
	if err != nil {
		return err
	}
	if info, err := os.Stat(o.Local); err != nil || !info.IsDir() {
		return fmt.Errorf("%w: %s is not a local folder", ErrRefused, o.Local)
	}
	id, err := target(ctx, e, o.Service)
	if err != nil {
		return err
	}
	if err := noLinkOnTheWay(ctx, e.DockerFor(id), id, volumeRoot(e, o.Service, src), src); err != nil {
		return err
	}
	if _, err := os.Lstat(filepath.Join(o.Local, path.Base(src))); err == nil && !o.Yes {
		return &engine.ConfirmError{What: "overwrite " + filepath.Join(o.Local, path.Base(src))}
	}
	res, err := e.DockerFor(id).CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: src})
	if err != nil {
		return fmt.Errorf("get %s:%s: %w", o.Service, src, err)
	}
	defer res.Content.Close()
	return untar.Extract(res.Content, o.Local, o.Progress)
}
