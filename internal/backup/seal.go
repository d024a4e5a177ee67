package backup

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/seal"
)

// The encrypt transform. With BACKUP_LOCAL_ENCRYPT=on every file of a local
// set is stored age-encrypted to BACKUP_AGE_RECIPIENTS, after compression,
// as "<name>.age"; the manifest stays readable (names, sizes, checksums of
// the stored bytes, row counts: no content), so list, check, prune and the
// checksum half of verify need no key. Reading the data back (restore, the
// trial restore of verify) needs an identity.
const (
	LocalEncryptKey = "BACKUP_LOCAL_ENCRYPT"
	// IdentityKey names the age identity file that pulls, and restores and
	// verifies of encrypted local sets, read.
	IdentityKey = "BACKUP_AGE_IDENTITY"
	// DefaultIdentityFile is where backup:keygen writes the identity: in
	// the checkout, gitignored, never inside a set. Move it off the server.
	DefaultIdentityFile = "backup-age-identity.txt"
)

// localRecipients returns who local sets are encrypted to, or nil when
// local encryption is off.
func localRecipients(e *engine.Engine) ([]age.Recipient, error) {
	switch v := strings.ToLower(strings.TrimSpace(e.Setting(LocalEncryptKey))); v {
	case "", "off", "no", "false", "0":
		return nil, nil
	case "on", "yes", "true", "1":
	default:
		return nil, fmt.Errorf("%s=%q: use on or off", LocalEncryptKey, v)
	}
	rs, _, err := seal.Recipients(e.Setting(seal.RecipientsKey))
	if err != nil {
		return nil, fmt.Errorf("%s is on, but %w", LocalEncryptKey, err)
	}
	return rs, nil
}

// IdentityFile is the identity file to use: given, else BACKUP_AGE_IDENTITY,
// else DefaultIdentityFile when it exists. A relative path is taken from
// the working folder, then from the checkout. It is "" when there is none.
func IdentityFile(e *engine.Engine, given string) string {
	p := given
	if p == "" {
		p = e.Setting(IdentityKey)
	}
	if p == "" {
		p = DefaultIdentityFile
		if _, err := os.Stat(filepath.Join(e.Dir, p)); err != nil {
			return ""
		}
	}
	if !filepath.IsAbs(p) {
		if _, err := os.Stat(p); err != nil {
			p = filepath.Join(e.Dir, p)
		}
	}
	return p
}

// NoIdentityError reports an encrypted local set read without an identity.
type NoIdentityError struct{ Path string }

func (n *NoIdentityError) Error() string {
	return fmt.Sprintf("%s is encrypted (%s): reading it needs its age identity; set %s=FILE", n.Path, LocalEncryptKey, IdentityKey)
}

// openStored opens a set file and returns the bytes before the encrypt
// transform: the file itself, or, for "<name>.age", its plaintext.
func openStored(e *engine.Engine, path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil || !strings.HasSuffix(path, seal.Ext) {
		return f, err
	}
	file := IdentityFile(e, "")
	if file == "" {
		f.Close()
		return nil, &NoIdentityError{Path: path}
	}
	ids, err := seal.Identities(file)
	if err != nil {
		f.Close()
		return nil, err
	}
	r, err := seal.Decrypt(f, ids, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{r, f}, nil
}

// logicalName is a set file's name without the encrypt transform's suffix.
func logicalName(path string) string { return strings.TrimSuffix(path, seal.Ext) }
