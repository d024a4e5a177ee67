package backup

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"filippo.io/age"

	"github.com/osgs/osgs/internal/seal"
)

// Version is written into manifests.
var Version = "0.1.0"

// TimeFormat names set folders: sortable UTC timestamps.
const TimeFormat = "20060102T150405Z"

const tmpPrefix = ".tmp-"

// Set is a backup set being written.
type Set struct {
	Root  string // the backups folder
	Name  string // final folder name
	tmp   string
	mu    sync.Mutex
	files []Entry
	lock  *os.File
	// signer signs the manifest at Commit (nil: the set is not signed).
	signer ed25519.PrivateKey
	// mirror, when set, gets a copy of every file as it is written.
	mirror    Mirror
	mirrorErr error
	// recipients, when set, turn on the encrypt transform: every file is
	// stored as "<rel>.age".
	recipients []age.Recipient
}

// LockedError reports another backup in progress.
type LockedError struct{ Dir string }

func (l *LockedError) Error() string {
	return fmt.Sprintf("another backup is running in %s (it holds %s/.lock); try again when it ends", l.Dir, l.Dir)
}

// LockDir takes the backups folder's lock without waiting: backups,
// prunes, pushes and pulls of one folder run one at a time.
func LockDir(root string) (*os.File, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(root, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{Dir: root}
		}
		return nil, err
	}
	return f, nil
}

// NewSet locks root and starts a set named after now. Leftovers of sets that
// were interrupted (temporary folders) are removed first: holding the lock
// proves nobody is writing them.
func NewSet(root string, now time.Time) (*Set, error) {
	lock, err := LockDir(root)
	if err != nil {
		return nil, err
	}
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), tmpPrefix) {
			os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
	name := now.UTC().Format(TimeFormat)
	if _, err := os.Stat(filepath.Join(root, name)); err == nil {
		lock.Close()
		return nil, fmt.Errorf("backup set %s already exists", name)
	}
	tmp := filepath.Join(root, tmpPrefix+name)
	if err := os.Mkdir(tmp, 0o700); err != nil {
		lock.Close()
		return nil, err
	}
	return &Set{Root: root, Name: name, tmp: tmp, lock: lock}, nil
}

// path makes the folder of rel inside the temporary set and returns its path.
func (s *Set) path(rel string) (string, error) {
	p := filepath.Join(s.tmp, filepath.FromSlash(rel))
	return p, os.MkdirAll(filepath.Dir(p), 0o700)
}

// stored is the name rel is stored under: rel, or rel.age when encrypted.
func (s *Set) stored(rel string) string {
	if s.recipients != nil {
		return rel + seal.Ext
	}
	return rel
}

// AddStream compresses (and encrypts) src into rel and records it with the
// facts in e. The entry's path is the stored name.
func (s *Set) AddStream(rel string, src io.Reader, e Entry, progress io.Writer) (Entry, error) {
	return s.store(rel, e, progress, func(p string, also io.Writer) (written, error) {
		return writeCompressed(p, src, progress, also, s.recipients)
	})
}

// AddZstd stores src, a zstd stream compressed elsewhere, as it is (through
// age when the set is encrypted), and records it with the facts in e. The
// stream is decompressed as it passes, which checks it (a bad or cut-short
// frame fails the file) and counts RawSize; progress and raw get the
// decompressed bytes.
func (s *Set) AddZstd(rel string, src io.Reader, e Entry, progress, raw io.Writer) (Entry, error) {
	var sinks []io.Writer
	for _, w := range []io.Writer{progress, raw} {
		if w != nil {
			sinks = append(sinks, w)
		}
	}
	return s.store(rel, e, progress, func(p string, also io.Writer) (written, error) {
		check := newZstdCheck(io.MultiWriter(sinks...))
		w, err := writeStored(p, io.TeeReader(src, check), nil, also, transforms{recipients: s.recipients})
		rawSize, cerr := check.close(err)
		if err == nil && cerr != nil {
			os.Remove(p)
			return w, cerr
		}
		w.RawSize = rawSize
		return w, err
	})
}

// AddFile copies a local file into the set uncompressed (and encrypted),
// mode 0600.
func (s *Set) AddFile(rel, src string, e Entry) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	_, err = s.store(rel, e, nil, func(p string, also io.Writer) (written, error) {
		return writePlain(p, in, also, s.recipients)
	})
	return err
}

// store writes a file of the set under rel's stored name with write, which
// also copies the stored bytes to the mirror, and records it with the facts
// in e. progress, when it has Done, is told of a success.
func (s *Set) store(rel string, e Entry, progress io.Writer, write func(path string, also io.Writer) (written, error)) (Entry, error) {
	rel = s.stored(rel)
	p, err := s.path(rel)
	if err != nil {
		return e, err
	}
	c := s.mirrorTo(rel)
	w, err := write(p, c.writer())
	c.finish(err)
	if d, ok := progress.(interface{ Done() }); ok && err == nil {
		d.Done()
	}
	if err != nil {
		return e, fmt.Errorf("write %s: %w", rel, err)
	}
	e.Path, e.Size, e.RawSize, e.SHA256 = rel, w.Size, w.RawSize, w.SHA256
	s.add(e)
	return e, nil
}

// update changes the recorded entry of an added file (rel as added).
func (s *Set) update(rel string, f func(*Entry)) {
	rel = s.stored(rel)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.files {
		if s.files[i].Path == rel {
			f(&s.files[i])
		}
	}
}

// drop forgets and deletes an added file (rel as added).
func (s *Set) drop(rel string) {
	rel = s.stored(rel)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.files {
		if s.files[i].Path == rel {
			s.files = append(s.files[:i], s.files[i+1:]...)
			break
		}
	}
	os.Remove(filepath.Join(s.tmp, filepath.FromSlash(rel)))
}

func (s *Set) add(e Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files = append(s.files, e)
}

// Commit writes the manifest, syncs the folder and renames it into place.
func (s *Set) Commit(project string, created time.Time) (string, error) {
	defer s.unlock()
	sort.Slice(s.files, func(i, j int) bool { return s.files[i].Path < s.files[j].Path })
	m := Manifest{Format: Format, OSGSVersion: Version, Project: project, Created: created.UTC(), Files: s.files}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", err
	}
	if _, err := writePlain(filepath.Join(s.tmp, ManifestName), strings.NewReader(string(data)+"\n"), nil, nil); err != nil {
		return "", fmt.Errorf("write manifest: %w", err)
	}
	if s.signer != nil {
		if err := writeSignature(s.tmp, s.signer); err != nil {
			return "", fmt.Errorf("sign the manifest: %w", err)
		}
	}
	if err := syncTree(s.tmp); err != nil {
		return "", err
	}
	final := filepath.Join(s.Root, s.Name)
	if err := os.Rename(s.tmp, final); err != nil {
		return "", err
	}
	if err := syncDir(s.Root); err != nil {
		return "", err
	}
	return final, nil
}

// Abort removes the unfinished set.
func (s *Set) Abort() {
	os.RemoveAll(s.tmp)
	s.unlock()
}

func (s *Set) unlock() {
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// syncTree syncs every folder below and including dir (files are synced as written).
func syncTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return syncDir(p)
		}
		return nil
	})
}

// ctxReader stops a copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
