// Package qgsfile reads QGIS project files as untrusted input: the archive
// of a .qgz, every map layer of the project's XML, and each layer's data
// source, parsed as QGIS parses it (sources.go) and checked against what the
// server may reach (policy.go). It uses the standard library only, so its
// fuzz targets build fast.
package qgsfile

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/osgs/osgs/internal/refusal"
)

// ErrRefused marks a project refused before anything changed.
var ErrRefused = refusal.Err

// maxEntry bounds what one archive entry may unpack to (a zip bomb stops
// there).
const maxEntry = 512 << 20

// Archive is what a project file holds once checked: the project's XML and
// its auxiliary storage (the .qgd QGIS keeps beside it), if any.
type Archive struct {
	QGS []byte
	QGD []byte
}

// Read reads a .qgs as it is, or checks a .qgz entry by entry: exactly one
// project (.qgs) in the whole archive, at its top level; besides it at most
// its auxiliary storage (.qgd); no folders, links, absolute or parent
// paths, and nothing else. QGIS unpacks a .qgz itself and loads the first
// .qgs it finds anywhere in it, so only an archive osgs rebuilt from these
// checked parts (Pack) may reach the server.
func Read(file string, data []byte) (*Archive, error) {
	switch lower := strings.ToLower(file); {
	case strings.HasSuffix(lower, ".qgs"):
		return &Archive{QGS: data}, nil
	case !strings.HasSuffix(lower, ".qgz"):
		return nil, fmt.Errorf("%w: %s is neither a .qgs nor a .qgz", ErrRefused, file)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not a .qgz (zip): %v", ErrRefused, file, err)
	}
	a := &Archive{}
	var projects, stores []string
	for _, f := range zr.File {
		if err := checkEntry(f); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrRefused, file, err)
		}
		var dst *[]byte
		switch ext := strings.ToLower(path.Ext(f.Name)); ext {
		case ".qgs":
			projects = append(projects, f.Name)
			dst = &a.QGS
		case ".qgd":
			stores = append(stores, f.Name)
			dst = &a.QGD
		default:
			return nil, fmt.Errorf("%w: %s holds %q; a .qgz osgs publishes holds one .qgs and its .qgd only", ErrRefused, file, f.Name)
		}
		if *dst, err = readEntry(f); err != nil {
			return nil, fmt.Errorf("%w: %s: %s: %v", ErrRefused, file, f.Name, err)
		}
	}
	if len(projects) != 1 {
		return nil, fmt.Errorf("%w: %s holds %d projects (.qgs: %s), want exactly one", ErrRefused, file, len(projects), strings.Join(projects, ", "))
	}
	if len(stores) > 1 {
		return nil, fmt.Errorf("%w: %s holds %d auxiliary storages (.qgd), want at most one", ErrRefused, file, len(stores))
	}
	return a, nil
}

// checkEntry refuses an entry QGIS could unpack outside its scratch folder
// or that is not a plain file at the archive's top level.
func checkEntry(f *zip.File) error {
	name := f.Name
	switch {
	case name == "" || strings.ContainsAny(name, "/\\:\x00") || name == "." || name == "..":
		return fmt.Errorf("entry %q is not a plain file name at the archive's top level", name)
	case strings.HasPrefix(name, "."):
		return fmt.Errorf("entry %q is a hidden file", name)
	case !f.Mode().IsRegular():
		return fmt.Errorf("entry %q is a %s, not a regular file", name, kind(f.Mode()))
	case f.UncompressedSize64 > maxEntry:
		return fmt.Errorf("entry %q unpacks to %d bytes, more than %d", name, f.UncompressedSize64, maxEntry)
	}
	return nil
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "folder"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	}
	return "special file"
}

func readEntry(f *zip.File) ([]byte, error) {
	r, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxEntry+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxEntry {
		return nil, fmt.Errorf("unpacks to more than %d bytes", maxEntry)
	}
	return b, nil
}

// Pack writes the archive as the .qgz the server gets: <name>.qgs and, when
// there is one, <name>.qgd, nothing else.
func (a *Archive) Pack(name string) ([]byte, error) {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	add := func(file string, data []byte) error {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: file, Method: zip.Deflate})
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	if err := add(name+".qgs", a.QGS); err != nil {
		return nil, err
	}
	if a.QGD != nil {
		if err := add(name+".qgd", a.QGD); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
