package offsite

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"filippo.io/age"

	"github.com/osgs/osgs/internal/backup"
	"github.com/osgs/osgs/internal/seal"
)

// NotCompleteError reports a set that is not complete at a destination.
type NotCompleteError struct{ Set, Remote string }

func (n *NotCompleteError) Error() string {
	return fmt.Sprintf("no complete backup set %s at %s (backup:remote lists them)", n.Set, n.Remote)
}

// Pull downloads the remote set into root/<set>, decrypting it with ids.
// Every object is checked against the index (size, sha256) and by age's
// authentication as it streams, then every file against the decrypted
// manifest; only then does the set appear, renamed from a temporary
// folder. A local set of that name is never replaced. The caller holds the
// backups lock.
//
// The index must be signed by a key the site trusts (or one the identity
// file names, trusted passed here), and so must the manifest: a set
// someone else wrote to the bucket is refused before any object is read,
// and a manifest changed after the index never becomes a local set.
func (r *Remote) Pull(ctx context.Context, root, set string, ids []age.Identity, trusted ...ed25519.PublicKey) (dir string, err error) {
	if !safe(set) || path.Base(set) != set {
		return "", fmt.Errorf("%q is not a set name", set)
	}
	ix, err := r.readIndex(ctx, set)
	if errors.Is(err, os.ErrNotExist) {
		return "", &NotCompleteError{Set: set, Remote: r.String()}
	}
	if err != nil {
		return "", err
	}
	if err := r.verifyIndex(ctx, set, trusted); err != nil {
		return "", err
	}
	final := filepath.Join(root, set)
	if _, err := os.Stat(final); err == nil {
		return "", fmt.Errorf("backup set %s is already in %s: nothing to pull", set, root)
	}
	tmp := filepath.Join(root, ".tmp-pull-"+set)
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	// The manifest first: a wrong identity is refused before any data moves.
	files := ix.Files
	for i, f := range files {
		if f.Path == backup.ManifestName {
			files[0], files[i] = files[i], files[0]
		}
	}
	if len(files) == 0 || files[0].Path != backup.ManifestName {
		return "", fmt.Errorf("%s%s: the index lists no manifest", r, path.Join(set, IndexName))
	}
	for _, f := range files {
		if err := r.pullFile(ctx, set, f, filepath.Join(tmp, filepath.FromSlash(f.Path)), ids); err != nil {
			return "", err
		}
	}
	m, err := backup.ReadManifest(tmp)
	if err != nil {
		return "", err
	}
	if err := backup.VerifySignature(tmp, append(append([]ed25519.PublicKey(nil), r.trusted...), trusted...)); err != nil {
		return "", err
	}
	if len(m.Files)+2 != len(files) {
		return "", fmt.Errorf("remote set %s: the index lists %d files, the manifest %d and its signature", set, len(files)-2, len(m.Files))
	}
	if err := backup.VerifyChecksums(tmp, m, nil); err != nil {
		return "", err
	}
	if rc, err := r.Store.Get(ctx, path.Join(set, VerifiedName)); err == nil {
		rc.Close()
		// The bytes are those that passed backup:verify: the mark holds.
		if err := os.WriteFile(filepath.Join(tmp, backup.VerifiedName), []byte(`{"verified": true, "pulled_from": "`+r.Name+`"}`+"\n"), 0o600); err != nil {
			return "", err
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", err
	}
	return final, nil
}

// pullFile downloads one object, checks its stored bytes and writes its
// plaintext to dst (mode 0600, synced).
func (r *Remote) pullFile(ctx context.Context, set string, f Stored, dst string, ids []age.Identity) (err error) {
	key := path.Join(set, f.Key)
	rc, err := r.Store.Get(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	stored := sha256.New()
	counted := &backup.CountingWriter{W: stored}
	in := io.TeeReader(rc, counted)
	plain := in
	if !f.AsStored {
		if plain, err = seal.Decrypt(in, ids, "remote object "+r.String()+key); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := io.Copy(out, plain); err != nil {
		return fmt.Errorf("pull %s: %w", key, err)
	}
	if _, err := io.Copy(io.Discard, in); err != nil { // age stops at its last chunk
		return fmt.Errorf("pull %s: %w", key, err)
	}
	if counted.N != f.Size || hex.EncodeToString(stored.Sum(nil)) != f.SHA256 {
		return &seal.CorruptError{What: "remote object " + r.String() + key, Err: errors.New("size or sha256 differs from the index")}
	}
	return out.Sync()
}
