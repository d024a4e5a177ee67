package refusal

import (
	"io/fs"
	"testing"
)

func TestFileKind(t *testing.T) {
	for m, want := range map[fs.FileMode]string{
		0o644:                             "",
		fs.ModeDir | 0o755:                "",
		fs.ModeSymlink | 0o777:            "a symbolic link",
		fs.ModeNamedPipe:                  "a FIFO",
		fs.ModeSocket:                     "a socket",
		fs.ModeDevice:                     "a device",
		fs.ModeDevice | fs.ModeCharDevice: "a device",
		fs.ModeIrregular:                  "not a regular file",
	} {
		if got := FileKind(m); got != want {
			t.Errorf("FileKind(%v) = %q, want %q", m, got, want)
		}
	}
}
