package remote

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/osgs/osgs/internal/envfile"
)

// S3 settings (each may be suffixed _<NAME> for a named destination).
const (
	S3CAFileKey     = "BACKUP_S3_CA_FILE"     // PEM bundle of a private CA, added to the system's
	S3RegionKey     = "BACKUP_S3_REGION"      // default us-east-1
	S3AccessFileKey = "BACKUP_S3_ACCESS_FILE" // default config/backup-s3-access-key[-NAME]
	S3SecretFileKey = "BACKUP_S3_SECRET_FILE" // default config/backup-s3-secret-key[-NAME]
)

func init() {
	Register("s3", openS3)
	Register("s3+http", openS3)
}

// s3Store is an S3-compatible bucket, through minio-go.
type s3Store struct {
	c      *minio.Client
	bucket string
	prefix string // "" or "a/b/"
	name   string
}

// s3Target splits s3://host[:port]/bucket[/prefix].
func s3Target(u *url.URL) (bucket, prefix string, err error) {
	p := strings.Trim(u.Path, "/")
	bucket, prefix, _ = strings.Cut(p, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%s://%s names no bucket (want %s://host[:port]/bucket[/prefix])", u.Scheme, u.Host, u.Scheme)
	}
	if u.User != nil {
		return "", "", fmt.Errorf("%s:// takes no user: credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or files", u.Scheme)
	}
	if prefix != "" {
		prefix += "/"
	}
	return bucket, prefix, nil
}

// s3Credentials reads the key pair: the environment first (as every S3
// tool does), else the two files.
func s3Credentials(c Config) (id, secret string, err error) {
	id, secret = c.Lookup("AWS_ACCESS_KEY_ID"), c.Lookup("AWS_SECRET_ACCESS_KEY")
	if id != "" && secret != "" {
		return id, secret, nil
	}
	suffix := ""
	if c.Name != "" && c.Name != DefaultName {
		suffix = "-" + c.Name
	}
	files := [2]string{c.Setting(S3AccessFileKey), c.Setting(S3SecretFileKey)}
	if files[0] == "" {
		files[0] = "config/backup-s3-access-key" + suffix
	}
	if files[1] == "" {
		files[1] = "config/backup-s3-secret-key" + suffix
	}
	var vals [2]string
	for i, f := range files {
		vals[i], err = envfile.ReadSecret(c.Path(f))
		if errors.Is(err, os.ErrNotExist) {
			return "", "", fmt.Errorf("no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or write %s and %s (mode 0600)", files[0], files[1])
		}
		if err != nil {
			return "", "", err
		}
	}
	return vals[0], vals[1], nil
}

func openS3(ctx context.Context, u *url.URL, c Config) (Store, error) {
	bucket, prefix, err := s3Target(u)
	if err != nil {
		return nil, err
	}
	secure := u.Scheme == "s3"
	if !secure && !Private(u.Hostname()) {
		return nil, fmt.Errorf("s3+http:// sends backups in the clear: only a loopback or private-network address may use it, not %s (use s3://)", u.Hostname())
	}
	id, secret, err := s3Credentials(c)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if ca := c.Setting(S3CAFileKey); ca != "" && secure {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(c.Path(ca))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", S3CAFileKey, err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: %s holds no PEM certificate", S3CAFileKey, ca)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	region := c.Setting(S3RegionKey)
	if region == "" {
		region = "us-east-1"
	}
	mc, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(id, secret, ""),
		Secure:       secure,
		Transport:    tr,
		Region:       region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 %s: %w", u.Host, err)
	}
	s := &s3Store{c: mc, bucket: bucket, prefix: prefix, name: u.Scheme + "://" + u.Host + "/" + bucket + "/" + prefix}
	ok, err := mc.BucketExists(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, s3Err(err))
	}
	if !ok {
		if err := mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: region}); err != nil {
			return nil, fmt.Errorf("%s: bucket %s does not exist and could not be created: %w", s.name, bucket, s3Err(err))
		}
	}
	return s, nil
}

// s3Err shortens minio's errors to their message.
func s3Err(err error) error {
	var r minio.ErrorResponse
	if errors.As(err, &r) && r.Code != "" {
		return fmt.Errorf("%s (%s)", r.Message, r.Code)
	}
	return err
}

func (s *s3Store) String() string { return s.name }
func (s *s3Store) Close() error   { return nil }

// partSize keeps memory bounded while leaving room for the object under
// S3's 10,000 parts.
func partSize(size int64) uint64 {
	const min = 16 << 20
	if size <= 0 {
		return 64 << 20 // up to 640 GiB
	}
	p := uint64(size/9000+1<<20) &^ (1<<20 - 1)
	return max(p, min)
}

// uploadMemory bounds the part buffers of one parallel upload.
const uploadMemory = 128 << 20

// uploadThreads is how many parts of an object of known size are sent at
// once: up to 4, within uploadMemory.
func uploadThreads(part uint64) uint {
	return uint(min(max(uploadMemory/part, 1), 4))
}

