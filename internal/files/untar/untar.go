// Package untar unpacks files:get's tar streams on the host, safely: no
// entry lands outside the target folder or leaves a set-id file. Every file
// operation goes through an os.Root of the target folder, so no path check
// can race a symlink swapped in by another process: the kernel resolves
// each name inside the folder. It is a package of its own, with no
// dependencies beyond the standard library, so that its fuzz target builds
// quickly.
package untar

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Extract unpacks a tar under dir, refusing entries that would land outside
// it: a name with .., an absolute name, a path through a symlink, a folder
// where a symlink is, or a hard link to something outside. Setuid and setgid
// bits of files are dropped: files:get must never make a set-id program on
// the host.
func Extract(r io.Reader, dir string, progress io.Writer) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	var dirs []*tar.Header
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		name, err := inside(root, dir, hdr.Name)
		if err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeDir {
			if err := root.MkdirAll(filepath.Dir(name), 0o700); err != nil {
				return err
			}
		}
		if err := extractEntry(root, dir, name, hdr, tr, progress); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeDir {
			h := *hdr
			h.Name = name
			dirs = append(dirs, &h)
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		mode := dirs[i].FileInfo().Mode()
		finish(root, dirs[i].Name, dirs[i], mode.Perm()|mode&(fs.ModeSetgid|fs.ModeSticky))
	}
	return nil
}

// extractEntry writes one entry at name (already checked) under root.
func extractEntry(root *os.Root, dir, name string, hdr *tar.Header, tr io.Reader, progress io.Writer) error {
	switch hdr.Typeflag {
	case tar.TypeDir:
		if fi, err := root.Lstat(name); err == nil && !fi.IsDir() {
			if fi.Mode()&fs.ModeSymlink != 0 {
				return fmt.Errorf("archive entry %q is a folder where a symlink is", hdr.Name)
			}
			root.Remove(name)
		}
		return root.MkdirAll(name, 0o700)
	case tar.TypeReg:
		root.Remove(name) // a symlink (or file) at the final component is replaced, never followed
		f, err := root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
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
		finish(root, name, hdr, hdr.FileInfo().Mode().Perm())
	case tar.TypeLink:
		// A hard link to an entry already extracted, inside dir.
		target, err := inside(root, dir, hdr.Linkname)
		if err != nil {
			return err
		}
		if fi, err := root.Lstat(target); err != nil || !fi.Mode().IsRegular() {
			return fmt.Errorf("archive entry %q links to %q, which is not a file extracted before it", hdr.Name, hdr.Linkname)
		}
		root.Remove(name)
		return root.Link(target, name)
	case tar.TypeSymlink:
		root.Remove(name)
		if err := root.Symlink(hdr.Linkname, name); err != nil {
			return err
		}
		root.Lchown(name, hdr.Uid, hdr.Gid)
	default:
		// Devices and FIFOs are not project files; skip them.
	}
	return nil
}

// inside cleans an archive name and checks that it stays under dir and is
// not reached through a symlink (os.Root would follow one that stays
// inside; osgs refuses those too, as the volume's own links are refused).
func inside(root *os.Root, dir, entry string) (string, error) {
	name := filepath.FromSlash(path.Clean(entry))
	if name == "." || filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("archive entry %q points outside %s", entry, dir)
	}
	if err := noSymlinkParents(root, name); err != nil {
		return "", err
	}
	return name, nil
}

// finish applies owner (when permitted), mode and mtime, never through a
// symlink.
func finish(root *os.Root, name string, hdr *tar.Header, mode fs.FileMode) {
	if fi, err := root.Lstat(name); err != nil || fi.Mode()&fs.ModeSymlink != 0 {
		return
	}
	root.Lchown(name, hdr.Uid, hdr.Gid) // only root may; otherwise files stay ours
	root.Chmod(name, mode)
	root.Chtimes(name, hdr.AccessTime, hdr.ModTime)
}

// noSymlinkParents refuses to write through a symlink inside the folder.
func noSymlinkParents(root *os.Root, name string) error {
	cur := ""
	for _, part := range strings.Split(filepath.Dir(name), string(filepath.Separator)) {
		if part == "." || part == "" {
			continue
		}
		cur = filepath.Join(cur, part)
		if fi, err := root.Lstat(cur); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("archive entry %q would be written through the symlink %s", name, cur)
		}
	}
	return nil
}
