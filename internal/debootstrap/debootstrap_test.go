package debootstrap

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"pault.ag/go/debian/control"
)

const packages = `Package: base
Priority: required
Architecture: amd64
Version: 1
Pre-Depends: libc
Depends: awk | mawk, sh

Package: libc
Priority: optional
Architecture: amd64
Version: 2

Package: mawk
Priority: optional
Architecture: amd64
Version: 1
Provides: awk

Package: dash
Priority: optional
Architecture: amd64
Version: 1
Provides: sh

Package: apt
Priority: important
Architecture: amd64
Version: 1
Depends: libc (>= 2), gpgv | gpgv2

Package: gpgv
Priority: optional
Architecture: amd64
Version: 1

Package: other-arch
Priority: required
Architecture: arm64
Version: 1

Package: doc
Priority: required
Architecture: all
Version: 1
`

func testIndex(t *testing.T) *Index {
	t.Helper()
	pkgs, err := control.ParseBinaryIndex(bufio.NewReader(strings.NewReader(packages)))
	if err != nil {
		t.Fatal(err)
	}
	return NewIndex(pkgs, "amd64")
}

func TestMinbaseResolution(t *testing.T) {
	got, err := testIndex(t).Minbase("apt")
	if err != nil {
		t.Fatal(err)
	}
	// required packages of this arch and all, apt, and their dependencies
	// through real packages and providers of virtual ones.
	if want := "apt base dash doc gpgv libc mawk"; strings.Join(got, " ") != want {
		t.Fatalf("minbase = %v, want %s", got, want)
	}
	if _, err := testIndex(t).Resolve([]string{"nonesuch"}); err == nil {
		t.Fatal("an unknown package resolved")
	}
	ix := testIndex(t)
	ix.Packages["apt"].Values["Depends"] = "missing-lib"
	if _, err := ix.Minbase("apt"); err == nil || !strings.Contains(err.Error(), "missing-lib") {
		t.Fatalf("an unsatisfiable dependency: %v", err)
	}
}

func TestMergedUsr(t *testing.T) {
	for in, want := range map[string]string{"./bin/ls": "usr/bin/ls", "./bin/": "usr/bin", "./sbin/x": "usr/sbin/x", "./lib/x86_64-linux-gnu/libc.so.6": "usr/lib/x86_64-linux-gnu/libc.so.6",
		"./lib64/ld.so": "usr/lib64/ld.so", "./usr/bin/env": "usr/bin/env", "./etc/passwd": "etc/passwd", "./libexec/x": "libexec/x", "./binx": "binx"} {
		if got := mergedName(in); got != want {
			t.Errorf("%s -> %s, want %s", in, got, want)
		}
	}
}

// TestUnknownSignerIsRefused: a Release signed by a key that is not one of
// Debian's archive keys, or not signed at all, is refused.
func TestUnknownSignerIsRefused(t *testing.T) {
	ring, err := Keyring()
	if err != nil || len(ring) < 3 {
		t.Fatalf("keyring: %d keys, %v", len(ring), err)
	}
	release := "Codename: bookworm\nSuite: oldstable\nSHA256:\n 0000 1 main/binary-amd64/Packages.xz\n"
	if _, err := ParseInRelease([]byte(release), ring, "m", "bookworm"); !isIndexError(err, "not signed") {
		t.Fatalf("unsigned: %v", err)
	}
	key, err := openpgp.NewEntity("mallory", "", "mallory@example.org", nil)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	w, err := clearsign.Encode(&b, key.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, release)
	w.Close()
	if _, err := ParseInRelease(b.Bytes(), ring, "m", "bookworm"); !isIndexError(err, "does not verify") {
		t.Fatalf("signed by an unknown key: %v", err)
	}
	// The same key in the keyring: accepted, and the suite is checked.
	if r, err := ParseInRelease(b.Bytes(), openpgp.EntityList{key}, "m", "bookworm"); err != nil || len(r.SHA256) != 1 {
		t.Fatalf("a known key: %v %+v", err, r)
	}
	if _, err := ParseInRelease(b.Bytes(), openpgp.EntityList{key}, "m", "trixie"); !isIndexError(err, "not trixie") {
		t.Fatalf("another suite: %v", err)
	}
}

func isIndexError(err error, part string) bool {
	var ie *IndexError
	return errors.As(err, &ie) && strings.Contains(err.Error(), part)
}

// tamperingMirror serves Debian's real mirror through loopback, changing
// what change says.
func tamperingMirror(t *testing.T, change func(path string, body []byte) []byte) string {
	t.Helper()
	if _, err := http.Head(DefaultMirror + "/dists/bookworm/InRelease"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Debian's mirror does not answer: %v", err)
		}
		t.Skipf("Debian's mirror does not answer: %v", err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := http.Get(DefaultMirror + r.URL.Path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		w.WriteHeader(res.StatusCode)
		w.Write(change(r.URL.Path, body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func flip(b []byte) []byte {
	b = bytes.Clone(b)
	b[len(b)/2] ^= 0x01
	return b
}

// TestTamperedMirrorIsRefused: a mirror whose InRelease, Packages index or
// a package was changed is refused with one line, before anything is made.
func TestTamperedMirrorIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(path string, body []byte) []byte
		check  func(error) bool
	}{
		{"a changed InRelease", func(p string, b []byte) []byte {
			if strings.HasSuffix(p, "/InRelease") {
				return bytes.Replace(b, []byte("Codename: bookworm"), []byte("Codename: bookwork"), 1)
			}
			return b
		}, func(err error) bool { return isIndexError(err, "does not verify") }},
		{"an unsigned InRelease", func(p string, b []byte) []byte {
			if strings.HasSuffix(p, "/InRelease") {
				if block, _ := clearsign.Decode(b); block != nil {
					return block.Plaintext
				}
			}
			return b
		}, func(err error) bool { return isIndexError(err, "not signed") }},
		{"a changed Packages index", func(p string, b []byte) []byte {
			if strings.HasSuffix(p, "/Packages.xz") {
				return flip(b)
			}
			return b
		}, func(err error) bool {
			var ce *ChecksumError
			return errors.As(err, &ce) && strings.Contains(err.Error(), "Packages.xz")
		}},
		{"a changed package", func(p string, b []byte) []byte {
			if strings.HasSuffix(p, ".deb") {
				return flip(b)
			}
			return b
		}, func(err error) bool {
			var ce *ChecksumError
			return errors.As(err, &ce) && strings.Contains(err.Error(), ".deb")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mirror := tamperingMirror(t, tc.change)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			_, err := Build(ctx, Options{Mirror: mirror}, io.Discard)
			if !tc.check(err) {
				t.Fatalf("err = %v", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("not one line: %q", err)
			}
		})
	}
}
