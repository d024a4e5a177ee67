package debootstrap

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/ulikunitz/xz"
	"pault.ag/go/debian/control"
	"pault.ag/go/debian/deb"
)

// DefaultMirror is Debian's redirector; OSGS_DEBIAN_MIRROR names another
// (a local mirror, for air-gapped sites).
const DefaultMirror = "http://deb.debian.org/debian"

// DebsDir is where the first stage leaves the .deb files in the image, for
// the second stage to install with dpkg.
const DebsDir = "/var/cache/osgs-debs"

// SecondStage is the script, in the image, that finishes the install.
const SecondStage = "/osgs-second-stage.sh"

//go:embed second-stage.sh
var secondStage []byte

// Options configure Build.
type Options struct {
	Mirror string       // default DefaultMirror
	Suite  string       // default bookworm
	Arch   string       // Debian architecture; default from GOARCH
	HTTP   *http.Client // default http.DefaultClient
	Log    io.Writer    // progress lines; nil for none
}

func (o *Options) defaults() {
	if o.Mirror == "" {
		o.Mirror = DefaultMirror
	}
	o.Mirror = strings.TrimRight(o.Mirror, "/")
	if o.Suite == "" {
		o.Suite = "bookworm"
	}
	if o.Arch == "" {
		o.Arch = map[string]string{"amd64": "amd64", "arm64": "arm64", "386": "i386", "arm": "armhf", "ppc64le": "ppc64el", "s390x": "s390x"}[runtime.GOARCH]
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 10 * time.Minute}
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// ChecksumError is a file from the mirror whose sha256 or size differs from
// the signed index.
type ChecksumError struct{ Mirror, File string }

func (c *ChecksumError) Error() string {
	return fmt.Sprintf("Debian mirror %s refused: %s does not match the sha256 in the signed index", c.Mirror, c.File)
}

// Packages fetches the suite's signed index and its main Packages index.
func Packages(ctx context.Context, o Options) (*Release, *Index, error) {
	o.defaults()
	ring, err := Keyring()
	if err != nil {
		return nil, nil, err
	}
	body, err := get(ctx, o.HTTP, o.Mirror+"/dists/"+o.Suite+"/InRelease")
	if err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(io.LimitReader(body, 16<<20))
	body.Close()
	if err != nil {
		return nil, nil, err
	}
	rel, err := ParseInRelease(data, ring, o.Mirror, o.Suite)
	if err != nil {
		return nil, nil, err
	}
	name := "main/binary-" + o.Arch + "/Packages.xz"
	sum, ok := rel.Lookup(name)
	if !ok {
		return nil, nil, &IndexError{o.Mirror, "its Release lists no " + name}
	}
	body, err = get(ctx, o.HTTP, o.Mirror+"/dists/"+o.Suite+"/"+name)
	if err != nil {
		return nil, nil, err
	}
	defer body.Close()
	// The compressed index is checked whole before it is decompressed, so a
	// tampered file is reported as such, not as an xz error.
	checked := &verifying{r: body, h: sha256.New(), want: sum.Hash, size: sum.Size, err: &ChecksumError{o.Mirror, name}}
	data, err = io.ReadAll(checked)
	if err != nil {
		return nil, nil, err
	}
	if err := checked.check(); err != nil {
		return nil, nil, err
	}
	xr, err := xz.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	pkgs, err := control.ParseBinaryIndex(bufio.NewReaderSize(xr, 1<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return rel, NewIndex(pkgs, o.Arch), nil
}

// verifying hashes what is read through it; check compares at the end.
type verifying struct {
	r io.Reader
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	n    int64
	want string
	size int64
	err  error
}

func (v *verifying) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.n > v.size {
		return n, v.err
	}
	return n, err
}

func (v *verifying) check() error {
	if v.n != v.size || hex.EncodeToString(v.h.Sum(nil)) != v.want {
		return v.err
	}
	return nil
}

// Build writes the first stage of a minbase root file system as a tar to w:
// the contents of every package, merged /usr, the .deb files in DebsDir, the
// apt sources and the second-stage script. It returns the packages.
func Build(ctx context.Context, o Options, w io.Writer) ([]string, error) {
	o.defaults()
	_, ix, err := Packages(ctx, o)
	if err != nil {
		return nil, err
	}
	names, err := ix.Minbase("apt")
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "osgs: base %s from %s: %d packages, signature and checksums verified\n", o.Suite, o.Mirror, len(names))
	tmp, err := os.MkdirTemp("", "osgs-debs-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	tw := newRootTar(w)
	if err := tw.skeleton(o.Mirror, o.Suite, o.Arch); err != nil {
		return nil, err
	}
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := ix.Packages[name]
		file, err := download(ctx, o, p, tmp)
		if err != nil {
			return nil, err
		}
		if err := tw.deb(file, name); err != nil {
			return nil, fmt.Errorf("%s: %w", path.Base(p.Filename), err)
		}
		os.Remove(file)
	}
	if err := tw.finish(names); err != nil {
		return nil, err
	}
	return names, nil
}

// download fetches a package into dir, checking its size and sha256
// against the signed index.
func download(ctx context.Context, o Options, p *control.BinaryIndex, dir string) (string, error) {
	if p.SHA256 == "" || strings.Contains(p.Filename, "..") {
		return "", &IndexError{o.Mirror, "its index lists " + p.Package + " without a sha256 or with an unsafe path"}
	}
	body, err := get(ctx, o.HTTP, o.Mirror+"/"+p.Filename)
	if err != nil {
		return "", err
	}
	defer body.Close()
	file := filepath.Join(dir, path.Base(p.Filename))
	f, err := os.OpenFile(file, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", err
	}
	v := &verifying{r: body, h: sha256.New(), want: p.SHA256, size: int64(p.Size), err: &ChecksumError{o.Mirror, p.Filename}}
	_, err = io.Copy(f, v)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = v.check()
	}
	return file, err
}

