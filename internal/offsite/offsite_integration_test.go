package offsite

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/osgs/osgs/internal/backup"
	"github.com/osgs/osgs/internal/backup/setfmt"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/refusal"
	"github.com/osgs/osgs/internal/remote"
	"github.com/osgs/osgs/internal/seal"
	"github.com/osgs/osgs/internal/setsign"
	"github.com/osgs/osgs/internal/testenv"
)

// canary is a string stored in the database; no remote object may hold it.
const canary = "osgs-plaintext-canary-7f3a9c"

const data = `
CREATE TABLE parcels (id serial PRIMARY KEY, note text, geom geometry(Polygon, 4326));
INSERT INTO parcels (note, geom) SELECT '` + canary + ` ' || i,
  ST_Buffer(ST_SetSRID(ST_MakePoint(20 + (i % 100) / 10.0, -30 + (i / 100) / 10.0), 4326), 0.01 + (i % 7) / 1000.0, 4)
  FROM generate_series(1, 20000) i;
`

type fixture struct {
	ctx      context.Context
	e        *engine.Engine
	root     string
	identity string
	s3       *testenv.S3
	sftp     *testenv.SFTP
}

func (f *fixture) psql(t *testing.T, sql string) string {
	t.Helper()
	out, err := f.e.Output(f.ctx, postgis.Service, postgis.OSUser, postgis.PsqlArgs(postgis.Load(f.e), "gis", "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql)...)
	if err != nil {
		t.Fatalf("psql: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func (f *fixture) digest(t *testing.T) string {
	return f.psql(t, `SELECT count(*) || ' ' || md5(string_agg(md5(ST_AsEWKB(geom)) || note, '' ORDER BY id)) FROM parcels`)
}

func (f *fixture) backup(t *testing.T, at time.Time) string {
	t.Helper()
	dir, err := backup.Run(f.ctx, f.e, backup.Options{Root: f.root, Services: []string{postgis.Service}, Config: true, Now: at})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func setup(t *testing.T) *fixture {
	testenv.RequireDocker(t)
	f := &fixture{s3: testenv.StartS3(t), sftp: testenv.StartSFTP(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	t.Cleanup(cancel)
	f.ctx = ctx
	co := testenv.NewCheckout(t, map[string]string{
		"BACKUP_REMOTE":                 f.s3.URL("osgs-backups", "site-a"),
		"BACKUP_S3_CA_FILE":             f.s3.CAFile,
		"BACKUP_REMOTE_OFFICE":          f.sftp.URL("osgs"),
		"BACKUP_SSH_KEY_OFFICE":         f.sftp.KeyFile,
		"BACKUP_SSH_KNOWN_HOSTS_OFFICE": f.sftp.KnownHosts,
		"BACKUP_REMOTE_LOCKED":          f.s3.URL("osgs-locked", ""),
	})
	co.Cleanup(t)
	// S3 credentials from files of mode 0600, as the README says.
	os.MkdirAll(filepath.Join(co.Dir, "config"), 0o700)
	for name, v := range map[string]string{"backup-s3-access-key": f.s3.Access, "backup-s3-secret-key": f.s3.Secret,
		"backup-s3-access-key-locked": f.s3.Access, "backup-s3-secret-key-locked": f.s3.Secret} {
		if err := os.WriteFile(filepath.Join(co.Dir, "config", name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	f.e = co.Engine(t)
	f.root = filepath.Join(co.Dir, "backups")
	if err := f.e.Up(ctx, engine.UpOptions{Services: []string{postgis.Service}}); err != nil {
		t.Fatal(err)
	}
	if err := postgis.EnsureDatabases(ctx, f.e); err != nil {
		t.Fatal(err)
	}
	f.psql(t, data)
	// The identity lives off the server: here, outside the checkout.
	f.identity = filepath.Join(t.TempDir(), "escrow.txt")
	path, pub, err := Keygen(f.e, f.identity)
	if err != nil || path != f.identity || !strings.HasPrefix(pub, "age1") {
		t.Fatalf("Keygen = %s, %s, %v", path, pub, err)
	}
	if env, _ := os.ReadFile(filepath.Join(co.Dir, ".env")); !strings.Contains(string(env), seal.RecipientsKey+"="+pub) {
		t.Fatalf(".env lacks the recipient:\n%s", env)
	}
	// A second recipient: an escrow key, as the README suggests.
	if _, _, err := Keygen(f.e, filepath.Join(t.TempDir(), "second.txt")); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestPushPullRestore(t *testing.T) {
	f := setup(t)
	want := f.digest(t)
	if !strings.HasPrefix(want, "20000 ") {
		t.Fatalf("fixture digest %q", want)
	}
	now := time.Now().UTC().Truncate(time.Second)
	set := filepath.Base(f.backup(t, now.Add(-3*time.Hour)))
	password := f.e.Env.Value("POSTGRES_PASSWORD")
	if local, _ := os.ReadFile(filepath.Join(f.root, set, "config", ".env")); password == "" || !bytes.Contains(local, []byte(password)) {
		t.Fatal("the local set's .env does not hold the password: the plaintext check below could not fail")
	}

	for _, dest := range []struct{ name, disk string }{{"", f.s3.Data}, {"office", f.sftp.Dir}} {
		t.Run("dest="+dest.name, func(t *testing.T) {
			res, err := PushSet(f.ctx, f.e, f.root, "", dest.name)
			if err != nil || !res.Uploaded || res.Set != set {
				t.Fatalf("push = %+v, %v", res, err)
			}
			if res, err := PushSet(f.ctx, f.e, f.root, set, dest.name); err != nil || res.Uploaded {
				t.Fatalf("second push = %+v, %v (want nothing uploaded)", res, err)
			}
			sets, _, err := ListSets(f.ctx, f.e, dest.name)
			local, _ := backup.List(f.root)
			if err != nil || len(sets) != 1 || sets[0].Name != set || sets[0].Files != local[0].Files || sets[0].Verified {
				t.Fatalf("remote sets = %+v, %v", sets, err)
			}
			// Nothing stored, hidden leftovers included, holds plaintext.
			filepath.WalkDir(dest.disk, func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					b, _ := os.ReadFile(p)
					if bytes.Contains(b, []byte(canary)) || bytes.Contains(b, []byte(password)) {
						t.Errorf("%s holds plaintext", p)
					}
				}
				return nil
			})

			// Pull into another server's backups folder, then restore.
			root2 := t.TempDir()
			dir, err := PullSet(f.ctx, f.e, root2, set, dest.name, f.identity)
			if err != nil {
				t.Fatal(err)
			}
			m1, _ := backup.ReadManifest(filepath.Join(f.root, set))
			m2, err := backup.ReadManifest(dir)
			if err != nil || len(m2.Files) != len(m1.Files) {
				t.Fatalf("pulled manifest: %v", err)
			}
			for i := range m1.Files {
				if m1.Files[i].SHA256 != m2.Files[i].SHA256 {
					t.Fatalf("%s differs after the round trip", m1.Files[i].Path)
				}
			}
			f.psql(t, "DROP TABLE parcels")
			src, err := backup.Resolve(root2, set)
			if err != nil {
				t.Fatal(err)
			}
			if err := backup.RestoreSet(f.ctx, f.e, src.Only(postgis.Service), true); err != nil {
				t.Fatal(err)
			}
			if got := f.digest(t); got != want {
				t.Fatalf("after push, pull and restore: %q, want %q", got, want)
			}
			if _, err := PullSet(f.ctx, f.e, root2, set, dest.name, f.identity); err == nil || !strings.Contains(err.Error(), "already in") {
				t.Fatalf("a second pull over the set: %v", err)
			}

			// The wrong identity is refused in one line, leaving nothing.
			other := filepath.Join(t.TempDir(), "other.txt")
			seal.Keygen(other, time.Now())
			root3 := t.TempDir()
			_, err = PullSet(f.ctx, f.e, root3, set, dest.name, other)
			var wrong *seal.WrongIdentityError
			if !errors.As(err, &wrong) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("pull with the wrong identity: %v", err)
			}
			assertEmpty(t, root3)

			// A flipped byte in a stored object is refused at pull.
			big := largest(t, dest.disk, set)
			flip(t, big)
			_, err = PullSet(f.ctx, f.e, root3, set, dest.name, f.identity)
			var corrupt *seal.CorruptError
			if !errors.As(err, &corrupt) {
				t.Fatalf("pull of a flipped byte: %v", err)
			}
			assertEmpty(t, root3)
			flip(t, big)
		})
	}

	// A local set that no longer matches its manifest is refused at push,
	// at every destination, and leaves no complete remote set.
	bad := f.backup(t, now.Add(-2*time.Hour))
	var biggest string
	var most int64
	entries, _ := os.ReadDir(filepath.Join(bad, "postgis"))
	for _, d := range entries {
		if fi, err := d.Info(); err == nil && fi.Mode().IsRegular() && fi.Size() > most {
			biggest, most = filepath.Join(bad, "postgis", d.Name()), fi.Size()
		}
	}
	if biggest == "" {
		t.Fatalf("no PostGIS file in %s", bad)
	}
	flip(t, biggest)
	for _, dest := range []string{"", "office"} {
		_, err := PushSet(f.ctx, f.e, f.root, filepath.Base(bad), dest)
		var sum *backup.ChecksumError
		if !errors.As(err, &sum) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("push of a corrupt set to %q: %v", dest, err)
		}
		sets, _, err := ListSets(f.ctx, f.e, dest)
		if err != nil {
			t.Fatal(err)
		}
		for _, rs := range sets {
			if rs.Name == filepath.Base(bad) && (rs.Files != 0 || !strings.Contains(rs.Note, "incomplete")) {
				t.Fatalf("a refused push to %q left a set that looks complete: %+v", dest, rs)
			}
		}
	}
}

// TestForgedSetsAreRefused: anyone who can write to the bucket can make a
// set that decrypts (the recipients are public). A set re-encrypted to
// them and signed by another key, or whose signature was removed, is
// refused by backup:pull in one line before anything is written; a server
// that trusts none of the site's keys accepts the site's set once the
// identity file, which names the site's signing key, is given.
func TestForgedSetsAreRefused(t *testing.T) {
	f := setup(t)
	set := f.backup(t, time.Now().Add(-time.Hour))
	if _, err := PushSet(f.ctx, f.e, f.root, "", ""); err != nil {
		t.Fatal(err)
	}
	// The forger's set: the site's set with its globals replaced, the
	// manifest updated, signed with the forger's own key and pushed.
	forged := filepath.Join(t.TempDir(), "20990101T000000Z")
	if err := os.CopyFS(forged, os.DirFS(set)); err != nil {
		t.Fatal(err)
	}
	globals := filepath.Join(forged, "postgis", "globals.sql.zst")
	os.WriteFile(globals, zstdOf(t, "\\! touch /tmp/osgs-pwned\n"), 0o644)
	rewriteManifest(t, forged, "postgis/globals.sql.zst")
	_, other, _ := ed25519.GenerateKey(nil)
	m, _ := os.ReadFile(filepath.Join(forged, backup.ManifestName))
	os.WriteFile(filepath.Join(forged, backup.SignatureName), setsign.Sign(other, m), 0o600)
	forger, err := Open(f.ctx, f.e, "")
	if err != nil {
		t.Fatal(err)
	}
	defer forger.Close()
	forger.signer, forger.trusted = other, []ed25519.PublicKey{other.Public().(ed25519.PublicKey)}
	if _, err := forger.Push(f.ctx, forged, time.Now()); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	_, err = PullSet(f.ctx, f.e, root, filepath.Base(forged), "", f.identity)
	if !errors.Is(err, refusal.Err) || !strings.Contains(err.Error(), "does not trust") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("pull of a set signed by another key: %v", err)
	}
	assertEmpty(t, root)
	// The same set with its index signature removed.
	if err := forger.Store.Delete(f.ctx, filepath.Base(forged)+"/"+IndexSigName); err != nil {
		t.Fatal(err)
	}
	_, err = PullSet(f.ctx, f.e, root, filepath.Base(forged), "", f.identity)
	if !errors.Is(err, refusal.Err) || !strings.Contains(err.Error(), "not signed") {
		t.Fatalf("pull of an unsigned set: %v", err)
	}
	assertEmpty(t, root)

	// A new server trusts nothing of the site until the identity file.
	fresh, err := Open(f.ctx, f.e, "")
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	fresh.trusted = nil
	ids, err := seal.Identities(f.identity)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.Pull(f.ctx, root, filepath.Base(set), ids); !errors.Is(err, refusal.Err) {
		t.Fatalf("a server that trusts no key pulled: %v", err)
	}
	assertEmpty(t, root)
	text, _ := os.ReadFile(f.identity)
	if _, err := fresh.Pull(f.ctx, root, filepath.Base(set), ids, setsign.KeysInComments(string(text))...); err != nil {
		t.Fatalf("pull with the identity file's signing key: %v", err)
	}
}

// zstdOf is s compressed by the zstd command, as a set stores SQL.
func zstdOf(t *testing.T, s string) []byte {
	t.Helper()
	cmd := exec.Command("zstd", "-q", "-c")
	cmd.Stdin = strings.NewReader(s)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// rewriteManifest updates the size and sha256 of rel in a set's manifest.
func rewriteManifest(t *testing.T, set, rel string) {
	t.Helper()
	m, err := backup.ReadManifest(set)
	if err != nil {
		t.Fatal(err)
	}
	sum, size, err := setfmt.FileSHA256(filepath.Join(set, rel))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Files {
		if m.Files[i].Path == rel {
			m.Files[i].SHA256, m.Files[i].Size = sum, size
		}
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(set, backup.ManifestName), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestOnePass: backup:all -push copies each file as it is written, and a
// destination that fails halfway never costs the local set.
func TestOnePass(t *testing.T) {
	f := setup(t)
	r, err := Open(f.ctx, f.e, "office")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dir, err := backup.Run(f.ctx, f.e, backup.Options{Root: f.root, Services: []string{postgis.Service}, Config: true,
		Mirror: func(set string) (backup.Mirror, error) { return r.Mirror(f.ctx, set) }})
	if err != nil {
		t.Fatal(err)
	}
	set := filepath.Base(dir)
	sets, err := r.List(f.ctx)
	if err != nil || len(sets) != 1 || sets[0].Name != set || sets[0].Note != "" {
		t.Fatalf("remote after one pass: %+v, %v", sets, err)
	}
	root2 := t.TempDir()
	ids, _ := seal.Identities(f.identity)
	pulled, err := r.Pull(f.ctx, root2, set, ids)
	if err != nil {
		t.Fatal(err)
	}
	m1, _ := backup.ReadManifest(dir)
	m2, _ := backup.ReadManifest(pulled)
	if len(m1.Files) != len(m2.Files) || m1.Files[0].SHA256 != m2.Files[0].SHA256 {
		t.Fatal("the one-pass copy differs")
	}

	// The destination dies after two files: the local set is complete,
	// the error says how to send it again, the remote set is not complete.
	real := r.Store
	r.Store = &dying{Store: real, after: 2}
	dir2, err := backup.Run(f.ctx, f.e, backup.Options{Root: f.root, Services: []string{postgis.Service}, Config: true, Now: time.Now().Add(time.Minute),
		Mirror: func(set string) (backup.Mirror, error) { return r.Mirror(f.ctx, set) }})
	var me *backup.MirrorError
	if !errors.As(err, &me) || dir2 == "" || !strings.Contains(err.Error(), "backup:push -set=") {
		t.Fatalf("one pass with a dying destination: %q, %v", dir2, err)
	}
	if _, err := backup.ReadManifest(dir2); err != nil {
		t.Fatalf("the local set is not complete: %v", err)
	}
	r.Store = real
	if ok, _ := r.complete(f.ctx, filepath.Base(dir2)); ok {
		t.Fatal("a failed one-pass copy looks complete")
	}
	if res, err := r.Push(f.ctx, dir2, time.Now()); err != nil || !res.Uploaded {
		t.Fatalf("push after the failed copy: %+v, %v", res, err)
	}
}

// TestKilledUpload: an upload that dies halfway leaves no complete-looking
// set, pull refuses it, and the next push finishes it.
func TestKilledUploadPruneAndLock(t *testing.T) {
	f := setup(t)
	now := time.Now().UTC().Truncate(time.Second)
	a := f.backup(t, now.Add(-3*time.Hour))
	r, err := Open(f.ctx, f.e, "")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	real := r.Store
	r.Store = &dying{Store: real, after: 2}
	if _, err := r.Push(f.ctx, a, now); err == nil {
		t.Fatal("a push whose upload died succeeded")
	}
	r.Store = real
	sets, err := r.List(f.ctx)
	if err != nil || len(sets) != 1 || sets[0].Note != incompleteNote {
		t.Fatalf("after a killed upload: %+v, %v", sets, err)
	}
	var nc *NotCompleteError
	if _, err := r.Pull(f.ctx, t.TempDir(), filepath.Base(a), nil); !errors.As(err, &nc) {
		t.Fatalf("pull of an incomplete set: %v", err)
	}
	res, err := PushSet(f.ctx, f.e, f.root, filepath.Base(a), "")
	if err != nil || !res.Uploaded {
		t.Fatalf("the push after the killed one: %+v, %v", res, err)
	}
	objs, _ := real.List(f.ctx, filepath.Base(a)+"/")
	m, _ := backup.ReadManifest(a)
	if len(objs) != len(m.Files)+4 { // files, manifest and its signature, index and its: no leftovers
		t.Fatalf("%d objects after the redo, want %d", len(objs), len(m.Files)+4)
	}

	// Prune: A is verified, B and C are not. -keep=1 keeps C (newest) and
	// A (newest verified), and deletes B.
	if err := os.WriteFile(filepath.Join(a, backup.VerifiedName), []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if res, err := PushSet(f.ctx, f.e, f.root, filepath.Base(a), ""); err != nil || res.Uploaded || !res.Verified {
		t.Fatalf("push of the verified mark: %+v, %v", res, err)
	}
	b := f.backup(t, now.Add(-2*time.Hour))
	c := f.backup(t, now.Add(-1*time.Hour))
	for _, s := range []string{b, c} {
		if _, err := PushSet(f.ctx, f.e, f.root, filepath.Base(s), ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Prune(f.ctx, backup.Policy{}, false); err == nil {
		t.Fatal("a prune without a policy ran")
	}
	pr, err := r.Prune(f.ctx, backup.Policy{Last: 1}, false)
	if err != nil || len(pr.Gone) != 1 || pr.Gone[0] != filepath.Base(b) {
		t.Fatalf("prune = %+v, %v", pr, err)
	}
	sets, _ = r.List(f.ctx)
	if len(sets) != 2 || sets[0].Name != filepath.Base(c) || sets[1].Name != filepath.Base(a) || !sets[1].Verified {
		t.Fatalf("after prune: %+v", sets)
	}
	if objs, _ := real.List(f.ctx, filepath.Base(b)+"/"); len(objs) != 0 {
		t.Fatalf("pruned set left %d objects", len(objs))
	}

	// Object Lock: a bucket with a default retention keeps its sets.
	lockBucket(t, f.s3, "osgs-locked")
	for _, s := range []string{b, c} {
		if _, err := PushSet(f.ctx, f.e, f.root, filepath.Base(s), "locked"); err != nil {
			t.Fatal(err)
		}
	}
	all, err := PruneAll(f.ctx, f.e, f.root, "locked", backup.Policy{Last: 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	var lockedRes *PruneResult
	for _, v := range all {
		lockedRes = v
	}
	if lockedRes == nil || len(lockedRes.Gone) != 0 || len(lockedRes.Locked) != 1 || !strings.Contains(lockedRes.Locked[0], "retention until") {
		t.Fatalf("prune of a locked bucket = %+v", lockedRes)
	}
	lr, _ := Open(f.ctx, f.e, "locked")
	defer lr.Close()
	if sets, _ := lr.List(f.ctx); len(sets) != 2 || sets[1].Note != "" {
		t.Fatalf("the locked set went or broke: %+v", sets)
	}
}

// dying is a store whose uploads die after a few objects, halfway through.
type dying struct {
	remote.Store
	after int
}

func (d *dying) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if d.after--; d.after >= 0 {
		return d.Store.Put(ctx, key, r, size)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	return d.Store.Put(ctx, key, &cancelAfter{r: r, n: 1 << 10, cancel: cancel}, size)
}

type cancelAfter struct {
	r      io.Reader
	n      int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
		return 0, errors.New("killed")
	}
	if len(p) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= n
	return n, err
}

func lockBucket(t *testing.T, s *testenv.S3, bucket string) {
	u, _ := url.Parse(s.URL(bucket, ""))
	mc, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(s.Access, s.Secret, ""), Secure: true,
		Transport: testenv.CATransport(t, s.CAFile), BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{ObjectLocking: true}); err != nil {
		t.Fatal(err)
	}
	mode, days, unit := minio.Governance, uint(1), minio.Days
	if err := mc.SetObjectLockConfig(ctx, bucket, &mode, &days, &unit); err != nil {
		t.Fatal(err)
	}
}

func assertEmpty(t *testing.T, root string) {
	t.Helper()
	if left, _ := os.ReadDir(root); len(left) > 0 && !(len(left) == 1 && left[0].Name() == ".lock") {
		t.Fatalf("a refused pull left %v", left)
	}
}

// largest finds the biggest stored object of set on the server's disk.
func largest(t *testing.T, disk, set string) string {
	var best string
	var size int64
	filepath.WalkDir(disk, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && strings.Contains(p, set) && strings.HasSuffix(p, seal.Ext) {
			if fi, _ := d.Info(); fi.Size() > size {
				best, size = p, fi.Size()
			}
		}
		return nil
	})
	if best == "" {
		t.Fatalf("no stored object of %s under %s", set, disk)
	}
	return best
}

func flip(t *testing.T, p string) {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x20
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestLocalEncryption: with BACKUP_LOCAL_ENCRYPT=on the local set holds no
// plaintext. Verify refuses in one line without the identity and passes
// with it; push sends the encrypted files as they are (in one pass too),
// and a pulled copy restores the same rows.
func TestLocalEncryption(t *testing.T) {
	f := setup(t)
	want := f.digest(t)
	password := f.e.Env.Value("POSTGRES_PASSWORD")
	f.e.Env.Set(backup.LocalEncryptKey, "on")
	dir := f.backup(t, time.Now().Add(-time.Hour))
	set := filepath.Base(dir)
	m, err := backup.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	var config bool
	for _, e := range m.Files {
		if !strings.HasSuffix(e.Path, seal.Ext) {
			t.Errorf("%s is stored unencrypted", e.Path)
		}
		config = config || e.Kind == backup.KindConfig
		if e.Kind == backup.KindDatabase && e.Stats == nil {
			t.Errorf("%s has no stats: verify would not compare", e.Path)
		}
	}
	if !config || password == "" {
		t.Fatal("the set has no configuration: the plaintext check could not fail")
	}
	noPlaintext := func(root string) {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				b, _ := os.ReadFile(p)
				if bytes.Contains(b, []byte(canary)) || bytes.Contains(b, []byte(password)) {
					t.Errorf("%s holds plaintext", p)
				}
			}
			return nil
		})
	}
	noPlaintext(dir)

	f.e.Env.Set(backup.IdentityKey, "")
	err = backup.Verify(f.ctx, f.e, f.root, set)
	var none *backup.NoIdentityError
	if !errors.As(err, &none) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("verify without the identity: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, backup.VerifiedName)); err == nil {
		t.Fatal("a set verify could not read is marked verified")
	}
	f.e.Env.Set(backup.IdentityKey, f.identity)
	if err := backup.Verify(f.ctx, f.e, f.root, set); err != nil {
		t.Fatal(err)
	}

	res, err := PushSet(f.ctx, f.e, f.root, set, "office")
	if err != nil || !res.Uploaded || !res.Verified {
		t.Fatalf("push = %+v, %v", res, err)
	}
	noPlaintext(f.sftp.Dir)
	root2 := t.TempDir()
	pulled, err := PullSet(f.ctx, f.e, root2, set, "office", f.identity)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range m.Files {
		a, _ := os.ReadFile(filepath.Join(dir, e.Path))
		b, _ := os.ReadFile(filepath.Join(pulled, e.Path))
		if !bytes.Equal(a, b) {
			t.Fatalf("%s differs after push and pull", e.Path)
		}
	}
	f.psql(t, "DROP TABLE parcels")
	src, err := backup.Resolve(root2, set)
	if err != nil {
		t.Fatal(err)
	}
	if err := backup.RestoreSet(f.ctx, f.e, src.Only(postgis.Service), true); err != nil {
		t.Fatal(err)
	}
	if got := f.digest(t); got != want {
		t.Fatalf("after restore of the encrypted set: %q, want %q", got, want)
	}

	// One pass: the mirror gets the encrypted bytes and does not wrap them again.
	r, err := Open(f.ctx, f.e, "")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dir2, err := backup.Run(f.ctx, f.e, backup.Options{Root: f.root, Services: []string{postgis.Service}, Config: true,
		Mirror: func(set string) (backup.Mirror, error) { return r.Mirror(f.ctx, set) }})
	if err != nil {
		t.Fatal(err)
	}
	noPlaintext(f.s3.Data)
	ids, _ := seal.Identities(f.identity)
	pulled2, err := r.Pull(f.ctx, t.TempDir(), filepath.Base(dir2), ids)
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := backup.ReadManifest(dir2)
	if err := backup.VerifyChecksums(pulled2, m2, nil); err != nil {
		t.Fatal(err)
	}
	ix, err := r.readIndex(f.ctx, filepath.Base(dir2))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range ix.Files {
		if o.AsStored != (o.Path != backup.ManifestName && o.Path != backup.SignatureName) || o.AsStored && o.Key != o.Path {
			t.Errorf("remote object %+v: encrypted files go as they are, the manifest and its signature are encrypted", o)
		}
	}
}
