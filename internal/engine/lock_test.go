package engine

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestBuildLockIsPrivate: no folder on the way to the build lock may be
// writable by other users (as /tmp is), or another user could hold it.
func TestBuildLockIsPrivate(t *testing.T) {
	unlock, err := buildLock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	p := BuildLockPath()
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("lock %s: %v %v", p, fi.Mode(), err)
	}
	for d := filepath.Dir(p); d != filepath.Dir(d); d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm()&0o002 != 0 || (int(st.Uid) != os.Geteuid() && st.Uid != 0) {
			t.Fatalf("%s (mode %v, uid %d) on the way to the build lock can be changed by another user", d, fi.Mode(), st.Uid)
		}
	}
}
