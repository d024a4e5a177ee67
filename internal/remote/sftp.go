package remote

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/pkg/sftp"

	"github.com/osgs/osgs/internal/envfile"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SFTP settings (each may be suffixed _<NAME> for a named destination).
const (
	SSHKeyKey        = "BACKUP_SSH_KEY"         // private key file, default config/backup-ssh-key[-NAME]
	SSHKnownHostsKey = "BACKUP_SSH_KNOWN_HOSTS" // default config/backup-known-hosts
)

func init() { Register("sftp", openSFTP) }

// sftpStore is a folder on an SSH server, through pkg/sftp. Puts write a
// hidden temporary file, fsync it and rename it into place
// (posix-rename@openssh.com), so objects appear only complete.
type sftpStore struct {
	ssh  *ssh.Client
	c    *sftp.Client
	root string
	name string
}

const sftpTmp = ".tmp-"

func openSFTP(ctx context.Context, u *url.URL, c Config) (Store, error) {
	user := u.User.Username()
	if user == "" {
		return nil, errors.New("sftp:// URL names no user (want sftp://user@host[:port]/path)")
	}
	root := path.Clean("/" + strings.TrimPrefix(u.Path, "/"))
	if root == "/" {
		return nil, errors.New("sftp:// URL names no folder (want sftp://user@host[:port]/path)")
	}
	suffix := ""
	if c.Name != "" && c.Name != DefaultName {
		suffix = "-" + c.Name
	}
	keyFile := c.Setting(SSHKeyKey)
	if keyFile == "" {
		keyFile = "config/backup-ssh-key" + suffix
	}
	key, err := envfile.ReadSecret(c.Path(keyFile))
	if err != nil {
		return nil, fmt.Errorf("sftp key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey([]byte(key + "\n"))
	if err != nil {
		return nil, fmt.Errorf("sftp key %s: not an unencrypted private key (%v)", keyFile, err)
	}
	khFile := c.Setting(SSHKnownHostsKey)
	if khFile == "" {
		khFile = "config/backup-known-hosts"
	}
	hostKeys, err := knownhosts.New(c.Path(khFile))
	if err != nil {
		return nil, fmt.Errorf("sftp known hosts %s: %w (add the server's key with ssh-keyscan)", khFile, err)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "22")
	}
	name := "sftp://" + user + "@" + u.Host + root + "/"
	var d net.Dialer
	d.Timeout = 20 * time.Second
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	cc, chans, reqs, err := ssh.NewClientConn(conn, addr, &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hostKeys,
		Timeout:         20 * time.Second,
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	sc := ssh.NewClient(cc, chans, reqs)
	client, err := sftp.NewClient(sc, sftp.UseConcurrentWrites(true))
	if err != nil {
		sc.Close()
		return nil, fmt.Errorf("%s: no SFTP subsystem: %w", name, err)
	}
	if err := client.MkdirAll(root); err != nil {
		client.Close()
		sc.Close()
		return nil, fmt.Errorf("%s: make the folder: %w", name, err)
	}
	return &sftpStore{ssh: sc, c: client, root: root, name: name}, nil
}

func (s *sftpStore) String() string { return s.name }

func (s *sftpStore) Close() error {
	s.c.Close()
	return s.ssh.Close()
}

func (s *sftpStore) path(key string) string { return path.Join(s.root, key) }

func (s *sftpStore) Put(ctx context.Context, key string, r io.Reader, size int64) (err error) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("upload %s: %w", key, err)
	}
	final := s.path(key)
	if err := s.c.MkdirAll(path.Dir(final)); err != nil {
		return fmt.Errorf("upload %s: %w", key, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	tmp := path.Join(path.Dir(final), sftpTmp+path.Base(final)+"-"+hex.EncodeToString(b[:]))
	f, err := s.c.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return fmt.Errorf("upload %s: %w", key, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			_ = s.c.Remove(tmp)
		}
	}()
	stop := context.AfterFunc(ctx, func() { f.Close() })
	defer stop()
	if size >= 0 {
		r = Exact(r, size, nil)
	}
	if _, err = f.ReadFrom(r); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return fmt.Errorf("upload %s: %w", key, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("upload %s: fsync: %w", key, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("upload %s: %w", key, err)
	}
	if err = s.c.PosixRename(tmp, final); err != nil {
		return fmt.Errorf("upload %s: rename into place: %w", key, err)
	}
	return nil
}

func (s *sftpStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	f, err := s.c.Open(s.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s%s: %w", s.name, key, os.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("%s%s: %w", s.name, key, err)
	}
	return f, nil
}

// walk calls fn for every regular file whose key starts with prefix.
func (s *sftpStore) walk(prefix string, fn func(key string, fi fs.FileInfo)) error {
	start := s.root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = s.path(prefix[:i])
	}
	w := s.c.Walk(start)
	for w.Step() {
		if err := w.Err(); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return err
		}
		if !w.Stat().Mode().IsRegular() {
			continue
		}
		key := strings.TrimPrefix(w.Path(), s.root+"/")
		if strings.HasPrefix(key, prefix) {
			fn(key, w.Stat())
		}
	}
	return nil
}

func (s *sftpStore) List(ctx context.Context, prefix string) ([]Object, error) {
	var out []Object
	err := s.walk(prefix, func(key string, fi fs.FileInfo) {
		if !strings.HasPrefix(path.Base(key), sftpTmp) {
			out = append(out, Object{Key: key, Size: fi.Size(), Modified: fi.ModTime()})
		}
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.name, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (s *sftpStore) Delete(ctx context.Context, key string) error {
	p := s.path(key)
	if err := s.c.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s%s: %w", s.name, key, err)
	}
	// Empty folders go too (RemoveDirectory refuses a folder that is not).
	for d := path.Dir(p); d != s.root && strings.HasPrefix(d, s.root+"/"); d = path.Dir(d) {
		if s.c.RemoveDirectory(d) != nil {
			break
		}
	}
	return nil
}

// Clean removes the temporary files of failed Puts under prefix.
func (s *sftpStore) Clean(ctx context.Context, prefix string) error {
	var tmps []string
	if err := s.walk(prefix, func(key string, _ fs.FileInfo) {
		if strings.HasPrefix(path.Base(key), sftpTmp) {
			tmps = append(tmps, key)
		}
	}); err != nil {
		return fmt.Errorf("clean %s: %w", s.name, err)
	}
	for _, k := range tmps {
		if err := s.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}
