// Package remote holds the off-site backup destinations behind one small
// interface, Store: a flat namespace of objects under a URL. Each backend is
// one file that registers its URL scheme (s3.go, sftp.go); adding a
// destination means adding a file. storetest holds the one suite every
// backend passes against a real server.
package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Store is one destination.
type Store interface {
	// Put streams r into key; size is exactly how many bytes r holds, or
	// -1 when that is not known (a known size lets a backend send parts in
	// parallel). The object appears only once complete: a
	// Put that fails or is killed leaves no object under key (at most hidden
	// leftovers, such as an unfinished multipart upload).
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get opens key for reading; a missing key is an error wrapping
	// os.ErrNotExist.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// List returns every object whose key starts with prefix, sorted.
	List(ctx context.Context, prefix string) ([]Object, error)
	// Delete removes key (every version of it). An object under a retention
	// that has not expired is kept and reported as *LockedError.
	Delete(ctx context.Context, key string) error
	// Clean removes the hidden leftovers of failed Puts under prefix.
	Clean(ctx context.Context, prefix string) error
	// String names the destination for messages; it holds no secret.
	String() string
	Close() error
}

// Object is one stored object.
type Object struct {
	Key      string
	Size     int64
	Modified time.Time
}

// LockedError reports an object a retention (S3 Object Lock) still protects.
type LockedError struct {
	Key   string
	Until time.Time
}

func (l *LockedError) Error() string {
	if l.Until.IsZero() {
		return l.Key + " is locked by the bucket's retention"
	}
	return fmt.Sprintf("%s is locked by the bucket's retention until %s", l.Key, l.Until.UTC().Format(time.RFC3339))
}

// Config is what a backend needs besides its URL.
type Config struct {
	// Name is the destination's name: "default" for BACKUP_REMOTE, else the
	// lower-cased NAME of BACKUP_REMOTE_<NAME>.
	Name string
	// Dir is the checkout: relative file settings resolve against it.
	Dir string
	// Lookup reads a setting: .env first, then the process environment.
	Lookup func(key string) string
}

// Setting returns KEY_<NAME> when it is set, else KEY.
func (c Config) Setting(key string) string {
	if c.Lookup == nil {
		return ""
	}
	if c.Name != "" && c.Name != DefaultName {
		if v := c.Lookup(key + "_" + strings.ToUpper(c.Name)); v != "" {
			return v
		}
	}
	return c.Lookup(key)
}

// Path resolves a file setting against the checkout.
func (c Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// Opener opens a Store for a URL of its scheme.
type Opener func(ctx context.Context, u *url.URL, c Config) (Store, error)

var openers = map[string]Opener{}

// Register adds a backend for a URL scheme; backends call it from init.
func Register(scheme string, open Opener) { openers[scheme] = open }

// Schemes lists the registered URL schemes.
func Schemes() []string {
	var s []string
	for k := range openers {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// Open connects to the destination at raw.
func Open(ctx context.Context, raw string, c Config) (Store, error) {
	u, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	return openers[u.Scheme](ctx, u, c)
}

// Parse checks a destination URL: a registered scheme, a host, and no
// password (credentials live in files or the environment, never in .env's
// URL). Errors never repeat the URL, in case it held a secret.
func Parse(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL (want " + strings.Join(Schemes(), "://, ") + "://)")
	}
	if _, ok := openers[u.Scheme]; !ok {
		return nil, fmt.Errorf("unknown scheme %q (want one of %s)", u.Scheme, strings.Join(Schemes(), ", "))
	}
	if _, has := u.User.Password(); has {
		return nil, errors.New("the URL holds a password: put credentials in their files or the environment instead")
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%s:// URL names no host", u.Scheme)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%s:// URL takes no query or fragment", u.Scheme)
	}
	return u, nil
}

// Private reports whether host is a loopback or private-network address
// (or localhost), where plain-text transport may be allowed.
func Private(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsPrivate())
}

// DefaultName names the destination of BACKUP_REMOTE.
const DefaultName = "default"

// Setting names.
const (
	RemoteKey = "BACKUP_REMOTE"
)

// Destination is one configured place to push to.
type Destination struct {
	Name string
	URL  string
}

// Destinations lists the configured destinations, the default one first,
// checking each URL.
func Destinations(settings map[string]string) ([]Destination, error) {
	var out []Destination
	for k, v := range settings {
		if v == "" {
			continue
		}
		name := ""
		switch {
		case k == RemoteKey:
			name = DefaultName
		case strings.HasPrefix(k, RemoteKey+"_"):
			name = strings.ToLower(strings.TrimPrefix(k, RemoteKey+"_"))
			if name == DefaultName {
				return nil, fmt.Errorf("%s: the name %q is taken by %s", k, DefaultName, RemoteKey)
			}
		default:
			continue
		}
		if _, err := Parse(v); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out = append(out, Destination{Name: name, URL: v})
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].Name == DefaultName) != (out[j].Name == DefaultName) {
			return out[i].Name == DefaultName
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// Pick returns the destination called name ("" for the default one, or
// the only one).
func Pick(dests []Destination, name string) (Destination, error) {
	if len(dests) == 0 {
		return Destination{}, errors.New("no backup destination: set BACKUP_REMOTE=s3://host/bucket or sftp://user@host/path in .env")
	}
	if name == "" {
		return dests[0], nil
	}
	var names []string
	for _, d := range dests {
		if d.Name == strings.ToLower(name) {
			return d, nil
		}
		names = append(names, d.Name)
	}
	return Destination{}, fmt.Errorf("no backup destination %q (configured: %s)", name, strings.Join(names, ", "))
}

// Exact returns a reader of r that holds exactly size bytes: if r ends
// early, runs on past size, or fails, the read that would deliver the last
// bytes fails instead (with no bytes, so that no io.ReadFull swallows the
// error), and an upload fed by it never completes. check, when not nil,
// runs once r is known to end at size; its error fails that read too.
// Backends wrap a Put's reader in it when the size is known.
func Exact(r io.Reader, size int64, check func() error) io.Reader {
	return &exact{r: r, left: size, check: check}
}

type exact struct {
	r     io.Reader
	left  int64
	check func() error
	err   error // once set (io.EOF included), every later read returns it
}

func (e *exact) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.left == 0 {
		e.err = e.end()
		return 0, e.err
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	switch {
	case err == io.EOF && e.left > 0:
		e.err = fmt.Errorf("the data ended %d bytes short of its size", e.left)
	case err != nil && err != io.EOF:
		e.err = err
	case e.left == 0:
		if err := e.end(); err != io.EOF {
			e.err = err
		}
	}
	if e.err != nil && e.err != io.EOF {
		return 0, e.err
	}
	return n, nil // at the end, the next read says io.EOF
}

// end makes sure r has nothing more, then runs check.
func (e *exact) end() error {
	var one [1]byte
	for {
		n, err := e.r.Read(one[:])
		if n > 0 {
			return errors.New("the data runs on past its size")
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if e.check != nil {
		if err := e.check(); err != nil {
			return err
		}
	}
	e.err = io.EOF
	return io.EOF
}
