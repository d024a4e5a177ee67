package backup

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// summarizeTar reads a tar stream to its end (past the end-of-archive
// blocks) and summarizes its entries.
func summarizeTar(r io.Reader) (TarSummary, error) {
	var s TarSummary
	h := sha256.New()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return s, fmt.Errorf("volume archive: %w", err)
		}
		n, err := io.Copy(io.Discard, tr)
		if err != nil {
			return s, fmt.Errorf("volume archive: %s: %w", hdr.Name, err)
		}
		s.Entries++
		if hdr.Typeflag == tar.TypeReg {
			s.Bytes += n
		}
		line := string(hdr.Typeflag) + "\x00" + hdr.Name + "\x00" + strconv.FormatInt(hdr.Size, 10) + "\x00" +
			strconv.FormatInt(hdr.Mode, 8) + "\x00" + strconv.Itoa(hdr.Uid) + ":" + strconv.Itoa(hdr.Gid) + "\x00" +
			hdr.Linkname + "\x00" + strconv.FormatInt(hdr.ModTime.Unix(), 10) + "\n"
		h.Write([]byte(line))
	}
	// The end-of-archive blocks and the engine's padding.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return s, err
	}
	s.Digest = hex.EncodeToString(h.Sum(nil))
	return s, nil
}

// TarMismatchError is a volume archive whose entries differ from what its
// manifest recorded when it was written.
type TarMismatchError struct {
	Path      string
	Got, Want TarSummary
}

func (t *TarMismatchError) Error() string {
	if t.Got.Entries == t.Want.Entries && t.Got.Bytes == t.Want.Bytes {
		return fmt.Sprintf("volume archive %s: its entries' headers differ from those its manifest recorded", t.Path)
	}
	return fmt.Sprintf("volume archive %s holds %d entries (%d bytes); its manifest recorded %d (%d bytes)",
		t.Path, t.Got.Entries, t.Got.Bytes, t.Want.Entries, t.Want.Bytes)
}
