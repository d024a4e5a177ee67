package engine

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/osgs/osgs/internal/refusal"
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

// TestPlainTCPDockerHost: DOCKER_HOST=tcp:// without TLS is refused
// before anything is sent.
func TestPlainTCPDockerHost(t *testing.T) {
	t.Setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
	t.Setenv("DOCKER_TLS_VERIFY", "")
	t.Setenv("DOCKER_CERT_PATH", "")
	t.Setenv("DOCKER_CONTEXT", "")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	e := &Engine{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}
	err := e.Connect(context.Background())
	if !errors.Is(err, refusal.Err) || !strings.Contains(err.Error(), "in clear") {
		t.Fatalf("%v", err)
	}
}
