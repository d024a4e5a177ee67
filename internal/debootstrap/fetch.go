package debootstrap

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"pault.ag/go/debian/deb"
)

// Fetch downloads the named packages from the signed mirror into dir,
// checking each against the index, and returns their files.
func Fetch(ctx context.Context, o Options, dir string, names ...string) ([]string, error) {
	o.defaults()
	_, ix, err := Packages(ctx, o)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, n := range names {
		p, ok := ix.Packages[n]
		if !ok {
			return nil, fmt.Errorf("%s: no package %s", o.Mirror, n)
		}
		f, err := download(ctx, o, p, dir)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

// ExtractFiles copies the regular files of a .deb whose paths start with
// prefix (such as "usr/share/doc/pkg/examples/") into dir, keeping their
// paths below prefix, and returns how many it wrote.
func ExtractFiles(debFile, prefix, dir string) (int, error) {
	f, err := os.Open(debFile)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	d, err := deb.Load(f, debFile)
	if err != nil {
		return 0, fmt.Errorf("not a Debian package: %w", err)
	}
	defer d.Close()
	n := 0
	for {
		hdr, err := d.Data.Next()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		rel, ok := strings.CutPrefix(name, prefix)
		if !ok || hdr.Typeflag != tar.TypeReg || rel == "" || strings.Contains(rel, "..") {
			continue
		}
		out := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return n, err
		}
		w, err := os.OpenFile(out, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
		if err != nil {
			return n, err
		}
		_, err = io.Copy(w, d.Data)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return n, err
		}
		n++
	}
}
