// Package offsite copies backup sets to and from a remote.Store, encrypted
// with age on their way out: push, pull, list and prune.
//
// A remote set is the folder <set>/ under the destination's URL:
//
//	<set>/<path>.age        every file of the local set, encrypted
//	<set>/manifest.json.age the local manifest, encrypted
//	<set>/index.json        the stored objects' sizes and sha256s (uploaded last)
//	<set>/verified.json     present when the set passed backup:verify
//
// A set is complete only when index.json is there, and it is written last:
// an upload killed halfway leaves no complete-looking set, and the next
// push redoes it. index.json holds no content of the database, only object
// names, sizes, checksums, dates and the public recipients.
package offsite

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/osgs/osgs/internal/backup"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/remote"
	"github.com/osgs/osgs/internal/seal"
	"github.com/osgs/osgs/internal/setsign"
)

// Format names the remote layout; an index of another format is foreign.
const Format = "osgs-remote/1"

// Object names inside a remote set.
const (
	IndexName    = "index.json"
	ManifestKey  = "manifest.json" + seal.Ext
	VerifiedName = "verified.json"
)

// Index describes a complete remote set.
type Index struct {
	Format     string    `json:"format"`
	Set        string    `json:"set"`
	Project    string    `json:"project"`
	Created    time.Time `json:"created"`
	Pushed     time.Time `json:"pushed"`
	Recipients []string  `json:"recipients"` // the public keys it was encrypted to
	Files      []Stored  `json:"files"`      // the manifest is the one with Path manifest.json
}

// Stored is one encrypted object of a remote set.
type Stored struct {
	Key    string `json:"key"`  // inside the set folder
	Path   string `json:"path"` // the local file it holds
	Size   int64  `json:"size"` // stored (encrypted) bytes
	SHA256 string `json:"sha256"`
	// AsStored: the local file was encrypted already (BACKUP_LOCAL_ENCRYPT),
	// so the object is that file, byte for byte, and pulls keep it so.
	AsStored bool `json:"as_stored,omitempty"`
}

// StoredAs names the object of a set file: "<path>.age", or the path itself
// when the local file is encrypted already.
func StoredAs(path string) Stored {
	if strings.HasSuffix(path, seal.Ext) {
		return Stored{Key: path, Path: path, AsStored: true}
	}
	return Stored{Key: path + seal.Ext, Path: path}
}

// Remote is an open destination.
type Remote struct {
	Name  string
	Store remote.Store
	// recipients are set when the checkout can push (BACKUP_AGE_RECIPIENTS).
	recipients []age.Recipient
	keys       []string
	recErr     error
	// signer signs the indexes this site pushes; trusted are the keys
	// whose sets it accepts (backup.TrustedKeys).
	signer  ed25519.PrivateKey
	trusted []ed25519.PublicKey
}

// Lookup reads a setting of e: .env first, then the process environment.
func Lookup(e *engine.Engine) func(string) string { return e.Setting }

// Destinations lists e's configured destinations.
func Destinations(e *engine.Engine) ([]remote.Destination, error) {
	settings := e.Env.Map()
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); settings[k] == "" && strings.HasPrefix(k, remote.RemoteKey) {
			settings[k] = v
		}
	}
	return remote.Destinations(settings)
}

// Open connects to the destination called name ("" for the default).
func Open(ctx context.Context, e *engine.Engine, name string) (*Remote, error) {
	dests, err := Destinations(e)
	if err != nil {
		return nil, err
	}
	d, err := remote.Pick(dests, name)
	if err != nil {
		return nil, err
	}
	lookup := Lookup(e)
	s, err := remote.Open(ctx, d.URL, remote.Config{Name: d.Name, Dir: e.Dir, Lookup: lookup})
	if err != nil {
		return nil, fmt.Errorf("backup destination %s: %w", d.Name, err)
	}
	r := &Remote{Name: d.Name, Store: s}
	r.recipients, r.keys, r.recErr = seal.Recipients(lookup(seal.RecipientsKey))
	if r.signer, err = backup.Signer(e); err == nil {
		r.trusted, err = backup.TrustedKeys(e)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return r, nil
}

// Close disconnects.
func (r *Remote) Close() error { return r.Store.Close() }

func (r *Remote) String() string { return r.Store.String() }

// readIndex loads and checks the index of set; os.ErrNotExist when the set
// is not complete there.
func (r *Remote) readIndex(ctx context.Context, set string) (*Index, error) {
	rc, err := r.Store.Get(ctx, path.Join(set, IndexName))
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("%s%s: %w", r, path.Join(set, IndexName), err)
	}
	var ix Index
	if err := json.Unmarshal(data, &ix); err != nil {
		return nil, fmt.Errorf("%s%s: corrupt index: %v", r, path.Join(set, IndexName), err)
	}
	if ix.Format != Format {
		return nil, fmt.Errorf("%s%s: foreign format %q (want %q)", r, path.Join(set, IndexName), ix.Format, Format)
	}
	for _, f := range ix.Files {
		if !safe(f.Key) || !safe(f.Path) {
			return nil, fmt.Errorf("%s%s: the index names an unsafe path %q", r, path.Join(set, IndexName), f.Path)
		}
	}
	return &ix, nil
}

// complete reports whether set is complete at r.
func (r *Remote) complete(ctx context.Context, set string) (bool, error) {
	_, err := r.readIndex(ctx, set)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// IndexSigName is the signature of a set's index.json.
const IndexSigName = "index.sig"

// putIndex uploads the set's signed index: its signature, then the index,
// which completes the set.
func (r *Remote) putIndex(ctx context.Context, ix Index) error {
	data, err := json.MarshalIndent(ix, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	sig := setsign.Sign(r.signer, data)
	if err := r.Store.Put(ctx, path.Join(ix.Set, IndexSigName), bytes.NewReader(sig), int64(len(sig))); err != nil {
		return err
	}
	return r.Store.Put(ctx, path.Join(ix.Set, IndexName), bytes.NewReader(data), int64(len(data)))
}

// verifyIndex refuses a set whose index is not signed by a trusted key
// (and extra, an identity file's): anyone who can write to the bucket can
// make a set that decrypts, since the age recipients are public.
func (r *Remote) verifyIndex(ctx context.Context, set string, extra []ed25519.PublicKey) error {
	read := func(name string) ([]byte, error) {
		rc, err := r.Store.Get(ctx, path.Join(set, name))
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(io.LimitReader(rc, 16<<20))
	}
	data, err := read(IndexName)
	if err != nil {
		return err
	}
	sig, err := read(IndexSigName)
	if errors.Is(err, os.ErrNotExist) {
		sig, err = nil, nil
	}
	if err != nil {
		return err
	}
	return setsign.Verify(r.String()+path.Join(set, IndexName), data, sig, append(append([]ed25519.PublicKey(nil), r.trusted...), extra...))
}

// putJSON uploads v as a small plaintext object.
func (r *Remote) putJSON(ctx context.Context, key string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	return r.Store.Put(ctx, key, bytes.NewReader(data), int64(len(data)))
}

// safe reports whether p is a plain relative path inside a set.
func safe(p string) bool {
	return p != "" && !path.IsAbs(p) && path.Clean(p) == p && p != ".." && !strings.HasPrefix(p, "../")
}
