// Package seal encrypts backups with age (X25519 recipients), so that what
// leaves the server can only be read with an identity kept elsewhere. The
// server holds only public recipients (BACKUP_AGE_RECIPIENTS). The output
// is the standard age format: `age -d -i key f.zst.age | zstd -d` restores
// with stock tools (Debian's age 1.1 reads X25519 files; it cannot read
// age 1.3's post-quantum keys, which is why they are refused here).
package seal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/osgs/osgs/internal/envfile"
	"github.com/osgs/osgs/internal/secretfile"
)

// RecipientsKey lists the public keys (age1...) backups are encrypted to,
// comma-separated.
const RecipientsKey = "BACKUP_AGE_RECIPIENTS"

// Ext is the file name suffix of encrypted files.
const Ext = ".age"

// Recipients parses a comma-separated list of X25519 public keys.
func Recipients(list string) ([]age.Recipient, []string, error) {
	var rs []age.Recipient
	var keys []string
	for _, k := range strings.Split(list, ",") {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if strings.HasPrefix(k, "age1pq") {
			return nil, nil, fmt.Errorf("%s: post-quantum age keys cannot be read by Debian's age: use X25519 keys (backup:keygen makes one)", RecipientsKey)
		}
		r, err := age.ParseX25519Recipient(k)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %q is not an age X25519 public key (age1...)", RecipientsKey, short(k))
		}
		rs = append(rs, r)
		keys = append(keys, k)
	}
	if len(rs) == 0 {
		return nil, nil, fmt.Errorf("no %s: run backup:keygen, or add your public age key(s) to .env", RecipientsKey)
	}
	return rs, keys, nil
}

// short keeps an error from echoing a long value (someone may paste a
// secret key where the public one belongs).
func short(s string) string {
	if strings.HasPrefix(strings.ToUpper(s), "AGE-SECRET-KEY-") {
		return "AGE-SECRET-KEY-… (a secret key: put only public keys here)"
	}
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}

// Encrypt returns a writer that encrypts to rs into dst; Close finishes
// the stream (it does not close dst).
func Encrypt(dst io.Writer, rs []age.Recipient) (io.WriteCloser, error) {
	return age.Encrypt(dst, rs...)
}

// chunk is age's payload chunk; each is sealed with a 16-byte tag.
const (
	chunk    = 64 << 10
	chunkTag = 16
)

// EncryptReader returns a reader of src's plain bytes encrypted to rs, and
// the exact length of that ciphertext, known before the first byte is read
// (so an upload can be sized and sent in parallel parts). src must hold
// exactly plainSize bytes: a reader that ends early, or runs on, makes the
// ciphertext another length than promised, which the upload then refuses.
func EncryptReader(src io.Reader, plainSize int64, rs []age.Recipient) (io.Reader, int64, error) {
	// The header's length depends only on the recipients: age.Encrypt
	// writes the header and the payload nonce before it returns.
	var hdr countWriter
	if _, err := age.Encrypt(&hdr, rs...); err != nil {
		return nil, 0, err
	}
	r, err := age.EncryptReader(src, rs...)
	if err != nil {
		return nil, 0, err
	}
	return r, CiphertextSize(int64(hdr), plainSize), nil
}

// CiphertextSize is the length of an age file whose header (with the
// payload nonce) is header bytes long and whose plaintext is plain bytes:
// the payload is sealed in 64 KiB chunks, the last one possibly full, and
// an empty plaintext is one empty chunk.
func CiphertextSize(header, plain int64) int64 {
	chunks := max((plain+chunk-1)/chunk, 1)
	return header + plain + chunks*chunkTag
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

// Identities reads an identity file (mode 0600).
func Identities(path string) ([]age.Identity, error) {
	if path == "" {
		return nil, errors.New("no age identity: pass -identity=FILE (the key backup:keygen wrote, kept off the server)")
	}
	text, err := envfile.ReadSecret(path)
	if err != nil {
		return nil, fmt.Errorf("age identity: %w", err)
	}
	ids, err := age.ParseIdentities(strings.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("age identity %s: not an age identity file", path)
	}
	return ids, nil
}

// WrongIdentityError reports an identity the data was not encrypted to.
type WrongIdentityError struct{ What string }

func (w *WrongIdentityError) Error() string {
	return "the age identity given does not open " + w.What + " (it was encrypted to other recipients)"
}

// CorruptError reports encrypted data that fails authentication.
type CorruptError struct {
	What string
	Err  error
}

func (c *CorruptError) Error() string {
	return fmt.Sprintf("%s is corrupt or was tampered with (%v): refusing it", c.What, c.Err)
}

// Decrypt returns the plaintext of src, which names what for errors. Reads
// fail with *CorruptError when the data was altered.
func Decrypt(src io.Reader, ids []age.Identity, what string) (io.Reader, error) {
	r, err := age.Decrypt(src, ids...)
	var nomatch *age.NoIdentityMatchError
	switch {
	case errors.As(err, &nomatch):
		return nil, &WrongIdentityError{What: what}
	case err != nil:
		return nil, &CorruptError{What: what, Err: err}
	}
	return &checked{r: r, what: what}, nil
}

type checked struct {
	r    io.Reader
	what string
}

func (c *checked) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		var ce *CorruptError
		if !errors.As(err, &ce) {
			err = &CorruptError{What: c.what, Err: err}
		}
	}
	return n, err
}

// Keygen makes an X25519 key pair, writes the identity to path (mode
// 0600, never over an existing file) with comments (one line each) and
// returns the public key.
func Keygen(path string, now time.Time, comments ...string) (string, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", err
	}
	pub := id.Recipient().String()
	head := fmt.Sprintf("# created: %s\n# public key: %s\n", now.UTC().Format(time.RFC3339), pub)
	for _, c := range comments {
		head += "# " + strings.Join(strings.Fields(c), " ") + "\n"
	}
	err = secretfile.Create(path, []byte(head+id.String()+"\n"))
	if errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("%s already exists: move it off the server, or name another file with -out", path)
	}
	if err != nil {
		return "", err
	}
	return pub, nil
}

// AddRecipient returns list with pub appended (once).
func AddRecipient(list, pub string) string {
	var out []string
	for _, k := range strings.Split(list, ",") {
		if k = strings.TrimSpace(k); k != "" && k != pub {
			out = append(out, k)
		}
	}
	return strings.Join(append(out, pub), ",")
}
