// Package debootstrap makes a minimal Debian root file system in Go, the way
// `debootstrap --variant=minbase` does, with nothing installed on the host:
// it reads the mirror's signed InRelease and checks it against Debian's
// archive keys kept in this repository, resolves the required packages and
// apt, downloads each one and checks its sha256 against the signed index,
// and streams their contents as one tar for the engine's image import. The
// engine then finishes the install (dpkg's second stage) in a container of
// that image.
package debootstrap

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"pault.ag/go/debian/control"
)

//go:embed keys/*.gpg
var keyFiles embed.FS

// Keyring returns Debian's archive signing keys kept in the repository
// (from the debian-archive-keyring package).
func Keyring() (openpgp.EntityList, error) {
	entries, err := keyFiles.ReadDir("keys")
	if err != nil {
		return nil, err
	}
	var ring openpgp.EntityList
	for _, e := range entries {
		data, err := keyFiles.ReadFile("keys/" + e.Name())
		if err != nil {
			return nil, err
		}
		keys, err := openpgp.ReadKeyRing(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("keyring %s: %w", e.Name(), err)
		}
		ring = append(ring, keys...)
	}
	return ring, nil
}

// Release is the part of a suite's Release file osgs uses.
type Release struct {
	control.Paragraph
	Suite    string
	Codename string
	SHA256   []control.SHA256FileHash `control:"SHA256" delim:"\n" strip:"\n\r\t "`
}

// IndexError is a mirror whose index cannot be trusted: unsigned, signed by
// an unknown key, tampered with, or not the suite asked for.
type IndexError struct{ Mirror, Reason string }

func (i *IndexError) Error() string {
	return fmt.Sprintf("Debian mirror %s refused: %s", i.Mirror, i.Reason)
}

// ParseInRelease verifies a clearsigned InRelease file against keyring and
// returns the signed Release paragraph.
func ParseInRelease(data []byte, keyring openpgp.EntityList, mirror, suite string) (*Release, error) {
	block, _ := clearsign.Decode(data)
	if block == nil {
		return nil, &IndexError{mirror, "its InRelease is not signed"}
	}
	if _, err := openpgp.CheckDetachedSignature(keyring, bytes.NewReader(block.Bytes), block.ArmoredSignature.Body, nil); err != nil {
		return nil, &IndexError{mirror, "the signature of its InRelease does not verify against Debian's archive keys (" + oneLine(err.Error()) + ")"}
	}
	var r Release
	if err := control.Unmarshal(&r, bufio.NewReader(bytes.NewReader(block.Plaintext))); err != nil {
		return nil, &IndexError{mirror, "its Release does not parse: " + oneLine(err.Error())}
	}
	if r.Codename != suite && r.Suite != suite {
		return nil, &IndexError{mirror, fmt.Sprintf("it serves %q (%s), not %s", r.Codename, r.Suite, suite)}
	}
	return &r, nil
}

// Lookup returns the signed sha256 and size of a file of the suite.
func (r *Release) Lookup(name string) (control.SHA256FileHash, bool) {
	for _, h := range r.SHA256 {
		if h.Filename == name {
			return h, true
		}
	}
	return control.SHA256FileHash{}, false
}

// get fetches url; a status other than 200 is an error.
func get(ctx context.Context, c *http.Client, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	res, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		return nil, fmt.Errorf("fetch %s: %s", url, res.Status)
	}
	return res.Body, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

var errChecksum = errors.New("checksum mismatch")
