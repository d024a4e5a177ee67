// Package envfile reads, merges and writes the project's .env file.
//
// The file is the single place where osgs keeps settings and secrets. It is
// compatible with docker compose's dotenv reader (KEY=VALUE lines, comments,
// optional quotes), so a plain `docker compose` in the checkout sees the same
// values. Writing is atomic and the file is always mode 0600.
package envfile

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Mode is the permission every .env is written with.
const Mode os.FileMode = 0o600

var keyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// line is one line of the file: either an assignment or verbatim text
// (comments, blank lines), kept so that a rewrite preserves the user's layout.
type line struct {
	key   string // empty for verbatim lines
	value string
	raw   string
}

// File is a parsed .env. The zero value is an empty file.
type File struct {
	lines []line
	index map[string]int
}

// ErrMalformed marks a .env that cannot be parsed.
var ErrMalformed = errors.New("malformed .env")

// Parse reads .env content. name is used in error messages only. Errors never
// quote the offending line, since it may hold a secret.
func Parse(name string, data []byte) (*File, error) {
	f := &File{index: map[string]int{}}
	// Lines of any length (a certificate or a long token is one line);
	// a final line without its newline counts, and \r\n endings are read.
	lines := strings.Split(string(data), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	n := 0
	for _, raw := range lines {
		n++
		raw = strings.TrimSuffix(raw, "\r")
		trimmed := strings.TrimSpace(raw)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			f.lines = append(f.lines, line{raw: raw})
			continue
		}
		body := strings.TrimPrefix(trimmed, "export ")
		k, v, ok := strings.Cut(body, "=")
		k = strings.TrimSpace(k)
		if !ok || !keyRE.MatchString(k) {
			return nil, fmt.Errorf("%w: %s line %d: want KEY=VALUE", ErrMalformed, name, n)
		}
		val, err := unquote(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("%w: %s line %d: %v", ErrMalformed, name, n, err)
		}
		if i, dup := f.index[k]; dup {
			// Later assignments win, as in compose; keep one line per key.
			f.lines[i] = line{raw: "# (duplicate removed, kept the later value) " + k}
		}
		f.index[k] = len(f.lines)
		f.lines = append(f.lines, line{key: k, value: val, raw: raw})
	}
	return f, nil
}

// unquote reads a value the way compose-go's dotenv parser does, so that
// osgs and compose agree on every value osgs writes: a quoted value ends at
// the first quote not escaped by a backslash; single quotes are literal; in
// double quotes the escapes \\ \" \$ \n \r \t (and the other C escapes)
// are expanded and $$ is a literal $. osgs does not interpolate ${VAR}.
func unquote(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	q := v[0]
	if q != '"' && q != '\'' {
		// Unquoted: an inline comment starts at " #".
		if i := strings.Index(v, " #"); i >= 0 {
			v = strings.TrimSpace(v[:i])
		}
		return v, nil
	}
	var inner []byte
	escaped := false
	for i := 1; i < len(v); i++ {
		c := v[i]
		switch {
		case c == q && !escaped:
			rest := strings.TrimSpace(v[i+1:])
			if rest != "" && !strings.HasPrefix(rest, "#") {
				return "", errors.New("text after closing quote")
			}
			if q == '"' {
				return expandEscapes(string(inner)), nil
			}
			return string(inner), nil
		case c == q: // an escaped quote: the quote alone
			escaped = false
			inner = append(inner, c)
		case escaped:
			escaped = false
			inner = append(inner, '\\', c)
		case c == '\\':
			escaped = true
		default:
			inner = append(inner, c)
		}
	}
	return "", errors.New("unterminated quote")
}

// escapeRE matches the escapes compose-go expands in double quotes.
var escapeRE = regexp.MustCompile(`\\(?:[abcfnrtv$"\\]|0\d{0,3})|\$\$`)

