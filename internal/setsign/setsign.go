// Package setsign signs backup sets with the site's ed25519 key and checks
// them: the set's manifest (which holds every file's sha256) and a remote
// set's index. The age recipients that encrypt a set are public, so anyone
// who can write to a bucket or a backups folder can make a set that
// decrypts; only the site's signature says the site made it. It uses the
// standard library only.
package setsign

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/osgs/osgs/internal/refusal"
	"github.com/osgs/osgs/internal/secretfile"
)

// Prefix starts a public key's text.
const Prefix = "osgs-ed25519:"

// Format names a signature file.
const Format = "osgs-signature/1"

// Signature is the content of a .sig file.
type Signature struct {
	Format    string `json:"format"`
	Key       string `json:"key"` // the signer's public key (Prefix + base64)
	Signature string `json:"signature"`
}

// Public is a public key as text.
func Public(pub ed25519.PublicKey) string {
	return Prefix + base64.StdEncoding.EncodeToString(pub)
}

// ParsePublic reads a public key's text.
func ParsePublic(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(strings.TrimSpace(s), Prefix))
	if err != nil || !strings.HasPrefix(strings.TrimSpace(s), Prefix) || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%q is not a backup signing key (%s...)", short(s), Prefix)
	}
	return b, nil
}

// ParseList reads a comma-separated list of public keys.
func ParseList(list string) ([]ed25519.PublicKey, error) {
	var out []ed25519.PublicKey
	for _, k := range strings.Split(list, ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		pub, err := ParsePublic(k)
		if err != nil {
			return nil, err
		}
		out = append(out, pub)
	}
	return out, nil
}

func short(s string) string {
	if len(s) > 24 {
		return s[:24] + "..."
	}
	return s
}

// LoadOrCreate reads the private key at path, or makes one there (mode
// 0600, never over an existing file) when there is none.
func LoadOrCreate(path string) (ed25519.PrivateKey, error) {
	if k, err := Load(path); !errors.Is(err, os.ErrNotExist) {
		return k, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	text := fmt.Sprintf("# osgs backup signing key (private: it stays on this server)\n# public key: %s\n%s\n",
		Public(priv.Public().(ed25519.PublicKey)), base64.StdEncoding.EncodeToString(priv.Seed()))
	if err := secretfile.Create(path, []byte(text)); errors.Is(err, os.ErrExist) {
		return Load(path) // made meanwhile by another osgs
	} else if err != nil {
		return nil, err
	}
	return priv, nil
}

// Load reads the private key at path (os.ErrNotExist when there is none).
func Load(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		seed, err := base64.StdEncoding.DecodeString(l)
		if err != nil || len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("%s is not a backup signing key", path)
		}
		return ed25519.NewKeyFromSeed(seed), nil
	}
	return nil, fmt.Errorf("%s is not a backup signing key", path)
}

// Sign returns the signature file of data.
func Sign(priv ed25519.PrivateKey, data []byte) []byte {
	s := Signature{Format: Format, Key: Public(priv.Public().(ed25519.PublicKey)), Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(priv, data))}
	b, _ := json.MarshalIndent(s, "", "  ")
	return append(b, '\n')
}

// Error is a set refused for its signature: missing, by a key the site
// does not trust, or not matching. It is a refusal (exit code 2).
type Error struct {
	What   string // the signed file
	Reason string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s; refusing it (the set may have been forged or changed)", e.What, e.Reason)
}

// Is makes an Error a refusal.
func (e *Error) Is(target error) bool { return target == refusal.Err }

// Verify checks sig (a signature file, nil when there is none) of data,
// made by one of trusted. what names the file in the error.
func Verify(what string, data, sig []byte, trusted []ed25519.PublicKey) error {
	if sig == nil {
		return &Error{What: what, Reason: "it is not signed"}
	}
	var s Signature
	if err := json.Unmarshal(sig, &s); err != nil || s.Format != Format {
		return &Error{What: what, Reason: "its signature file is not one osgs writes"}
	}
	pub, err := ParsePublic(s.Key)
	if err != nil {
		return &Error{What: what, Reason: "its signature names no valid key"}
	}
	known := false
	for _, k := range trusted {
		known = known || bytes.Equal(k, pub)
	}
	if !known {
		return &Error{What: what, Reason: fmt.Sprintf("it is signed by %s, a key this site does not trust (BACKUP_SIGNING_KEYS)", s.Key)}
	}
	raw, err := base64.StdEncoding.DecodeString(s.Signature)
	if err != nil || !ed25519.Verify(pub, data, raw) {
		return &Error{What: what, Reason: "its signature does not match its content"}
	}
	return nil
}

// KeysInComments are the public keys named in "# ... key: osgs-ed25519:..."
// comment lines of a file (an age identity file lists the site's).
func KeysInComments(text string) []ed25519.PublicKey {
	var out []ed25519.PublicKey
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "#") {
			continue
		}
		if i := strings.Index(l, Prefix); i >= 0 {
			if pub, err := ParsePublic(strings.Fields(l[i:])[0]); err == nil {
				out = append(out, pub)
			}
		}
	}
	return out
}
