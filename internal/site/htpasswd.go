package site

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/osgs/osgs/internal/envfile"
)

// BcryptCost is the cost of new htpasswd entries.
const BcryptCost = 12

var userRE = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

// ErrBadUser is a user name htpasswd cannot hold.
var ErrBadUser = errors.New("user names are 1-64 letters, digits, dots, dashes, underscores or @")

// Htpasswd is an Apache-style htpasswd file of bcrypt ($2y$) hashes, which
// nginx's auth_basic reads.
type Htpasswd struct {
	users map[string]string // user -> hash
}

// ParseHtpasswd reads an htpasswd file; lines that are not user:hash are refused.
func ParseHtpasswd(data []byte) (*Htpasswd, error) {
	h := &Htpasswd{users: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok || !userRE.MatchString(user) || hash == "" {
			return nil, fmt.Errorf("htpasswd line %d is not user:hash", n)
		}
		h.users[user] = hash
	}
	return h, sc.Err()
}

// ParseHtpasswdFile reads an htpasswd file at path.
func ParseHtpasswdFile(path string) (*Htpasswd, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseHtpasswd(data)
}

// LoadHtpasswd reads the site's htpasswd, empty when there is none yet.
func LoadHtpasswd(root string) (*Htpasswd, error) {
	data, err := os.ReadFile(HtpasswdPath(root))
	if errors.Is(err, os.ErrNotExist) {
		return &Htpasswd{users: map[string]string{}}, nil
	}
	if err != nil {
		return nil, err
	}
	h, err := ParseHtpasswd(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", HtpasswdPath(root), err)
	}
	return h, nil
}

// Hash is user's bcrypt hash, "" for an unknown user.
func (h *Htpasswd) Hash(user string) string { return h.users[user] }

// Set adds user or replaces their password.
func (h *Htpasswd) Set(user, password string) error {
	if !userRE.MatchString(user) {
		return ErrBadUser
	}
	if len(password) < 8 {
		return errors.New("passwords need at least 8 characters")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), BcryptCost)
	if err != nil {
		return err
	}
	// $2a$ and $2y$ are the same algorithm; $2y$ is what Apache's htpasswd
	// writes and every crypt(3) that nginx may use accepts it.
	h.users[user] = "$2y$" + strings.TrimPrefix(string(hash), "$2a$")
	return nil
}

// Delete removes user; it reports whether they existed.
func (h *Htpasswd) Delete(user string) bool {
	_, ok := h.users[user]
	delete(h.users, user)
	return ok
}

// Check reports whether password is user's.
func (h *Htpasswd) Check(user, password string) bool {
	hash, ok := h.users[user]
	if !ok {
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

// Users lists the user names in order.
func (h *Htpasswd) Users() []string {
	out := make([]string, 0, len(h.users))
	for u := range h.users {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// Bytes renders the file.
func (h *Htpasswd) Bytes() []byte {
	var b bytes.Buffer
	for _, u := range h.Users() {
		fmt.Fprintf(&b, "%s:%s\n", u, h.users[u])
	}
	return b.Bytes()
}

// Store writes the site's htpasswd atomically, mode 0600.
func (h *Htpasswd) Store(root string) error {
	if err := os.MkdirAll(filepath.Dir(HtpasswdPath(root)), 0o700); err != nil {
		return err
	}
	return envfile.WriteFileAtomic(HtpasswdPath(root), h.Bytes(), 0o600)
}

// ReadPassword takes a password from r (the first line, without its end);
// an empty input is refused.
func ReadPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input")
	}
	return line, nil
}
