// Package backup makes, checks, restores and prunes backup sets.
//
// A set is a folder backups/<UTC timestamp>/ holding zstd-compressed streams
// (pg_dump custom-format dumps, SQL, tar streams of volumes), a copy of the
// configuration, and manifest.json with each file's sha256. Every stream is
// compressed in this process as it arrives: nothing is staged in a container
// or in /tmp. A set is written under a temporary name, synced and renamed, so
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

	"github.com/klauspost/compress/zstd"
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

// countingWriter counts bytes on their way through.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// written is what writeCompressed reports about one file.
type written struct {
	Size    int64  // compressed bytes on disk
	RawSize int64  // bytes before compression
	SHA256  string // of the compressed file
}

// writeCompressed streams src through zstd into a new file at path, hashing
// what it writes (and copying it to also, when not nil), and syncs it. On
// any error the file is removed.
func writeCompressed(path string, src io.Reader, progress, also io.Writer) (w written, err error) {
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
	out := &countingWriter{w: io.MultiWriter(sinks...)}
	enc, err := zstd.NewWriter(out, encoderOptions()...)
	if err != nil {
		return w, err
	}
	in := &countingWriter{w: enc}
	var dst io.Writer = in
	if progress != nil {
		dst = io.MultiWriter(in, progress)
	}
	if _, err = io.Copy(dst, src); err != nil {
		enc.Close()
		return w, err
	}
	if err = enc.Close(); err != nil {
		return w, err
	}
	if err = f.Sync(); err != nil {
		return w, fmt.Errorf("sync %s: %w", filepath.Base(path), err)
	}
	if err = f.Close(); err != nil {
		return w, err
	}
	return written{Size: out.n, RawSize: in.n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// writePlain copies src into a new file at path with mode, hashed and synced.
func writePlain(path string, src io.Reader, mode os.FileMode) (written, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return written{}, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), src)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return written{}, err
	}
	return written{Size: n, RawSize: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// openDecompressed opens a .zst file for streaming decompression.
func openDecompressed(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(2), zstd.WithDecoderLowmem(true))
	if err != nil {
		f.Close()
		return nil, err
	}
	return &decompressed{dec: dec, f: f}, nil
}

type decompressed struct {
	dec *zstd.Decoder
	f   *os.File
}

func (d *decompressed) Read(p []byte) (int, error) { return d.dec.Read(p) }

func (d *decompressed) Close() error {
	d.dec.Close()
	return d.f.Close()
}
