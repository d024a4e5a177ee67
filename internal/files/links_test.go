package files

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestLinkEscapes(t *testing.T) {
	for target, ok := range map[string]bool{
		"city.qgs": true, "svg/a.svg": true, "../city/a": true, "./a": true, "../../data/x": true,
		"/etc/ssl": false, "../../../etc": false, "a/../../x": false, "sub/../../..": false, "..": true, "../..": false, `\etc`: false,
	} {
		if got := linkEscapes("/io/data/city/link", target, "/io/data") == ""; got != ok {
			t.Errorf("%s: accepted %v, want %v", target, got, ok)
		}
	}
}

func TestScanLocal(t *testing.T) {
	d := t.TempDir()
	os.MkdirAll(filepath.Join(d, "p", "sub"), 0o755)
	os.Symlink("sub", filepath.Join(d, "p", "ok"))
	tree, err := scanLocal(filepath.Join(d, "p"), "/io/data/p", "/io/data")
	if err != nil || len(tree.dirs) != 2 {
		t.Fatalf("%v %v", tree, err)
	}
	syscall.Mkfifo(filepath.Join(d, "p", "sub", "f"), 0o644)
	if _, err := scanLocal(filepath.Join(d, "p"), "/io/data/p", "/io/data"); !errors.Is(err, ErrRefused) {
		t.Errorf("a FIFO: %v", err)
	}
}
