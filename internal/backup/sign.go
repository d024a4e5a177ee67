package backup

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/setsign"
)

const (
	// SignatureName is a set's signature of its manifest.
	SignatureName = "manifest.sig"
	// SigningKeyFile holds the site's private signing key (mode 0600), in
	// the checkout but outside config/, so no backup set holds it.
	SigningKeyFile = "backup-signing.key"
	// SigningKeysKey lists further public keys whose sets this site
	// trusts: the old server's, when a new one restores its sets.
	SigningKeysKey = "BACKUP_SIGNING_KEYS"
)

// Signer is the site's signing key, made on first use.
func Signer(e *engine.Engine) (ed25519.PrivateKey, error) {
	k, err := setsign.LoadOrCreate(filepath.Join(e.Dir, SigningKeyFile))
	if err != nil {
		return nil, fmt.Errorf("backup signing key: %w", err)
	}
	return k, nil
}

// TrustedKeys are the public keys whose sets e trusts: its own, those of
// BACKUP_SIGNING_KEYS, and extra (an identity file's).
func TrustedKeys(e *engine.Engine, extra ...ed25519.PublicKey) ([]ed25519.PublicKey, error) {
	keys, err := setsign.ParseList(e.Setting(SigningKeysKey))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", SigningKeysKey, err)
	}
	own, err := setsign.Load(filepath.Join(e.Dir, SigningKeyFile))
	switch {
	case err == nil:
		keys = append(keys, own.Public().(ed25519.PublicKey))
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	return append(keys, extra...), nil
}

// CheckSignature refuses a set whose manifest is not signed by a trusted
// key: the manifest holds every file's size and sha256, so a set that
// passes this and VerifyChecksums is the site's, byte for byte.
func CheckSignature(e *engine.Engine, setDir string, extra ...ed25519.PublicKey) error {
	keys, err := TrustedKeys(e, extra...)
	if err != nil {
		return err
	}
	return VerifySignature(setDir, keys)
}

// VerifySignature checks the set's signature against keys.
func VerifySignature(setDir string, keys []ed25519.PublicKey) error {
	data, err := os.ReadFile(filepath.Join(setDir, ManifestName))
	if err != nil {
		return err
	}
	sig, err := os.ReadFile(filepath.Join(setDir, SignatureName))
	if errors.Is(err, os.ErrNotExist) {
		sig, err = nil, nil
	}
	if err != nil {
		return err
	}
	return setsign.Verify("backup set "+filepath.Base(setDir), data, sig, keys)
}

// SignSet signs a set made before sets were signed, once its files match
// its manifest: the admin vouches for it (backup:sign).
func SignSet(e *engine.Engine, setDir string) error {
	m, err := ReadManifest(setDir)
	if err != nil {
		return err
	}
	if err := VerifyChecksums(setDir, m, nil); err != nil {
		return err
	}
	k, err := Signer(e)
	if err != nil {
		return err
	}
	return writeSignature(setDir, k)
}

func writeSignature(setDir string, k ed25519.PrivateKey) error {
	data, err := os.ReadFile(filepath.Join(setDir, ManifestName))
	if err != nil {
		return err
	}
	tmp := filepath.Join(setDir, SignatureName+".tmp")
	if err := os.WriteFile(tmp, setsign.Sign(k, data), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(setDir, SignatureName))
}
