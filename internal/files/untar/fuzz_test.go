package untar

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func tarWith(entries ...tar.Header) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range entries {
		h := h
		if h.Typeflag == tar.TypeReg && h.Size == 0 {
			h.Size = 4
		}
		tw.WriteHeader(&h)
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte("data"))
		}
	}
	tw.Close()
	return b.Bytes()
}

// extractCases are the archives files:get must handle safely; they seed the
// fuzzer too.
var extractCases = map[string][]tar.Header{
	"setuid file":       {{Name: "bin/tool", Typeflag: tar.TypeReg, Mode: 0o4755}},
	"setgid dir":        {{Name: "shared/", Typeflag: tar.TypeDir, Mode: 0o2775}, {Name: "shared/f", Typeflag: tar.TypeReg, Mode: 0o2644}},
	"hard link":         {{Name: "a", Typeflag: tar.TypeReg, Mode: 0o644}, {Name: "b", Typeflag: tar.TypeLink, Linkname: "a"}},
	"hard link outside": {{Name: "b", Typeflag: tar.TypeLink, Linkname: "../sentinel"}},
	"hard link to a symlink": {
		{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "../sentinel"}, {Name: "b", Typeflag: tar.TypeLink, Linkname: "l"}},
	"symlink at the final component, then a file": {
		{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "../sentinel"}, {Name: "l", Typeflag: tar.TypeReg, Mode: 0o644}},
	"symlink at the final component, then a folder": {
		{Name: "l", Typeflag: tar.TypeSymlink, Linkname: ".."}, {Name: "l/", Typeflag: tar.TypeDir, Mode: 0o777}},
	"through a symlink": {{Name: "l", Typeflag: tar.TypeSymlink, Linkname: ".."}, {Name: "l/evil", Typeflag: tar.TypeReg, Mode: 0o644}},
	"dot-dot":           {{Name: "../evil", Typeflag: tar.TypeReg, Mode: 0o644}},
	"no folder entries": {{Name: "deep/er/f", Typeflag: tar.TypeReg, Mode: 0o600}},
}

// check extracts data into parent/x and fails when anything outside x
// changed, or a set-id file appeared.
func checkExtract(t *testing.T, data []byte) error {
	t.Helper()
	parent := t.TempDir()
	os.Chmod(parent, 0o755)
	sentinel := filepath.Join(parent, "sentinel")
	os.WriteFile(sentinel, []byte("keep"), 0o640)
	dir := filepath.Join(parent, "x")
	os.Mkdir(dir, 0o755)
	err := Extract(bytes.NewReader(data), dir, nil)
	entries, _ := os.ReadDir(parent)
	if len(entries) != 2 {
		t.Fatalf("extract wrote outside its folder: %v", entries)
	}
	if b, _ := os.ReadFile(sentinel); string(b) != "keep" {
		t.Fatal("extract wrote through a link to a file outside")
	}
	for p, want := range map[string]fs.FileMode{parent: 0o755, sentinel: 0o640} {
		if fi, _ := os.Stat(p); fi.Mode().Perm() != want {
			t.Fatalf("extract changed the mode of %s to %v", p, fi.Mode())
		}
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, _ error) error {
		if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
			t.Fatalf("%s is set-id after extract", p)
		}
		return nil
	})
	return err
}

func TestExtractCases(t *testing.T) {
	refused := map[string]bool{"hard link outside": true, "hard link to a symlink": true, "through a symlink": true,
		"dot-dot": true, "symlink at the final component, then a folder": true}
	for name, entries := range extractCases {
		t.Run(name, func(t *testing.T) {
			err := checkExtract(t, tarWith(entries...))
			if refused[name] != (err != nil) {
				t.Fatalf("err = %v, want refused: %v", err, refused[name])
			}
		})
	}
	t.Run("a hard link shares the file", func(t *testing.T) {
		dir := t.TempDir()
		if err := Extract(bytes.NewReader(tarWith(extractCases["hard link"]...)), dir, nil); err != nil {
			t.Fatal(err)
		}
		a, _ := os.Stat(filepath.Join(dir, "a"))
		b, _ := os.Stat(filepath.Join(dir, "b"))
		if !os.SameFile(a, b) {
			t.Fatal("b is not a hard link to a")
		}
	})
	t.Run("setgid folders keep the bit, files lose set-id", func(t *testing.T) {
		dir := t.TempDir()
		if err := Extract(bytes.NewReader(tarWith(extractCases["setgid dir"]...)), dir, nil); err != nil {
			t.Fatal(err)
		}
		d, _ := os.Stat(filepath.Join(dir, "shared"))
		f, _ := os.Stat(filepath.Join(dir, "shared", "f"))
		if d.Mode()&fs.ModeSetgid == 0 || f.Mode()&fs.ModeSetgid != 0 || f.Mode().Perm() != 0o644 {
			t.Fatalf("folder %v, file %v", d.Mode(), f.Mode())
		}
	})
}

// FuzzExtract: no archive may make extract write, link or chmod anything
// outside its folder, or leave a set-id file.
func FuzzExtract(f *testing.F) {
	for _, entries := range extractCases {
		f.Add(tarWith(entries...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkExtract(t, data)
	})
}
