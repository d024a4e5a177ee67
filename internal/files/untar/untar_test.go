package untar

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func tarOf(t *testing.T, entries ...tar.Header) *bytes.Buffer {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range entries {
		h := h
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	return &b
}

func TestExtractRefusesEscapes(t *testing.T) {
	for name, entries := range map[string][]tar.Header{
		"dot-dot":  {{Name: "../evil", Typeflag: tar.TypeReg, Mode: 0o644}},
		"absolute": {{Name: "/etc/evil", Typeflag: tar.TypeReg, Mode: 0o644}},
		"through a symlink": {
			{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/tmp"},
			{Name: "link/evil", Typeflag: tar.TypeReg, Mode: 0o644},
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			err := Extract(tarOf(t, entries...), dir, nil)
			if err == nil {
				t.Fatal("accepted")
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "evil")); err == nil {
				t.Fatal("wrote outside the folder")
			}
		})
	}
}

func TestExtractPlain(t *testing.T) {
	dir := t.TempDir()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "a/", Typeflag: tar.TypeDir, Mode: 0o750})
	tw.WriteHeader(&tar.Header{Name: "a/f.txt", Typeflag: tar.TypeReg, Mode: 0o600, Size: 5})
	tw.Write([]byte("hello"))
	tw.Close()
	if err := Extract(&b, dir, nil); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "a", "f.txt"))
	info, _ := os.Stat(filepath.Join(dir, "a"))
	if string(data) != "hello" || info.Mode().Perm() != 0o750 {
		t.Fatalf("%q %v", data, info.Mode())
	}
	if !strings.HasPrefix(info.Name(), "a") {
		t.Fatal(info.Name())
	}
}

// TestSwappedSymlinkCannotEscape: a folder swapped for a link out of the
// target after the path checks ran (another process racing the
// extraction) still cannot be written through: the writes go through an
// os.Root, where the kernel resolves each name inside the folder.
func TestSwappedSymlinkCannotEscape(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "sub")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	hdr := &tar.Header{Name: "sub/evil", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}
	// As if inside() had passed before the swap.
	if err := extractEntry(root, dir, filepath.Join("sub", "evil"), hdr, strings.NewReader("x"), nil); err == nil {
		t.Fatal("wrote through a link out of the folder")
	}
	if _, err := os.Stat(filepath.Join(outside, "evil")); !os.IsNotExist(err) {
		t.Fatalf("a file landed outside: %v", err)
	}
}
