package seal

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRoundTripAndRefusals(t *testing.T) {
	dir := t.TempDir()
	main, escrow := filepath.Join(dir, "main.txt"), filepath.Join(dir, "escrow.txt")
	pub1, err := Keygen(main, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pub2, _ := Keygen(escrow, time.Now())
	if st, _ := os.Stat(main); st.Mode().Perm() != 0o600 {
		t.Fatalf("identity mode %v", st.Mode())
	}
	if _, err := Keygen(main, time.Now()); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("Keygen over a file: %v", err)
	}
	rs, keys, err := Recipients(" " + pub1 + " ," + pub2)
	if err != nil || len(rs) != 2 || keys[1] != pub2 {
		t.Fatalf("Recipients = %v, %v", keys, err)
	}
	plain := bytes.Repeat([]byte("geometry "), 20000)
	var sealed bytes.Buffer
	w, _ := Encrypt(&sealed, rs)
	w.Write(plain)
	w.Close()
	if bytes.Contains(sealed.Bytes(), []byte("geometry")) {
		t.Fatal("the plaintext shows through")
	}
	for _, idFile := range []string{main, escrow} {
		ids, err := Identities(idFile)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Decrypt(bytes.NewReader(sealed.Bytes()), ids, "x")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%s: round trip failed: %v", idFile, err)
		}
	}
	// A third key opens nothing.
	other := filepath.Join(dir, "other.txt")
	Keygen(other, time.Now())
	ids, _ := Identities(other)
	_, err = Decrypt(bytes.NewReader(sealed.Bytes()), ids, "set X")
	var wrong *WrongIdentityError
	if !errors.As(err, &wrong) || !strings.Contains(err.Error(), "does not open set X") {
		t.Fatalf("wrong identity: %v", err)
	}
	// A flipped byte in the payload fails the read.
	bad := bytes.Clone(sealed.Bytes())
	bad[len(bad)-100] ^= 1
	ids, _ = Identities(main)
	r, err := Decrypt(bytes.NewReader(bad), ids, "f")
	if err == nil {
		_, err = io.ReadAll(r)
	}
	var corrupt *CorruptError
	if !errors.As(err, &corrupt) {
		t.Fatalf("flipped byte: %v", err)
	}
}

func TestRecipientsRefusals(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "no BACKUP_AGE_RECIPIENTS",
		"age1pqxyz":                 "post-quantum",
		"ssh-ed25519 AAAA":          "not an age X25519 public key",
		"AGE-SECRET-KEY-1QQQQQQQQQ": "a secret key",
	} {
		_, _, err := Recipients(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Recipients(%q) = %v, want %q", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "1QQQQ") {
			t.Errorf("Recipients echoes a secret: %v", err)
		}
	}
	if AddRecipient("a, b", "b") != "a,b" || AddRecipient("", "c") != "c" {
		t.Fatal("AddRecipient")
	}
}

// Debian's age (the stock tool the README's restore uses) opens our files.
func TestStockAge(t *testing.T) {
	agebin, err := exec.LookPath("age")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and age is missing (Debian package age)")
		}
		t.Skip("age is missing (apt-get install age)")
	}
	key := filepath.Join(t.TempDir(), "k.txt")
	pub, _ := Keygen(key, time.Now())
	rs, _, _ := Recipients(pub)
	var sealed bytes.Buffer
	w, _ := Encrypt(&sealed, rs)
	io.WriteString(w, "stock tools restore this\n")
	w.Close()
	cmd := exec.Command(agebin, "-d", "-i", key)
	cmd.Stdin = &sealed
	out, err := cmd.Output()
	if err != nil || string(out) != "stock tools restore this\n" {
		t.Fatalf("age -d: %q, %v", out, err)
	}
}

// The promised length is the real one at every chunk boundary, for one
// recipient and for two, and the stream decrypts.
func TestEncryptReaderSize(t *testing.T) {
	dir := t.TempDir()
	var pubs []string
	for _, n := range []string{"a.txt", "b.txt"} {
		pub, err := Keygen(filepath.Join(dir, n), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		pubs = append(pubs, pub)
	}
	ids, _ := Identities(filepath.Join(dir, "b.txt"))
	for _, list := range []string{pubs[0], pubs[0] + "," + pubs[1]} {
		rs, _, err := Recipients(list)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, 1, chunk - 1, chunk, chunk + 1, 2 * chunk, 3*chunk + 77} {
			plain := bytes.Repeat([]byte{'g'}, n)
			r, size, err := EncryptReader(bytes.NewReader(plain), int64(n), rs)
			if err != nil {
				t.Fatal(err)
			}
			sealed, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(sealed)) != size {
				t.Fatalf("%d recipients, %d bytes: promised %d, got %d", len(rs), n, size, len(sealed))
			}
			if len(rs) == 2 {
				d, err := Decrypt(bytes.NewReader(sealed), ids, "x")
				if err != nil {
					t.Fatal(err)
				}
				if got, err := io.ReadAll(d); err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("%d bytes: round trip failed: %v", n, err)
				}
			}
		}
	}
}
