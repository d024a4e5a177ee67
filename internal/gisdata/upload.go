package gisdata

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/osgs/osgs/internal/refusal"
	"github.com/osgs/osgs/internal/tools"
)

// upload streams the source's files into the helper's scratch folder as a
// tar made on the fly: nothing is staged on this host.
func upload(ctx context.Context, h *tools.Helper, s *Source, p *Progress) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(pw, s, p)) }()
	p.Step("upload " + filepath.Base(s.Path))
	err := h.Put(ctx, pr)
	pr.CloseWithError(fmt.Errorf("upload stopped"))
	if err != nil {
		return err
	}
	p.Done(fmt.Sprintf("%d files, %d bytes", len(s.Files), s.Size))
	return nil
}

func writeTar(w io.Writer, s *Source, p *Progress) error {
	tw := tar.NewWriter(w)
	cr := &countingReader{total: s.Size, p: p}
	dirs := map[string]bool{}
	for _, rel := range s.Files {
		for d := filepath.Dir(rel); d != "." && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	for d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: filepath.ToSlash(d) + "/", Mode: 0o700, Uid: tools.UID, Gid: tools.UID}); err != nil {
			return err
		}
	}
	for _, rel := range s.Files {
		// Never through a link, and never blocking on a FIFO put in a
		// file's place since ResolveSource looked.
		f, err := os.OpenFile(filepath.Join(s.Root, rel), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
		if err != nil {
			return refuse("%s: %v", rel, err)
		}
		fi, err := f.Stat()
		if err == nil && !fi.Mode().IsRegular() {
			err = refuse("%s: %s, not a regular file", rel, refusal.FileKind(fi.Mode()))
		}
		if err != nil {
			f.Close()
			return err
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: filepath.ToSlash(rel), Mode: 0o600, Size: fi.Size(), Uid: tools.UID, Gid: tools.UID, ModTime: fi.ModTime()}
		if err := tw.WriteHeader(hdr); err != nil {
			f.Close()
			return err
		}
		cr.r = io.LimitReader(f, fi.Size())
		n, err := io.Copy(tw, cr)
		f.Close()
		if err != nil {
			return fmt.Errorf("read %s: %w", rel, err)
		}
		if n != fi.Size() {
			return fmt.Errorf("read %s: the file shrank while it was read", rel)
		}
	}
	return tw.Close()
}

// PutFiles streams host files (relative to root) into the helper's /work.
func PutFiles(ctx context.Context, h *tools.Helper, root string, files []string) error {
	s := &Source{Root: root, Files: files}
	for _, f := range files {
		s.Size += sizeOf(filepath.Join(root, f))
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(pw, s, nil)) }()
	err := h.Put(ctx, pr)
	pr.Close()
	return err
}

// Upload streams one host file into the helper's /work under its base name.
func Upload(ctx context.Context, h *tools.Helper, file string, p *Progress) error {
	abs, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	s := &Source{Path: file, Root: filepath.Dir(abs), Files: []string{filepath.Base(abs)}, Size: sizeOf(abs)}
	return upload(ctx, h, s, p)
}
