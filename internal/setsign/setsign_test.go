package setsign

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/osgs/osgs/internal/refusal"
)

func TestSignAndVerify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config", "backup-signing.key")
	priv, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	again, err := LoadOrCreate(path)
	if err != nil || !again.Equal(priv) {
		t.Fatalf("reload: %v", err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	data := []byte(`{"files": []}`)
	sig := Sign(priv, data)
	if err := Verify("m", data, sig, []ed25519.PublicKey{pub}); err != nil {
		t.Fatal(err)
	}
	_, other, _ := ed25519.GenerateKey(nil)
	for name, err := range map[string]error{
		"unsigned":      Verify("m", data, nil, []ed25519.PublicKey{pub}),
		"changed":       Verify("m", []byte(`{"files": [1]}`), sig, []ed25519.PublicKey{pub}),
		"another key":   Verify("m", data, Sign(other, data), []ed25519.PublicKey{pub}),
		"garbage":       Verify("m", data, []byte("{"), []ed25519.PublicKey{pub}),
		"trusting none": Verify("m", data, sig, nil),
	} {
		if !errors.Is(err, refusal.Err) {
			t.Errorf("%s: %v", name, err)
		}
	}
	keys, err := ParseList(" " + Public(pub) + ", ")
	if err != nil || len(keys) != 1 || !keys[0].Equal(pub) {
		t.Errorf("list: %v", err)
	}
	if _, err := ParseList("age1xyz"); err == nil {
		t.Error("an age key accepted")
	}
	if got := KeysInComments("# created: x\n# backup signing key: " + Public(pub) + "\nAGE-SECRET-KEY-1X\n"); len(got) != 1 || !got[0].Equal(pub) {
		t.Errorf("comments: %v", got)
	}
}