// rootTar writes the image's tar: folders once, /bin, /sbin and /lib
// merged into /usr.
type rootTar struct {
	tw   *tar.Writer
	seen map[string]bool
	now  time.Time
}

func newRootTar(w io.Writer) *rootTar {
	return &rootTar{tw: tar.NewWriter(w), seen: map[string]bool{}, now: time.Now()}
}

var merged = []string{"bin", "sbin", "lib", "lib32", "lib64", "libx32"}

func (r *rootTar) dir(name string, mode int64) error {
	if r.seen[name] {
		return nil
	}
	r.seen[name] = true
	return r.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: r.now})
}

func (r *rootTar) file(name string, mode int64, data []byte) error {
	if err := r.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: r.now}); err != nil {
		return err
	}
	r.seen[name] = true
	_, err := r.tw.Write(data)
	return err
}

func (r *rootTar) symlink(name, target string) error {
	r.seen[name] = true
	return r.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, ModTime: r.now})
}

// skeleton writes merged /usr, dpkg's database folders and apt's sources.
func (r *rootTar) skeleton(mirror, suite, arch string) error {
	for _, d := range []string{"usr", "usr/bin", "usr/sbin", "usr/lib", "etc", "etc/apt", "var", "var/lib", "var/lib/dpkg",
		"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "var", "var/cache", DebsDir[1:]} {
		if err := r.dir(d, 0o755); err != nil {
			return err
		}
	}
	links := []string{"bin", "sbin", "lib"}
	if arch == "amd64" {
		links = append(links, "lib64")
		if err := r.dir("usr/lib64", 0o755); err != nil {
			return err
		}
	}
	for _, l := range links {
		if err := r.symlink(l, "usr/"+l); err != nil {
			return err
		}
	}
	files := map[string]string{"var/lib/dpkg/status": "", "var/lib/dpkg/available": ""}
	if mirror == DefaultMirror {
		// As Debian's own images: the release, its updates and its
		// security fixes, so images built on this base get those.
		if err := r.dir("etc/apt/sources.list.d", 0o755); err != nil {
			return err
		}
		files["etc/apt/sources.list.d/debian.sources"] = fmt.Sprintf(`Types: deb
URIs: %[1]s
Suites: %[2]s %[2]s-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: %[2]s-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`, mirror, suite)
	} else {
		// A local mirror (air-gapped sites) may hold only the release.
		files["etc/apt/sources.list"] = fmt.Sprintf("deb %s %s main\n", mirror, suite)
	}
	for name, data := range files {
		if err := r.file(name, 0o644, []byte(data)); err != nil {
			return err
		}
	}
	return r.file(SecondStage[1:], 0o755, secondStage)
}

// mergedName maps a package path onto merged /usr: ./bin/ls is usr/bin/ls.
func mergedName(name string) string {
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	for _, m := range merged {
		if name == m || strings.HasPrefix(name, m+"/") {
			return "usr/" + name
		}
	}
	return name
}

// deb copies a package's contents into the image, and the package itself
// into DebsDir.
func (r *rootTar) deb(file, name string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	d, err := deb.Load(f, file)
	if err != nil {
		return fmt.Errorf("not a Debian package: %w", err)
	}
	defer d.Close()
	for {
		hdr, err := d.Data.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read its data: %w", err)
		}
		n := mergedName(hdr.Name)
		if n == "" || n == "." {
			continue
		}
		hdr.Name = n
		switch hdr.Typeflag {
		case tar.TypeDir:
			if r.seen[n] || r.seen[strings.TrimSuffix(n, "/")] {
				continue
			}
			r.seen[n] = true
			hdr.Name = n + "/"
		case tar.TypeLink:
			hdr.Linkname = mergedName(hdr.Linkname)
		}
		hdr.Uname, hdr.Gname = "", "" // numeric owners: no passwd yet
		if err := r.tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := io.Copy(r.tw, d.Data); err != nil {
				return err
			}
		}
		r.seen[n] = true
	}
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := r.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: DebsDir[1:] + "/" + name + ".deb", Mode: 0o644, Size: info.Size(), ModTime: r.now}); err != nil {
		return err
	}
	_, err = io.Copy(r.tw, f)
	return err
}

// finish adds what debootstrap's first stage adds: /bin/sh and awk until
// dash's and mawk's own scripts manage them, and the package list.
func (r *rootTar) finish(names []string) error {
	if !r.seen["usr/bin/sh"] {
		if err := r.symlink("usr/bin/sh", "dash"); err != nil {
			return err
		}
	}
	if !r.seen["usr/bin/awk"] {
		if err := r.symlink("usr/bin/awk", "mawk"); err != nil {
			return err
		}
	}
	if err := r.file(DebsDir[1:]+"/packages", 0o644, []byte(strings.Join(names, "\n")+"\n")); err != nil {
		return err
	}
	return r.tw.Close()
}
