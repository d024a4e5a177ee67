// Package backup makes, checks, restores and prunes backup sets.
//
// A set is a folder backups/<UTC timestamp>/ holding zstd-compressed streams
// (pg_dump custom-format dumps, SQL, tar streams of volumes), a copy of the
// configuration, and manifest.json with each file's sha256. Every stream is
// compressed as it passes, nothing is staged in a container or in /tmp:
// database dumps by zstd beside pg_dump in the server's image (see
// zstdScript), then checked here as they arrive; the rest in this process.
// A set is written under a temporary name, synced and renamed, so
// it appears only when complete. See backups/README.md for the format.
package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/seal"
)

// encoderOptions compress fast on all cores with bounded memory: several
// encoder goroutines each hold at most one window.
func encoderOptions() []zstd.EOption {
	n := runtime.GOMAXPROCS(0)
	if n > 4 {
		n = 4
	}
	return []zstd.EOption{
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(n),
		zstd.WithWindowSize(1 << 22),
		zstd.WithEncoderCRC(true),
	}
}

// CountingWriter counts the bytes on their way through to W.
type CountingWriter struct {
	W io.Writer
	N int64
}

func (c *CountingWriter) Write(p []byte) (int, error) {
	n, err := c.W.Write(p)
	c.N += int64(n)
	return n, err
}

// written is what writeCompressed reports about one file.
type written struct {
	Size    int64  // compressed bytes on disk
	RawSize int64  // bytes before compression
	SHA256  string // of the compressed file
}

// The transforms of one stored file, in order: compress (zstd), encrypt
// (age, when the set has recipients), then hash and count the stored bytes,
// which go to the file and to also (the mirror copy).
type transforms struct {
	compress   bool
	recipients []age.Recipient
}

// writeCompressed streams src through zstd (and age) into a new file at
// path. See writeStored.
func writeCompressed(path string, src io.Reader, progress, also io.Writer, rs []age.Recipient) (written, error) {
	return writeStored(path, src, progress, also, transforms{compress: true, recipients: rs})
}

// writePlain copies src (through age, with rs) into a new file at path.
func writePlain(path string, src io.Reader, also io.Writer, rs []age.Recipient) (written, error) {
	return writeStored(path, src, nil, also, transforms{recipients: rs})
}

// writeStored writes src through t into a new file at path (mode 0600),
// hashing what it stores, and syncs it. On any error the file is removed.
func writeStored(path string, src io.Reader, progress, also io.Writer, t transforms) (w written, err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return w, err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	h := sha256.New()
	sinks := []io.Writer{f, h}
	if also != nil {
		sinks = append(sinks, also)
	}
	out := &CountingWriter{W: io.MultiWriter(sinks...)}
	// Each stage writes into the next; closers run innermost first.
	var next io.Writer = out
	var closers []io.Closer
	if t.recipients != nil {
		enc, err := seal.Encrypt(next, t.recipients)
		if err != nil {
			return w, err
		}
		next, closers = enc, append(closers, enc)
	}
	if t.compress {
		enc, err := zstd.NewWriter(next, encoderOptions()...)
		if err != nil {
			return w, err
		}
		next, closers = enc, append(closers, enc)
	}
	in := &CountingWriter{W: next}
	var dst io.Writer = in
	if progress != nil {
		dst = io.MultiWriter(in, progress)
	}
	_, err = io.Copy(dst, src)
	for i := len(closers) - 1; i >= 0; i-- {
		if cerr := closers[i].Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return w, err
	}
	if err = f.Sync(); err != nil {
		return w, fmt.Errorf("sync %s: %w", filepath.Base(path), err)
	}
	if err = f.Close(); err != nil {
		return w, err
	}
	return written{Size: out.N, RawSize: in.N, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// zstdCheck decompresses a zstd stream written to it, in a goroutine of its
// own, into dst: it checks a stream compressed elsewhere as it passes and
// counts its decompressed bytes. A write fails once the stream is found bad.
type zstdCheck struct {
	pw   *io.PipeWriter
	done chan struct{}
	n    int64
	err  error
}

func newZstdCheck(dst io.Writer) *zstdCheck {
	pr, pw := io.Pipe()
	c := &zstdCheck{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		dec, err := newDecoder(pr)
		if err == nil {
			c.n, err = io.Copy(dst, dec)
			dec.Close()
		}
		if err != nil {
			c.err = fmt.Errorf("the zstd stream: %w", err)
			pr.CloseWithError(c.err)
			return
		}
		// Bytes after the stream's end (none from zstd) still drain.
		_, _ = io.Copy(io.Discard, pr)
	}()
	return c
}

func (c *zstdCheck) Write(p []byte) (int, error) { return c.pw.Write(p) }

// close ends the stream (with failed, when its writer failed) and returns
// the decompressed size and the stream's error.
func (c *zstdCheck) close(failed error) (int64, error) {
	if failed != nil {
		c.pw.CloseWithError(failed)
	} else {
		c.pw.Close()
	}
	<-c.done
	if failed != nil {
		return c.n, nil // the writer's error is the one to report
	}
	return c.n, c.err
}

// newDecoder decompresses a set's zstd stream from r: two goroutines, and
// little memory held between blocks.
func newDecoder(r io.Reader) (*zstd.Decoder, error) {
	return zstd.NewReader(r, zstd.WithDecoderConcurrency(2), zstd.WithDecoderLowmem(true))
}

// openDecompressed opens a set's .zst file (or .zst.age, decrypting it)
// for streaming decompression.
func openDecompressed(e *engine.Engine, path string) (io.ReadCloser, error) {
	f, err := openStored(e, path)
	if err != nil {
		return nil, err
	}
	dec, err := newDecoder(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &decompressed{dec: dec, f: f}, nil
}

type decompressed struct {
	dec *zstd.Decoder
	f   io.Closer
}

func (d *decompressed) Read(p []byte) (int, error) { return d.dec.Read(p) }

func (d *decompressed) Close() error {
	d.dec.Close()
	return d.f.Close()
}
