package offsite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"sync"
	"time"

	"github.com/osgs/osgs/internal/backup"
	"github.com/osgs/osgs/internal/seal"
)

// Mirror is a backup.Mirror that encrypts and uploads each file of the set
// called set while backup.Run writes it (backup:all -push: one pass); the
// manifest and last the index follow once the local set is complete.
func (r *Remote) Mirror(ctx context.Context, set string) (backup.Mirror, error) {
	if r.recErr != nil {
		return nil, r.recErr
	}
	if err := r.clearIncomplete(ctx, set); err != nil {
		return nil, err
	}
	return &mirror{r: r, ctx: ctx, set: set}, nil
}

// clearIncomplete removes what an unfinished upload of set left.
func (r *Remote) clearIncomplete(ctx context.Context, set string) error {
	if err := r.Store.Clean(ctx, set+"/"); err != nil {
		return err
	}
	left, err := r.Store.List(ctx, set+"/")
	if err != nil {
		return err
	}
	for _, o := range left {
		if err := r.Store.Delete(ctx, o.Key); err != nil {
			return fmt.Errorf("remove the unfinished upload of %s: %w", set, err)
		}
	}
	return nil
}

type mirror struct {
	r     *Remote
	ctx   context.Context
	set   string
	mu    sync.Mutex
	files []Stored
	once  sync.Once
}

// mirrorFile streams one file: Write → age → hash and count → pipe → Put.
type mirrorFile struct {
	m       *mirror
	st      Stored
	enc     io.WriteCloser
	pw      *io.PipeWriter
	counted *backup.CountingWriter
	hash    interface{ Sum([]byte) []byte }
	done    chan error
}

func (m *mirror) File(rel string, size int64) (backup.MirrorFile, error) {
	pr, pw := io.Pipe()
	h := sha256.New()
	counted := &backup.CountingWriter{W: io.MultiWriter(pw, h)}
	f := &mirrorFile{m: m, st: StoredAs(rel), pw: pw, counted: counted, hash: h, done: make(chan error, 1)}
	// The upload reads first: age writes its header as the stream opens.
	go func() {
		err := m.r.Store.Put(m.ctx, path.Join(m.set, f.st.Key), pr, size)
		if err == nil {
			err = io.ErrClosedPipe // writes after the end fail
		}
		pr.CloseWithError(err)
		if err == io.ErrClosedPipe {
			err = nil
		}
		f.done <- err
	}()
	if f.st.AsStored { // encrypted by the set already
		f.enc = nopCloser{counted}
		return f, nil
	}
	enc, err := seal.Encrypt(counted, m.r.recipients)
	if err != nil {
		pw.CloseWithError(err)
		<-f.done
		return nil, err
	}
	f.enc = enc
	return f, nil
}

func (f *mirrorFile) Write(p []byte) (int, error) { return f.enc.Write(p) }

func (f *mirrorFile) Close() error {
	err := f.enc.Close()
	f.pw.CloseWithError(err)
	if perr := <-f.done; perr != nil {
		err = perr
	}
	if err != nil {
		return fmt.Errorf("push %s/%s: %w", f.m.set, f.st.Path, err)
	}
	f.st.Size, f.st.SHA256 = f.counted.N, hex.EncodeToString(f.hash.Sum(nil))
	f.m.mu.Lock()
	f.m.files = append(f.m.files, f.st)
	f.m.mu.Unlock()
	return nil
}

func (f *mirrorFile) Abort(err error) {
	if err == nil {
		err = errors.New("aborted")
	}
	f.pw.CloseWithError(err)
	<-f.done
}

// Commit uploads the manifest, then the index that completes the set.
func (m *mirror) Commit(ctx context.Context, dir string) error {
	mf, err := backup.ReadManifest(dir)
	if err != nil {
		return err
	}
	var signed []Stored
	for _, name := range []string{backup.ManifestName, backup.SignatureName} {
		st, err := m.r.pushFile(ctx, dir, m.set, backup.Entry{Path: name})
		if err != nil {
			return err
		}
		signed = append(signed, st)
	}
	m.mu.Lock()
	files := append(append([]Stored(nil), m.files...), signed...)
	m.mu.Unlock()
	if len(files) != len(mf.Files)+2 {
		return fmt.Errorf("push %s: %d of %d files were copied", m.set, len(files)-2, len(mf.Files))
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	ix := Index{Format: Format, Set: m.set, Project: mf.Project, Created: mf.Created, Pushed: time.Now().UTC(), Recipients: m.r.keys, Files: files}
	return m.r.putIndex(ctx, ix)
}

// Abort removes what was uploaded (best effort: the next push of the set
// clears leftovers too).
func (m *mirror) Abort() {
	m.once.Do(func() { _ = m.r.clearIncomplete(context.WithoutCancel(m.ctx), m.set) })
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
