package envfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	in := "# comment\n\nA=1\nexport B = two words # note\nC='x # y'\nD=\"q\\\"uote\"\nE=\nA=3\n"
	f, err := Parse(".env", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "3", "B": "two words", "C": "x # y", "D": `q"uote`, "E": ""}
	for k, v := range want {
		if got, ok := f.Get(k); !ok || got != v {
			t.Errorf("%s = %q (set %v), want %q", k, got, ok, v)
		}
	}
	if got := strings.Join(f.Keys(), ","); got != "B,C,D,E,A" {
		t.Errorf("keys = %s", got)
	}
}

func TestParseMalformed(t *testing.T) {
	for name, in := range map[string]string{
		"no equals":       "A=1\nSECRETVALUE\n",
		"bad key":         "A=1\n1A=2\n",
		"unterminated":    "A=1\nB='open\n",
		"after the quote": "A=1\nB='x' y\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(".env", []byte(in))
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "line 2") {
				t.Fatalf("err = %v", err)
			}
			if strings.Contains(err.Error(), "SECRETVALUE") || strings.Contains(err.Error(), "open") {
				t.Fatalf("error quotes the line: %v", err)
			}
		})
	}
}

func TestRoundTripKeepsLayoutAndQuotes(t *testing.T) {
	f := &File{}
	f.AddComment("hello")
	values := map[string]string{"PLAIN": "abc", "SPACE": "a b", "HASH": "a#b", "SQ": "it's", "DOLLAR": "a$b", "EMPTY": ""}
	for k, v := range values {
		f.Set(k, v)
	}
	g, err := Parse(".env", f.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range values {
		if got := g.Value(k); got != v {
			t.Errorf("%s: %q after round trip, want %q", k, got, v)
		}
	}
	if !strings.HasPrefix(string(g.Bytes()), "# hello\n") {
		t.Errorf("comment lost: %q", g.Bytes())
	}
}

func TestWriteIsAtomicAnd0600(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".env")
	if err := os.WriteFile(path, []byte("OLD=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &File{}
	f.Set("NEW", "2")
	if err := f.Write(path); err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(path)
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", info.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

func TestWriteFailureKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".env")
	os.WriteFile(path, []byte("OLD=1\n"), 0o600)
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	f := &File{}
	f.Set("NEW", "2")
	if err := f.Write(path); err == nil {
		t.Fatal("write into a read-only folder succeeded")
	}
	if b, _ := os.ReadFile(path); string(b) != "OLD=1\n" {
		t.Fatalf("old file changed: %q", b)
	}
}

func TestNewSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		s, err := NewSecret(SecretLength)
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != SecretLength || strings.Trim(s, secretAlphabet) != "" {
			t.Fatalf("bad secret %q", s)
		}
		if seen[s] {
			t.Fatal("repeated secret")
		}
		seen[s] = true
	}
}

func TestReadSecret(t *testing.T) {
	p := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(p, []byte(" s3cret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSecret(p); err == nil || !strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("ReadSecret of a 0644 file: %v", err)
	}
	os.Chmod(p, 0o600)
	if v, err := ReadSecret(p); err != nil || v != "s3cret" {
		t.Fatalf("ReadSecret = %q, %v", v, err)
	}
}

func TestParseLongLines(t *testing.T) {
	long := strings.Repeat("x", 10<<20)
	f, err := Parse(".env", []byte("A=1\r\nB="+long+"\nC=3"))
	if err != nil || f.Value("B") != long || f.Value("A") != "1" || f.Value("C") != "3" {
		t.Fatalf("%v", err)
	}
	_, err = Parse(".env", []byte("A=1\n"+long+"\n"))
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "line 2") || len(err.Error()) > 200 {
		t.Fatalf("a malformed long line: %.200v", err)
	}
}