// Put sends r as one object. Of a known size, it is filled part by part
// from the stream and the parts are sent in parallel (the sender is not
// left waiting on each part's round trip); of an unknown size, part after
// part. Either way at most uploadMemory is buffered.
func (s *s3Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	opts := minio.PutObjectOptions{PartSize: partSize(size), ContentType: "application/octet-stream"}
	if size >= 0 {
		r = Exact(r, size, nil)
	}
	if size > int64(opts.PartSize) {
		opts.ConcurrentStreamParts, opts.NumThreads = true, uploadThreads(opts.PartSize)
	}
	_, err := s.c.PutObject(ctx, s.bucket, s.prefix+key, r, size, opts)
	if err != nil {
		// An unfinished multipart upload is invisible but holds space.
		_ = s.c.RemoveIncompleteUpload(context.WithoutCancel(ctx), s.bucket, s.prefix+key)
		return fmt.Errorf("upload %s: %w", key, s3Err(err))
	}
	return nil
}

func (s *s3Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if _, err := s.c.StatObject(ctx, s.bucket, s.prefix+key, minio.StatObjectOptions{}); err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" || minio.ToErrorResponse(err).StatusCode == http.StatusNotFound {
			return nil, fmt.Errorf("%s%s: %w", s.name, key, os.ErrNotExist)
		}
		return nil, fmt.Errorf("%s%s: %w", s.name, key, s3Err(err))
	}
	o, err := s.c.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s%s: %w", s.name, key, s3Err(err))
	}
	return o, nil
}

func (s *s3Store) List(ctx context.Context, prefix string) ([]Object, error) {
	var out []Object
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("list %s: %w", s.name, s3Err(o.Err))
		}
		out = append(out, Object{Key: strings.TrimPrefix(o.Key, s.prefix), Size: o.Size, Modified: o.LastModified})
	}
	return out, nil
}

// Delete removes every version of key, so that space is really freed in a
// versioned bucket, unless a version's retention has not expired.
func (s *s3Store) Delete(ctx context.Context, key string) error {
	full := s.prefix + key
	type version struct {
		id       string
		modified time.Time
	}
	var versions []version
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: full, Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			versions = nil // not versioned, or listing versions unsupported
			break
		}
		if o.Key == full {
			versions = append(versions, version{o.VersionID, o.LastModified})
		}
	}
	if len(versions) == 0 {
		versions = []version{{}}
	}
	now := time.Now()
	for _, v := range versions {
		_, until, err := s.c.GetObjectRetention(ctx, s.bucket, full, v.id)
		if err == nil && until != nil && until.After(now) {
			return &LockedError{Key: key, Until: *until}
		}
	}
	for _, v := range versions {
		err := s.c.RemoveObject(ctx, s.bucket, full, minio.RemoveObjectOptions{VersionID: v.id})
		if err == nil {
			continue
		}
		if r := minio.ToErrorResponse(err); r.Code == "AccessDenied" || r.Code == "ObjectLocked" {
			// Some servers apply the bucket's default retention without
			// reporting it per object: the bucket's rule dates it.
			locked := &LockedError{Key: key}
			if _, n, unit, err := s.c.GetBucketObjectLockConfig(ctx, s.bucket); err == nil && n != nil && unit != nil && !v.modified.IsZero() {
				days := int(*n)
				if *unit == minio.Years {
					days *= 365
				}
				locked.Until = v.modified.AddDate(0, 0, days)
			}
			return locked
		}
		return fmt.Errorf("delete %s: %w", path.Join(s.name, key), s3Err(err))
	}
	return nil
}

// Clean aborts the unfinished multipart uploads under prefix.
func (s *s3Store) Clean(ctx context.Context, prefix string) error {
	for u := range s.c.ListIncompleteUploads(ctx, s.bucket, s.prefix+prefix, true) {
		if u.Err != nil {
			return fmt.Errorf("list unfinished uploads in %s: %w", s.name, s3Err(u.Err))
		}
		if err := s.c.RemoveIncompleteUpload(ctx, s.bucket, u.Key); err != nil {
			return fmt.Errorf("abort the unfinished upload of %s: %w", u.Key, s3Err(err))
		}
	}
	return nil
}

// S3Target is an s3:// destination resolved for another S3 client (such as
// pgBackRest's repository 2): where it is and the credentials to use.
type S3Target struct {
	Host, Port     string // Port is "" for 443
	Bucket, Prefix string // Prefix is "" or "a/b/"
	Region         string
	CAFile         string // a private CA's PEM file, or ""
	Key, Secret    string
}

// ResolveS3 reads an s3:// destination's settings and credentials.
func ResolveS3(raw string, c Config) (*S3Target, error) {
	u, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "s3" {
		return nil, fmt.Errorf("%s:// is not an s3:// (TLS) destination", u.Scheme)
	}
	bucket, prefix, err := s3Target(u)
	if err != nil {
		return nil, err
	}
	id, secret, err := s3Credentials(c)
	if err != nil {
		return nil, err
	}
	region := c.Setting(S3RegionKey)
	if region == "" {
		region = "us-east-1"
	}
	return &S3Target{Host: u.Hostname(), Port: u.Port(), Bucket: bucket, Prefix: prefix, Region: region,
		CAFile: c.Path(c.Setting(S3CAFileKey)), Key: id, Secret: secret}, nil
}
