package offsite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
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
// entry, so it is not) and the stored bytes (for the index). The stored
// length is known before the first byte (seal.EncryptReader), so the store
// can send the object in parallel parts; a source that does not match the
// manifest fails the read, and with it the upload, before it completes.
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
	st := stored(f.Path)
	plain := &checkedSource{r: src, h: sha256.New(), size: info.Size(), want: f.SHA256, path: name}
	if f.SHA256 != "" && info.Size() != f.Size {
		return Stored{}, fmt.Errorf("push %s/%s: %w", set, f.Path, plain.mismatch())
	}
	var body io.Reader = plain
	size := info.Size()
	if !st.AsStored {
		if body, size, err = seal.EncryptReader(plain, size, r.recipients); err != nil {
			return Stored{}, err
		}
	}
	hashed := sha256.New()
	counted := &backup.CountingWriter{W: hashed}
	key := path.Join(set, st.Key)
	err = r.Store.Put(ctx, key, io.TeeReader(body, counted), size)
	if err == nil && counted.N != size {
		// A store that stopped reading early: never let it stand.
		_ = r.Store.Delete(context.WithoutCancel(ctx), key)
		err = fmt.Errorf("the store took %d of %d bytes", counted.N, size)
	}
	if err != nil {
		return Stored{}, fmt.Errorf("push %s/%s: %w", set, f.Path, err)
	}
	st.Size, st.SHA256 = counted.N, hex.EncodeToString(hashed.Sum(nil))
	return st, nil
}

// checkedSource reads a set's file, exactly size bytes, and at its end
// checks the bytes against the manifest's sha256 (when want is set): a
// mismatch, or a file that grew or shrank, is a read error instead of EOF,
// so the upload it feeds fails rather than completes.
type checkedSource struct {
	r          io.Reader
	h          hash.Hash
	n, size    int64
	want, path string
}

func (c *checkedSource) Read(p []byte) (int, error) {
	if c.n >= c.size {
		// The end: the file must end here, and match.
		var one [1]byte
		if k, _ := c.r.Read(one[:]); k > 0 {
			return 0, c.mismatch()
		}
		if c.want != "" && hex.EncodeToString(c.h.Sum(nil)) != c.want {
			return 0, c.mismatch()
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.size-c.n {
		p = p[:c.size-c.n]
	}
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	if err == io.EOF {
		if c.n < c.size {
			return n, c.mismatch()
		}
		err = nil
	}
	return n, err
}

func (c *checkedSource) mismatch() error {
	return &backup.ChecksumError{Path: c.path, Reason: "it does not match the manifest"}
}
