// Package untar unpacks files:get's tar streams on the host, safely: no
// entry lands outside the target folder or leaves a set-id file. It is a
// package of its own, with no dependencies beyond the standard library, so
// that its fuzz target builds quickly.
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