func expandEscapes(s string) string {
	return escapeRE.ReplaceAllStringFunc(s, func(m string) string {
		switch m {
		case `\$`, `$$`:
			return "$"
		}
		if strings.HasPrefix(m, `\0`) { // compose-go's octal form, quirks included
			m = `\` + m[2:]
		}
		r, _, _, err := strconv.UnquoteChar(m, '"')
		if err != nil {
			return m
		}
		return string(r)
	})
}

// Read loads path. A missing file yields os.ErrNotExist (wrapped).
func Read(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(filepath.Base(path), data)
}

// Get returns the value of key and whether it is set.
func (f *File) Get(key string) (string, bool) {
	if f == nil || f.index == nil {
		return "", false
	}
	i, ok := f.index[key]
	if !ok {
		return "", false
	}
	return f.lines[i].value, true
}

// Value returns the value of key, or "" when unset.
func (f *File) Value(key string) string { v, _ := f.Get(key); return v }

// Set assigns key, replacing an existing assignment in place or appending.
func (f *File) Set(key, value string) {
	if f.index == nil {
		f.index = map[string]int{}
	}
	l := line{key: key, value: value}
	if i, ok := f.index[key]; ok {
		f.lines[i] = l
		return
	}
	f.index[key] = len(f.lines)
	f.lines = append(f.lines, l)
}

// SetDefault assigns key only when it is not set yet, and reports whether it did.
func (f *File) SetDefault(key, value string) bool {
	if _, ok := f.Get(key); ok {
		return false
	}
	f.Set(key, value)
	return true
}

// AddComment appends a comment line.
func (f *File) AddComment(text string) {
	f.lines = append(f.lines, line{raw: "# " + text})
}

// Keys lists the assigned keys in file order.
func (f *File) Keys() []string {
	var ks []string
	for _, l := range f.lines {
		if l.key != "" {
			ks = append(ks, l.key)
		}
	}
	return ks
}

// Map returns every assignment.
func (f *File) Map() map[string]string {
	m := make(map[string]string, len(f.index))
	for k, i := range f.index {
		m[k] = f.lines[i].value
	}
	return m
}

// Bytes renders the file. Values are single-quoted when they hold characters
// that dotenv would otherwise interpret.
func (f *File) Bytes() []byte {
	var b bytes.Buffer
	for _, l := range f.lines {
		if l.key == "" {
			b.WriteString(l.raw)
		} else {
			b.WriteString(l.key + "=" + quote(l.value))
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// quote renders v so that both osgs's parser and compose-go's read it back
// exactly: bare when nothing in it is special, in single quotes (literal)
// when it holds no single quote, backslash or control character, and
// otherwise in double quotes with every special character escaped.
func quote(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t#'\"$\\`=") && !hasControl(v) &&
		strings.TrimFunc(v, unicode.IsSpace) == v {
		return v
	}
	if !strings.ContainsAny(v, "'\\") && !hasControl(v) {
		return "'" + v + "'"
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ { // bytes: every escaped character is ASCII
		switch r := v[i]; r {
		case '\\', '"', '$':
			b.WriteByte('\\')
			b.WriteByte(r)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\a':
			b.WriteString(`\a`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\v':
			b.WriteString(`\v`)
		default:
			b.WriteByte(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func hasControl(v string) bool {
	return strings.ContainsFunc(v, unicode.IsControl)
}

// Write stores the file at path atomically with mode 0600: a temporary file
// in the same folder is written, synced and renamed over the old one, so a
// full disk never leaves a half-written .env behind.
func (f *File) Write(path string) error { return WriteFileAtomic(path, f.Bytes(), Mode) }

// TempPattern is the os.CreateTemp pattern of the temporary file that
// WriteFileAtomic writes beside path: hidden, and for .env it is
// .env.tmp-*, which .gitignore covers.
func TempPattern(path string) string {
	base := filepath.Base(path)
	if !strings.HasPrefix(base, ".") {
		base = "." + base
	}
	return base + ".tmp-*"
}

// WriteFileAtomic stores data at path with mode: a temporary file in the
// same folder is written, synced and renamed over the old one, so a full
// disk never leaves a half-written file behind.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, TempPattern(path))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

const secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// SecretLength is the length of generated secrets.
const SecretLength = 32

// NewSecret returns a random alphanumeric string of n characters drawn from
// crypto/rand without modulo bias. Alphanumeric keeps it safe in URLs,
// connection strings and dotenv files alike.
func NewSecret(n int) (string, error) {
	max := big.NewInt(int64(len(secretAlphabet)))
	out := make([]byte, n)
	for i := range out {
		j, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("generate secret: %w", err)
		}
		out[i] = secretAlphabet[j.Int64()]
	}
	return string(out), nil
}

// ReadSecret reads a file that holds a secret (a key, a password), which
// must not be readable by group or others. Surrounding white space is
// trimmed. Errors name the file, never its content.
func ReadSecret(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s holds a secret but has mode %04o: run chmod 600 %s", path, st.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(data)), nil
}
