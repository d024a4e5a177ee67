package backup

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func tarBytes(t *testing.T, n int, truncate bool) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "data/", Mode: 0o755, ModTime: time.Unix(1e9, 0)})
	for i := range n {
		body := bytes.Repeat([]byte{byte('a' + i)}, 1000+i)
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "data/f" + string(rune('a'+i)), Mode: 0o640, Size: int64(len(body)), Uid: 1000, ModTime: time.Unix(1e9, 0)})
		tw.Write(body)
	}
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "data/link", Linkname: "fa", ModTime: time.Unix(1e9, 0)})
	tw.Close()
	if truncate {
		return b.Bytes()[:1500]
	}
	return b.Bytes()
}

func TestSummarizeTar(t *testing.T) {
	sum, err := summarizeTar(bytes.NewReader(tarBytes(t, 3, false)))
	if err != nil || sum.Entries != 5 || sum.Bytes != 1000+1001+1002 || len(sum.Digest) != 64 {
		t.Fatalf("%+v %v", sum, err)
	}
	if _, err := summarizeTar(bytes.NewReader(tarBytes(t, 3, true))); err == nil {
		t.Fatal("a torn archive summarized")
	}
}

// TestVerifyVolumeReadsToTheEnd: an archive whose checksum is fine but that
// lost entries, or was torn, fails verify.
func TestVerifyVolumeReadsToTheEnd(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) Entry {
		t.Helper()
		w, err := writeCompressed(filepath.Join(dir, name), bytes.NewReader(data), nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		return Entry{Path: name, Kind: KindVolume, Size: w.Size, SHA256: w.SHA256}
	}
	full, _ := summarizeTar(bytes.NewReader(tarBytes(t, 3, false)))

	good := write("good.tar.zst", tarBytes(t, 3, false))
	good.Tar = &full
	if err := verifyVolume(nil, dir, good); err != nil {
		t.Fatalf("a whole archive: %v", err)
	}
	short := write("short.tar.zst", tarBytes(t, 2, false))
	short.Tar = &full
	var mm *TarMismatchError
	if err := verifyVolume(nil, dir, short); !errors.As(err, &mm) || mm.Got.Entries != 4 {
		t.Fatalf("an archive that lost an entry: %v", err)
	}
	torn := write("torn.tar.zst", tarBytes(t, 3, true))
	torn.Tar = &full
	var ce *ChecksumError
	if err := verifyVolume(nil, dir, torn); !errors.As(err, &ce) {
		t.Fatalf("a torn archive: %v", err)
	}
	os.Remove(filepath.Join(dir, "good.tar.zst"))
	if err := verifyVolume(nil, dir, good); err == nil {
		t.Fatal("a missing archive verified")
	}
}
