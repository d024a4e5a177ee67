// Package refusal holds the one error every osgs package wraps when it
// refuses a request before anything changed (bad input: a hostile file, a
// path outside a volume, a dump that would run a program). The targets
// turn it into exit code 2. It imports only the standard library, so pure packages with fuzz
// targets can use it.
package refusal

import (
	"errors"
	"io/fs"
)

// Err marks a request refused before anything changed.
var Err = errors.New("refused")

// FileKind names a file that is neither a regular file nor a folder, with
// its article ("a symbolic link", "a FIFO", "a socket", "a device"), for
// the refusals of files osgs will not read or send; "" for a regular file
// or a folder.
func FileKind(m fs.FileMode) string {
	switch t := m.Type(); {
	case t == 0 || t == fs.ModeDir:
		return ""
	case t&fs.ModeSymlink != 0:
		return "a symbolic link"
	case t&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case t&fs.ModeSocket != 0:
		return "a socket"
	case t&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}
