package backup

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/osgs/osgs/internal/backup/setfmt"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/envfile"
	"github.com/osgs/osgs/internal/seal"
)

func sealEngine(t *testing.T, env string) *engine.Engine {
	t.Helper()
	f, err := envfile.Parse(".env", []byte(env))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(IdentityKey, "")
	t.Setenv(LocalEncryptKey, "")
	t.Setenv(seal.RecipientsKey, "")
	return &engine.Engine{Dir: t.TempDir(), Env: f}
}

// The encrypt transform stores no plaintext, its checksum is of the stored
// bytes, and the read side gives back exactly what went in; a flipped byte
// and a missing identity are refused.
func TestEncryptTransform(t *testing.T) {
	dir := t.TempDir()
	idFile := filepath.Join(dir, "id.txt")
	pub, err := seal.Keygen(idFile, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e := sealEngine(t, LocalEncryptKey+"=on\n"+seal.RecipientsKey+"="+pub+"\n")
	rs, err := localRecipients(e)
	if err != nil || len(rs) != 1 {
		t.Fatalf("localRecipients = %v, %v", rs, err)
	}
	plain := bytes.Repeat([]byte("secret parcel 42;"), 50000)
	p := filepath.Join(dir, "x.dump.zst"+seal.Ext)
	var mirrored bytes.Buffer
	w, err := writeCompressed(p, bytes.NewReader(plain), nil, &mirrored, rs)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := os.ReadFile(p)
	if bytes.Contains(stored, []byte("secret parcel")) || !bytes.Equal(stored, mirrored.Bytes()) {
		t.Fatal("the stored file holds plaintext, or the mirror got other bytes")
	}
	if w.RawSize != int64(len(plain)) || w.Size != int64(len(stored)) || w.SHA256 != sha256Of(t, p) {
		t.Fatalf("written = %+v", w)
	}

	// No identity: one line naming the setting.
	_, err = openDecompressed(e, p)
	var none *NoIdentityError
	if !errors.As(err, &none) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), IdentityKey) {
		t.Fatalf("without an identity: %v", err)
	}
	e.Env.Set(IdentityKey, idFile)
	r, err := openDecompressed(e, p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("round trip: %d bytes, %v", len(got), err)
	}

	// A flipped byte fails authentication.
	stored[len(stored)/2] ^= 1
	os.WriteFile(p, stored, 0o600)
	r, err = openDecompressed(e, p)
	if err == nil {
		_, err = io.ReadAll(r)
		r.Close()
	}
	var corrupt *seal.CorruptError
	if !errors.As(err, &corrupt) {
		t.Fatalf("a flipped byte: %v", err)
	}
}

func TestLocalRecipients(t *testing.T) {
	for _, c := range []struct{ env, err string }{
		{"", ""},
		{LocalEncryptKey + "=off\n", ""},
		{LocalEncryptKey + "=maybe\n", "use on or off"},
		{LocalEncryptKey + "=on\n", "no " + seal.RecipientsKey},
		{LocalEncryptKey + "=on\n" + seal.RecipientsKey + "=age1nope\n", "not an age X25519 public key"},
	} {
		rs, err := localRecipients(sealEngine(t, c.env))
		if c.err == "" && (err != nil || rs != nil) || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%q: %v, %v (want %q)", c.env, rs, err, c.err)
		}
	}
}

func sha256Of(t *testing.T, p string) string {
	t.Helper()
	s, _, err := setfmt.FileSHA256(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
