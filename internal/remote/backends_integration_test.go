package remote_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/osgs/osgs/internal/remote"
	"github.com/osgs/osgs/internal/remote/storetest"
	"github.com/osgs/osgs/internal/testenv"
)

func lookup(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func open(t *testing.T, raw string, c remote.Config) remote.Store {
	t.Helper()
	s, err := remote.Open(context.Background(), raw, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestS3(t *testing.T) {
	srv := testenv.StartS3(t)
	env := map[string]string{"AWS_ACCESS_KEY_ID": srv.Access, "AWS_SECRET_ACCESS_KEY": srv.Secret, "BACKUP_S3_CA_FILE": srv.CAFile}
	t.Run("Suite", func(t *testing.T) {
		// The bucket does not exist yet: Open makes it.
		storetest.Run(t, open(t, srv.URL("fresh", "osgs/main"), remote.Config{Lookup: lookup(env)}))
		if _, err := os.Stat(filepath.Join(srv.Data, "fresh")); err != nil {
			t.Fatalf("bucket not created: %v", err)
		}
	})
	t.Run("CredentialFiles", func(t *testing.T) {
		dir := t.TempDir()
		os.Mkdir(filepath.Join(dir, "config"), 0o700)
		os.WriteFile(filepath.Join(dir, "config/backup-s3-access-key-office"), []byte(srv.Access+"\n"), 0o600)
		os.WriteFile(filepath.Join(dir, "config/backup-s3-secret-key-office"), []byte(srv.Secret+"\n"), 0o600)
		c := remote.Config{Name: "office", Dir: dir, Lookup: lookup(map[string]string{"BACKUP_S3_CA_FILE_OFFICE": srv.CAFile})}
		s := open(t, srv.URL("files", ""), c)
		if _, err := s.List(context.Background(), ""); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Refusals", func(t *testing.T) {
		for name, tc := range map[string]struct {
			url string
			env map[string]string
			err string
		}{
			"untrusted CA":    {srv.URL("bkt", ""), map[string]string{"AWS_ACCESS_KEY_ID": srv.Access, "AWS_SECRET_ACCESS_KEY": srv.Secret}, "certificate"},
			"wrong secret":    {srv.URL("bkt", ""), map[string]string{"AWS_ACCESS_KEY_ID": srv.Access, "AWS_SECRET_ACCESS_KEY": "wrong-" + srv.Secret[:6], "BACKUP_S3_CA_FILE": srv.CAFile}, "access denied"},
			"no credentials":  {srv.URL("bkt", ""), map[string]string{}, "no S3 credentials"},
			"public http":     {"s3+http://203.0.113.9/bkt", env, "only a loopback or private-network"},
			"unreachable":     {"s3://127.0.0.1:1/bkt", env, "refused"},
			"no bucket named": {"s3://" + srv.Endpoint + "/", env, "names no bucket"},
		} {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			_, err := remote.Open(ctx, tc.url, remote.Config{Dir: t.TempDir(), Lookup: lookup(tc.env)})
			cancel()
			if err == nil || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tc.err)) {
				t.Errorf("%s: %v, want %q", name, err, tc.err)
			}
			if err != nil && (strings.Contains(err.Error(), srv.Secret) || strings.Contains(err.Error(), "\n")) {
				t.Errorf("%s: the error is not one line without secrets: %v", name, err)
			}
		}
	})
	t.Run("ObjectLock", func(t *testing.T) {
		u, _ := url.Parse(srv.URL("x", ""))
		mc, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(srv.Access, srv.Secret, ""), Secure: true,
			Transport: testenv.CATransport(t, srv.CAFile), BucketLookup: minio.BucketLookupPath})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := mc.MakeBucket(ctx, "locked", minio.MakeBucketOptions{ObjectLocking: true}); err != nil {
			t.Fatal(err)
		}
		mode, days, unit := minio.Governance, uint(1), minio.Days
		if err := mc.SetObjectLockConfig(ctx, "locked", &mode, &days, &unit); err != nil {
			t.Fatal(err)
		}
		s := open(t, srv.URL("locked", ""), remote.Config{Lookup: lookup(env)})
		if err := s.Put(ctx, "kept", strings.NewReader("data"), 4); err != nil {
			t.Fatal(err)
		}
		err = s.Delete(ctx, "kept")
		var locked *remote.LockedError
		if !errors.As(err, &locked) || locked.Until.Before(time.Now()) {
			t.Fatalf("Delete of a locked object = %v, want a LockedError with a future date", err)
		}
		if objs, _ := s.List(ctx, ""); len(objs) != 1 {
			t.Fatalf("the locked object went: %+v", objs)
		}
	})
}

func TestSFTP(t *testing.T) {
	srv := testenv.StartSFTP(t)
	env := map[string]string{"BACKUP_SSH_KEY": srv.KeyFile, "BACKUP_SSH_KNOWN_HOSTS": srv.KnownHosts}
	t.Run("Suite", func(t *testing.T) {
		storetest.Run(t, open(t, srv.URL("osgs/main"), remote.Config{Lookup: lookup(env)}))
	})
	t.Run("Refusals", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "known_hosts")
		os.WriteFile(other, []byte("[127.0.0.1]:1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"), 0o600)
		loose := filepath.Join(t.TempDir(), "key")
		data, _ := os.ReadFile(srv.KeyFile)
		os.WriteFile(loose, data, 0o644)
		for name, tc := range map[string]struct {
			url string
			env map[string]string
			err string
		}{
			"unknown host key": {srv.URL("x"), map[string]string{"BACKUP_SSH_KEY": srv.KeyFile, "BACKUP_SSH_KNOWN_HOSTS": other}, "key is unknown"},
			"key file 0644":    {srv.URL("x"), map[string]string{"BACKUP_SSH_KEY": loose, "BACKUP_SSH_KNOWN_HOSTS": srv.KnownHosts}, "chmod 600"},
			"no user":          {"sftp://" + srv.Addr + "/x", env, "names no user"},
			"no folder":        {"sftp://root@" + srv.Addr, env, "names no folder"},
			"unreachable":      {"sftp://root@127.0.0.1:1/x", env, "refused"},
		} {
			_, err := remote.Open(context.Background(), tc.url, remote.Config{Dir: t.TempDir(), Lookup: lookup(tc.env)})
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want %q", name, err, tc.err)
			}
		}
	})
}
