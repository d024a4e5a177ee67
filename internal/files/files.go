// Package files streams files and folders between this host and a service's
// volumes (QGIS projects, fonts, SVG icons, ...) as tar streams through the
// engine's archive API: nothing is staged in a temporary file.
package files

import (
	"archive/tar"
	"context"
	"errors"
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
		return "", "", fmt.Errorf("%s keeps no files in volumes", service)
	}
	return "", "", fmt.Errorf("%s is not inside a volume of %s (volumes: %s)", clean, service, strings.Join(roots, ", "))
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
		return err
	}
	id, err := target(ctx, e, o.Service)
	if err != nil {
		return err
	}
	st, err := e.DockerFor(id).ContainerStatPath(ctx, id, client.ContainerStatPathOptions{Path: dir})
	if err != nil || !st.Stat.Mode.IsDir() {
		return fmt.Errorf("%s:%s is not a folder", o.Service, dir)
	}
	name := filepath.Base(filepath.Clean(o.Local))
	dest := path.Join(dir, name)
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
		return fmt.Errorf("%s is not a local folder", o.Local)
	}
	id, err := target(ctx, e, o.Service)
	if err != nil {
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
	return extract(res.Content, o.Local, o.Progress)
}

// extract unpacks a tar under dir, refusing entries that would land outside
// it: a name with .., an absolute name, a path through a symlink, a folder
// where a symlink is, or a hard link to something outside. Setuid and setgid
// bits of files are dropped: files:get must never make a set-id program on
// the host.
func extract(r io.Reader, dir string, progress io.Writer) error {
	tr := tar.NewReader(r)
	type dirTime struct {
		path string
		hdr  *tar.Header
	}
	var dirs []dirTime
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		name, err := inside(dir, hdr.Name)
		if err != nil {
			return err
		}
		p := filepath.Join(dir, name)
		if hdr.Typeflag != tar.TypeDir {
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				return err
			}
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if fi, err := os.Lstat(p); err == nil && !fi.IsDir() {
				if fi.Mode()&fs.ModeSymlink != 0 {
					return fmt.Errorf("archive entry %q is a folder where a symlink is", hdr.Name)
				}
				os.Remove(p)
			}
			if err := os.MkdirAll(p, 0o700); err != nil {
				return err
			}
			dirs = append(dirs, dirTime{p, hdr})
		case tar.TypeReg:
			os.Remove(p) // a symlink (or file) at the final component is replaced, never followed
			f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			var dst io.Writer = f
			if progress != nil {
				dst = io.MultiWriter(f, progress)
			}
			if _, err := io.Copy(dst, tr); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			finish(p, hdr, hdr.FileInfo().Mode().Perm())
		case tar.TypeLink:
			// A hard link to an entry already extracted, inside dir.
			target, err := inside(dir, hdr.Linkname)
			if err != nil {
				return err
			}
			src := filepath.Join(dir, target)
			if fi, err := os.Lstat(src); err != nil || !fi.Mode().IsRegular() {
				return fmt.Errorf("archive entry %q links to %q, which is not a file extracted before it", hdr.Name, hdr.Linkname)
			}
			os.Remove(p)
			if err := os.Link(src, p); err != nil {
				return err
			}
		case tar.TypeSymlink:
			os.Remove(p)
			if err := os.Symlink(hdr.Linkname, p); err != nil {
				return err
			}
			os.Lchown(p, hdr.Uid, hdr.Gid)
		default:
			// Devices and FIFOs are not project files; skip them.
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		mode := dirs[i].hdr.FileInfo().Mode()
		finish(dirs[i].path, dirs[i].hdr, mode.Perm()|mode&(fs.ModeSetgid|fs.ModeSticky))
	}
	return nil
}

// inside cleans an archive name and checks that it stays under dir and is
// not reached through a symlink.
func inside(dir, entry string) (string, error) {
	name := filepath.FromSlash(path.Clean(entry))
	if name == "." || filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("archive entry %q points outside %s", entry, dir)
	}
	if err := noSymlinkParents(dir, name); err != nil {
		return "", err
	}
	return name, nil
}

// finish applies owner (when permitted), mode and mtime, never through a
// symlink.
func finish(p string, hdr *tar.Header, mode fs.FileMode) {
	if fi, err := os.Lstat(p); err != nil || fi.Mode()&fs.ModeSymlink != 0 {
		return
	}
	os.Lchown(p, hdr.Uid, hdr.Gid) // only root may; otherwise files stay ours
	os.Chmod(p, mode)
	os.Chtimes(p, hdr.AccessTime, hdr.ModTime)
}

// noSymlinkParents refuses to write through a symlink inside dir.
func noSymlinkParents(dir, name string) error {
	parts := strings.Split(filepath.Dir(name), string(filepath.Separator))
	cur := dir
	for _, part := range parts {
		if part == "." || part == "" {
			continue
		}
		cur = filepath.Join(cur, part)
		if fi, err := os.Lstat(cur); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("archive entry %q would be written through the symlink %s", name, cur)
		}
	}
	return nil
}
