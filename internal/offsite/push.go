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
		for _, f := range append(m.Files, backup.Entry{Path: backup.ManifestName}) {
			st, err := r.pushFile(ctx, dir, set, f)
			if err != nil {
				return nil, err
			}
			ix.Files = append(ix.Files, st)
			res.Bytes += st.Size
		}
		ix.Pushed = now.UTC()
		if err := r.putJSON(ctx, path.Join(set, IndexName), ix); err != nil {
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
// entry, so it is not) and the stored bytes (for the index).
func (r *Remote) pushFile(ctx context.Context, dir, set string, f backup.Entry) (Stored, error) {
	src, err := os.Open(filepath.Join(dir, filepath.FromSlash(f.Path)))
	if err != nil {
		return Stored{}, err
	}
	defer src.Close()
	st := stored(f.Path)
	plain, hashed := sha256.New(), sha256.New()
	var plainN int64
	pr, pw := io.Pipe()
	counted := &backup.CountingWriter{W: io.MultiWriter(pw, hashed)}
	encDone := make(chan error, 1)
	go func() {
		if st.AsStored {
			plainN, err := io.Copy(counted, io.TeeReader(src, plain))
			if err == nil && f.SHA256 != "" && (hex.EncodeToString(plain.Sum(nil)) != f.SHA256 || plainN != f.Size) {
				err = &backup.ChecksumError{Path: filepath.Join(dir, f.Path), Reason: "it does not match the manifest"}
			}
			pw.CloseWithError(err)
			encDone <- err
			return
		}
		enc, err := seal.Encrypt(counted, r.recipients)
		if err == nil {
			plainN, err = io.Copy(enc, io.TeeReader(src, plain))
			if err == nil {
				err = enc.Close()
			}
		}
		if err == nil && f.SHA256 != "" && (hex.EncodeToString(plain.Sum(nil)) != f.SHA256 || plainN != f.Size) {
			err = &backup.ChecksumError{Path: filepath.Join(dir, f.Path), Reason: "it does not match the manifest"}
		}
		pw.CloseWithError(err) // the upload fails rather than completes
		encDone <- err
	}()
	size := f.Size
	if size == 0 {
		size = -1
	}
	err = r.Store.Put(ctx, path.Join(set, st.Key), pr, size)
	pr.CloseWithError(io.ErrClosedPipe)
	if encErr := <-encDone; encErr != nil && encErr != io.ErrClosedPipe {
		err = encErr
	}
	if err != nil {
		return Stored{}, fmt.Errorf("push %s/%s: %w", set, f.Path, err)
	}
	st.Size, st.SHA256 = counted.N, hex.EncodeToString(hashed.Sum(nil))
	return st, nil
}
