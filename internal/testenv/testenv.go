// Package testenv gives integration tests an isolated copy of the checkout
// under a unique compose project name, and a Docker engine. Without a daemon
// the tests skip, except under CI=true, where that is a failure.
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/catalog"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/envfile"
	"github.com/osgs/osgs/internal/gen"
	"github.com/osgs/osgs/internal/hooks"
	"github.com/osgs/osgs/internal/site"
)

// Root is the repository root.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// RequireDocker skips (or under CI fails) the test when no daemon answers.
func RequireDocker(t testing.TB) {
	t.Helper()
	cli, err := client.New(client.FromEnv)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
		cli.Close()
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and no Docker daemon answers: %v", err)
		}
		t.Skipf("no Docker daemon: %v", err)
	}
	dockerLockOnce.Do(func() { dockerLockErr = lockDocker() })
	if dockerLockErr != nil {
		t.Fatal(dockerLockErr)
	}
	buildImagesOnce.Do(func() { buildImagesErr = buildImages() })
	if buildImagesErr != nil {
		t.Fatalf("build the images: %v", buildImagesErr)
	}
}

var (
	buildImagesOnce sync.Once
	buildImagesErr  error
)

// buildImages builds every image osgs builds (engine.BuildAll) once per
// test process, before the first test that needs Docker: on a fresh machine
// that is one build of all images at once, instead of a batch in each test
// that first needs some. Current images are kept, so later processes only
// hash the build contexts.
func buildImages() error {
	dir, err := os.MkdirTemp("", "osgs-images-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := copyCheckout(dir); err != nil {
		return err
	}
	f := &envfile.File{}
	f.Set("COMPOSE_PROJECT_NAME", "osgstestimages")
	if err := f.Write(filepath.Join(dir, ".env")); err != nil {
		return err
	}
	log := &lockedBuffer{}
	e, err := hooks.Open(engine.Options{Dir: dir, Out: log, Err: log, In: eofReader{}})
	if err != nil {
		return err
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	if err := e.BuildAll(ctx); err != nil {
		return fmt.Errorf("%w\n%s", err, tail(log.bytes(), 4000))
	}
	return nil
}

// lockedBuffer collects output written from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Bytes()
}

// copyCheckout copies what a checkout needs to run osgs into dir.
func copyCheckout(dir string) error {
	root := Root()
	for _, f := range []string{"compose.yaml", "go.mod", "go.sum"} {
		if err := copyFile(filepath.Join(root, f), filepath.Join(dir, f)); err != nil {
			return err
		}
	}
	// The Go module comes too: services build programs of this checkout
	// (x-osgs.go_build, version local) from it.
	for _, d := range []string{"services", "images", "cmd", "internal"} {
		if err := copyTree(filepath.Join(root, d), filepath.Join(dir, d)); err != nil {
			return err
		}
	}
	return nil
}

// Checkout is a copy of the project's compose files in a temporary folder.
type Checkout struct {
	Dir     string
	Project string
}

// NewCheckout copies compose.yaml, services/, images/ and the Go module into a temp dir and writes a
// .env naming a unique project and free host ports. extra adds settings.
func NewCheckout(t testing.TB, extra map[string]string) *Checkout {
	t.Helper()
	dir := t.TempDir()
	if err := copyCheckout(dir); err != nil {
		t.Fatal(err)
	}
	c := &Checkout{Dir: dir, Project: "osgstest" + randHex(4)}
	f := &envfile.File{}
	f.Set("COMPOSE_PROJECT_NAME", c.Project)
	// Every published port is a free one on loopback, so tests run beside
	// a real stack and each other.
	for _, k := range []string{"POSTGIS_PORT", "NGINX_HTTP_PORT", "NGINX_HTTPS_PORT", "MQTT_PORT", "MQTTS_PORT"} {
		f.Set(k, strconv.Itoa(FreePort(t)))
	}
	f.Set("NGINX_BIND", "127.0.0.1")
	f.Set("MQTT_BIND", "127.0.0.1")
	for k, v := range extra {
		f.Set(k, v)
	}
	if err := f.Write(filepath.Join(dir, ".env")); err != nil {
		t.Fatal(err)
	}
	// An outer COMPOSE_PROJECT_NAME would override the test's own.
	t.Setenv("COMPOSE_PROJECT_NAME", "")
	os.Unsetenv("COMPOSE_PROJECT_NAME")
	return c
}

// Engine opens the checkout with output sent to the test log.
func (c *Checkout) Engine(t testing.TB) *engine.Engine {
	t.Helper()
	w := &logWriter{t: t}
	e, err := hooks.Open(engine.Options{Dir: c.Dir, Out: w, Err: w, In: eofReader{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// Cleanup removes the project's containers, networks and volumes when the test ends.
func (c *Checkout) Cleanup(t testing.TB) {
	t.Cleanup(func() {
		e, err := engine.Open(engine.Options{Dir: c.Dir, Out: io.Discard, Err: io.Discard, In: eofReader{}})
		if err != nil {
			t.Logf("cleanup: %v", err)
			return
		}
		defer e.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := e.Nuke(ctx, true); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
}

// FreePort returns a TCP port that is free on 127.0.0.1 right now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type logWriter struct{ t testing.TB }

func (w *logWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	info, err := os.Stat(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, info.Mode().Perm())
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		return copyFile(p, target)
	})
}

// AddService adds a service folder with the given compose fragment to the
// checkout and regenerates its root compose.yaml, the way a developer adds
// a service.
func (c *Checkout) AddService(t testing.TB, name, fragment string) {
	t.Helper()
	dir := filepath.Join(c.Dir, "services", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(fragment), 0o644); err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Load(c.Dir)
	if err != nil {
		t.Fatal(err)
	}
	files, err := gen.Render(cat)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.Dir, gen.ComposePath), files[gen.ComposePath], 0o644); err != nil {
		t.Fatal(err)
	}
}

// SitePool trusts only the checkout's own site certificate (config/tls),
// so https clients in tests verify what osgs made.
func (c *Checkout) SitePool(t testing.TB) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(site.CertPath(c.Dir))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("site certificate does not parse")
	}
	return pool
}

// Start needs Docker, makes a checkout (with extra services, name ->
// fragment), starts services, and removes everything when the test ends.
func Start(t testing.TB, timeout time.Duration, extra map[string]string, services ...string) (context.Context, *Checkout, *engine.Engine) {
	t.Helper()
	RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	c := NewCheckout(t, nil)
	c.Cleanup(t)
	for name, fragment := range extra {
		c.AddService(t, name, fragment)
	}
	e := c.Engine(t)
	if err := e.Up(ctx, engine.UpOptions{Services: services}); err != nil {
		t.Fatal(err)
	}
	return ctx, c, e
}
