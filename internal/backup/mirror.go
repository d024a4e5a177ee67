package backup

import (
	"context"
	"fmt"
	"io"
)

// Mirror receives a copy of every file of a set as it is written, so that
// backup:all -push writes locally and remotely in one pass (offsite's
// mirror encrypts and uploads it). A failing mirror never fails the local
// set: Run commits the set and returns a *MirrorError.
type Mirror interface {
	// File starts the copy of rel (about size bytes, or -1).
	File(rel string, size int64) (MirrorFile, error)
	// Commit finishes the copy once the local set is complete in dir.
	Commit(ctx context.Context, dir string) error
	// Abort drops an unfinished copy.
	Abort()
}

// MirrorFile gets the stored bytes of one file.
type MirrorFile interface {
	io.Writer
	Close() error // the file is complete
	Abort(error)  // the file failed locally: drop it
}

// MirrorError reports a set that was written locally but not mirrored.
type MirrorError struct {
	Dir string
	Err error
}

func (m *MirrorError) Error() string {
	return fmt.Sprintf("the set %s was written, but its copy failed: %v (backup:push -set=%s sends it again)", m.Dir, m.Err, baseName(m.Dir))
}

func (m *MirrorError) Unwrap() error { return m.Err }

func baseName(dir string) string {
	for i := len(dir) - 1; i >= 0; i-- {
		if dir[i] == '/' {
			return dir[i+1:]
		}
	}
	return dir
}

// mirrorTo starts the mirror copy of rel; it returns nil when the set has
// no mirror or the mirror already failed.
func (s *Set) mirrorTo(rel string) *softCopy {
	s.mu.Lock()
	m, failed := s.mirror, s.mirrorErr != nil
	s.mu.Unlock()
	if m == nil || failed {
		return nil
	}
	f, err := m.File(rel, -1)
	if err != nil {
		s.mirrorFailed(err)
		return nil
	}
	return &softCopy{f: f, set: s}
}

func (s *Set) mirrorFailed(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mirrorErr == nil {
		s.mirrorErr = err
	}
}

// softCopy writes to a mirror file without ever failing the local write:
// after the first error it discards.
type softCopy struct {
	f   MirrorFile
	set *Set
	err error
}

func (c *softCopy) Write(p []byte) (int, error) {
	if c.err == nil {
		if _, err := c.f.Write(p); err != nil {
			c.err = err
			c.set.mirrorFailed(err)
		}
	}
	return len(p), nil
}

// finish closes the copy when the local file succeeded, else drops it.
func (c *softCopy) finish(local error) {
	if c == nil {
		return
	}
	if local != nil || c.err != nil {
		c.f.Abort(local)
		return
	}
	if err := c.f.Close(); err != nil {
		c.set.mirrorFailed(err)
	}
}

// writer is the copy as an io.Writer, or nil.
func (c *softCopy) writer() io.Writer {
	if c == nil {
		return nil
	}
	return c
}
