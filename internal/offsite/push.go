package offsite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/osgs/osgs/internal/backup"
	"github.com/osgs/osgs/internal/remote"
	"github.com/osgs/osgs/internal/seal"
)

// PushResult says what a push did.
type PushResult struct {
	Set      string
	Uploaded bool  // false: the set was complete there already
	Bytes    int64 // stored bytes uploaded
	Files    int
	Verified bool // the remote set is marked verified
}

// Push encrypts the local set dir and uploads it, its manifest and last its
// index. A set that is already complete remotely is not uploaded again (its
// verified mark is added if it has been verified since). The files are
// checked against the manifest as they stream, so a corrupt local set
// never becomes a complete remote one. The caller holds the backups lock.
func (r *Remote) Push(ctx context.Context, dir string, now time.Time) (*PushResult, error) {
	if r.recErr != nil {
		return nil, r.recErr
	}
	m, err := backup.ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	// Only the site's own sets leave it (backup:sign vouches for older ones).
	if err := backup.VerifySignature(dir, r.trusted); err != nil {
		return nil, err
	}
	set := filepath.Base(dir)
	res := &PushResult{Set: set, Files: len(m.Files)}
	_, verr := os.Stat(filepath.Join(dir, backup.VerifiedName))
	localVerified := verr == nil
	done, err := r.complete(ctx, set)
	if err != nil {
		return nil, err
	}
	if !done {
		// Leftovers of a push that was killed: hidden parts, then objects.
		if err := r.clearIncomplete(ctx, set); err != nil {
			return nil, err
		}
		ix := Index{Format: Format, Set: set, Project: m.Project, Created: m.Created, Recipients: r.keys}
		for _, f := range append(m.Files, backup.Entry{Path: backup.ManifestName}, backup.Entry{Path: backup.SignatureName}) {
			st, err := r.pushFile(ctx, dir, set, f)
			if err != nil {
				return nil, err
			}
			ix.Files = append(ix.Files, st)
			res.Bytes += st.Size
		}
		ix.Pushed = now.UTC()
		if err := r.putIndex(ctx, ix); err != nil {
			return nil, err
		}
		res.Uploaded = true
	}
	if localVerified {
		if _, err := r.Store.Get(ctx, path.Join(set, VerifiedName)); err != nil {
			if err := r.putJSON(ctx, path.Join(set, VerifiedName), map[string]any{"verified": true, "marked": now.UTC()}); err != nil {
				return nil, err
			}
		}
		res.Verified = true
	}
	return res, nil
}

// pushFile streams one local file through age into the store, hashing the
// plaintext (checked against the manifest; the manifest itself has no
// entry, so it is not) and the stored bytes (for the index). The stored
// length is known before the first byte (seal.EncryptReader), so the store
// can send the object in parallel parts; a file that does not match the
// manifest fails the read of its last bytes, and with it the upload, before
// the upload can complete.
func (r *Remote) pushFile(ctx context.Context, dir, set string, f backup.Entry) (Stored, error) {
	name := filepath.Join(dir, filepath.FromSlash(f.Path))
	src, err := os.Open(name)
	if err != nil {
		return Stored{}, err
	}
	defer src.Close()
	info, err := src.Stat()
	if err != nil {
		return Stored{}, err
	}
	mismatch := &backup.ChecksumError{Path: name, Reason: "it does not match the manifest"}
	size := info.Size()
	if f.SHA256 != "" && size != f.Size {
		return Stored{}, fmt.Errorf("push %s/%s: %w", set, f.Path, mismatch)
	}
	// Both hashes run behind the stream, each on its own goroutine, so the
	// read, the seal and the two hashes use the cores there are.
	plain := backup.HashBehind(src, sha256.New())
	defer plain.Close()
	var body io.Reader = remote.Exact(plain, size, func() error {
		if f.SHA256 != "" && hex.EncodeToString(plain.Sum()) != f.SHA256 {
			return mismatch
		}
		return nil
	})
	st := StoredAs(f.Path)
	if !st.AsStored {
		if body, size, err = seal.EncryptReader(body, size, r.recipients); err != nil {
			return Stored{}, err
		}
	}
	hashed := backup.HashBehind(body, sha256.New())
	defer hashed.Close()
	if err := r.Store.Put(ctx, path.Join(set, st.Key), hashed, size); err != nil {
		return Stored{}, fmt.Errorf("push %s/%s: %w", set, f.Path, err)
	}
	st.Size, st.SHA256 = size, hex.EncodeToString(hashed.Sum())
	return st, nil
}
