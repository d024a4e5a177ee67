package engine

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"

	"github.com/osgs/osgs/internal/secretfile"
)

// DigestKeyFile holds the checkout's key for the digests osgs shows in
// labels and swarm object names (mode 0600, made on first use).
const DigestKeyFile = "config/digest.key"

// ContentDigest is a keyed hash (HMAC-SHA256) with the checkout's digest
// key: a digest of a secret's content in a label or an object name says
// when it changed, and nothing that could confirm a guess of it to whoever
// can read labels but not the key.
func (e *Engine) ContentDigest() (hash.Hash, error) {
	key, err := DigestKey(e.Dir)
	if err != nil {
		return nil, err
	}
	return hmac.New(sha256.New, key), nil
}

// DigestKey reads dir's digest key, making it when there is none.
func DigestKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, DigestKeyFile)
	if b, err := os.ReadFile(path); err == nil && len(b) == 32 {
		return b, nil
	} else if err == nil || !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: not a digest key (%v); remove it to make a new one", path, err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := secretfile.Create(path, key); errors.Is(err, os.ErrExist) {
		return DigestKey(dir)
	} else if err != nil {
		return nil, err
	}
	return key, nil
}
