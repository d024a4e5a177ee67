package engine

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
)

func TestDigestKey(t *testing.T) {
	dir := t.TempDir()
	k1, err := DigestKey(dir)
	if err != nil || len(k1) != 32 {
		t.Fatalf("%v", err)
	}
	fi, err := os.Stat(filepath.Join(dir, DigestKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%v %v", fi, err)
	}
	k2, _ := DigestKey(dir)
	if string(k1) != string(k2) {
		t.Fatal("a second read made a new key")
	}
	e := &Engine{Dir: dir}
	h, _ := e.ContentDigest()
	h.Write([]byte("s3cret"))
	plain := sha256.Sum256([]byte("s3cret"))
	if string(h.Sum(nil)) == string(plain[:]) {
		t.Fatal("the digest is a plain sha256")
	}
	os.WriteFile(filepath.Join(dir, DigestKeyFile), []byte("short"), 0o600)
	if _, err := DigestKey(dir); err == nil {
		t.Fatal("a damaged key accepted")
	}
}
