package nginx_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os/exec"
	"regexp"

	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/files"
	"github.com/osgs/osgs/internal/nginx"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/site"
	"github.com/osgs/osgs/internal/status"
	"github.com/osgs/osgs/internal/testenv"
)

// site is a client of one checkout's front door. It trusts only the
// checkout's own certificate and resolves every host to its loopback port.
type frontDoor struct {
	t      *testing.T
	base   string
	client *http.Client
}

func newFrontDoor(t *testing.T, c *testenv.Checkout, e *engine.Engine) *frontDoor {
	t.Helper()
	pool := c.SitePool(t)
	port := e.Env.Value("NGINX_HTTPS_PORT")
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+port)
		},
		MaxIdleConnsPerHost: 4,
	}
	return &frontDoor{t: t, base: "https://localhost:" + port,
		client: &http.Client{Transport: tr, Timeout: 60 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type reply struct {
	code   int
	ctype  string
	body   []byte
	header http.Header
}

func (f *frontDoor) get(path string, auth ...string) (reply, error) {
	req, err := http.NewRequest(http.MethodGet, f.base+path, nil)
	if err != nil {
		return reply{}, err
	}
	if len(auth) == 2 {
		req.SetBasicAuth(auth[0], auth[1])
	}
	res, err := f.client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return reply{code: res.StatusCode, ctype: res.Header.Get("Content-Type"), body: body, header: res.Header}, err
}

// must fetches path and fails the test unless it answers want.
func (f *frontDoor) must(path string, want int, auth ...string) reply {
	f.t.Helper()
	r, err := f.get(path, auth...)
	if err != nil {
		f.t.Fatalf("GET %s: %v", path, err)
	}
	if r.code != want {
		f.t.Fatalf("GET %s: %d, want %d: %.300s", path, r.code, want, r.body)
	}
	return r
}

// eventually polls path until it answers want (a rebuild, a cache).
func (f *frontDoor) eventually(path string, want int, within time.Duration) reply {
	f.t.Helper()
	return f.eventuallyAny(path, []int{want}, within)
}

// down are nginx's answers for a backend that does not answer: 502 when
// its name does not resolve or its address refuses, 504 when the lookup or
// the connection times out (Docker's DNS forwards a stopped container's
// name to the host's resolver, which may answer it with an address where
// nothing listens).
var down = []int{http.StatusBadGateway, http.StatusGatewayTimeout}

// eventuallyAny polls path until it answers one of want.
func (f *frontDoor) eventuallyAny(path string, want []int, within time.Duration) reply {
	f.t.Helper()
	deadline := time.Now().Add(within)
	var seen []string // each distinct answer, with how long it took
	for {
		start := time.Now()
		r, err := f.get(path)
		if err == nil && slices.Contains(want, r.code) {
			return r
		}
		got := fmt.Sprintf("%d %.120q", r.code, r.body)
		if err != nil {
			got = err.Error()
		}
		if len(seen) == 0 || !strings.HasPrefix(seen[len(seen)-1], got) {
			seen = append(seen, fmt.Sprintf("%s (in %v)", got, time.Since(start).Round(time.Millisecond)))
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("GET %s never answered %v in %v; it answered, in turn:\n%s", path, want, within, strings.Join(seen, "\n"))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// putProject stores a QGIS project as /io/data/<name>/<name>.qgz.
func putProject(t *testing.T, ctx context.Context, e *engine.Engine, name string) {
	t.Helper()
	qgs, err := os.ReadFile(filepath.Join("testdata", "places.qgs"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, _ := zw.Create(name + ".qgs")
	w.Write(qgs)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".qgz"), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := files.Put(ctx, e, files.Options{Service: "qgis-server", VolumePath: "/io/data", Local: dir, Yes: true}); err != nil {
		t.Fatal(err)
	}
}

func TestFrontDoor(t *testing.T) {
	testenv.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	c := testenv.NewCheckout(t, map[string]string{
		"MAPPROXY_SOURCE_URL":    "https://nginx/ogc/places",
		"MAPPROXY_SOURCE_LAYERS": "places",
		// What broke Hugo's sed: | & \ and quotes.
		"OSGS_SITE_TITLE": `osgs front door test | Maps & "Co" \ 100%`,
		// The watcher of kept-alive upstreams, quick for the test.
		"NGINX_UPSTREAM_CHECK_SECONDS": "1",
	})
	c.Cleanup(t)
	e := c.Engine(t)
	services := []string{"postgis", "nginx", "hugo", "qgis-server", "mapproxy"}
	if err := e.Up(ctx, engine.UpOptions{Services: services}); err != nil {
		t.Fatal(err)
	}
	// e.Up ran the after-up hooks: nginx serves every service's location
	// without a separate step (one way up).
	fd := newFrontDoor(t, c, e)

	// PostGIS data the QGIS project reads, and the project itself.
	if _, err := postgis.Query(ctx, e, "gis", `CREATE TABLE places (id serial PRIMARY KEY, name text, geom geometry(Point, 4326));
		INSERT INTO places (name, geom) SELECT 'p' || g, ST_SetSRID(ST_MakePoint(g % 10 - 5, g / 10 - 5), 4326) FROM generate_series(0, 99) g`); err != nil {
		t.Fatal(err)
	}
	putProject(t, ctx, e, "places")

	t.Run("http redirects to https", func(t *testing.T) {
		cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := cl.Get("http://127.0.0.1:" + e.Env.Value("NGINX_HTTP_PORT") + "/x?y=1")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		loc := res.Header.Get("Location")
		if res.StatusCode != http.StatusMovedPermanently || !strings.HasPrefix(loc, "https://127.0.0.1:"+e.Env.Value("NGINX_HTTPS_PORT")+"/x?y=1") {
			t.Fatalf("http answered %d %q", res.StatusCode, loc)
		}
	})

	t.Run("certificate", func(t *testing.T) {
		cert, err := site.LoadCert(c.Dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := cert.Leaf.VerifyHostname("localhost"); err != nil {
			t.Fatal(err)
		}
		if d := time.Until(cert.Leaf.NotAfter); d < 364*24*time.Hour || d > 366*24*time.Hour {
			t.Fatalf("certificate valid for %v, want a year", d)
		}
		if fi, _ := os.Stat(site.KeyPath(c.Dir)); fi.Mode().Perm() != 0o600 {
			t.Fatalf("key mode %v", fi.Mode().Perm())
		}
	})

	t.Run("TLS by the intermediate profile", func(t *testing.T) {
		if h := fd.must("/", 200).header.Get("Strict-Transport-Security"); h != "max-age=63072000" {
			t.Errorf("HSTS %q", h)
		}
		scanTLS(t, "127.0.0.1:"+e.Env.Value("NGINX_HTTPS_PORT"))
		scanTLS(t, "127.0.0.1:"+e.Env.Value("POSTGIS_PORT"), "--starttls-psql")
	})

	t.Run("hugo renders and rebuilds on change", func(t *testing.T) {
		r := fd.must("/", 200)
		if !strings.Contains(string(r.body), `osgs front door test | Maps &amp; `) || !strings.Contains(string(r.body), `Co&#34; \ 100%`) {
			t.Fatalf("home page: %.300s", r.body)
		}
		page := filepath.Join(t.TempDir(), "content")
		os.MkdirAll(page, 0o755)
		os.WriteFile(filepath.Join(page, "maps.md"), []byte("---\ntitle: Our maps\n---\nServed by osgs.\n"), 0o644)
		if err := files.Put(ctx, e, files.Options{Service: "hugo", VolumePath: "/site", Local: page, Yes: true}); err != nil {
			t.Fatal(err)
		}
		r = fd.eventually("/maps/", 200, time.Minute)
		if !strings.Contains(string(r.body), "Our maps") {
			t.Fatalf("new page: %.300s", r.body)
		}
	})

	t.Run("qgis server reads postgis", func(t *testing.T) {
		r := fd.must("/ogc/places?SERVICE=WMS&REQUEST=GetCapabilities", 200)
		if !strings.Contains(string(r.body), "<Name>places</Name>") {
			t.Fatalf("capabilities lack the places layer: %.500s", r.body)
		}
		// The advertised URL is the public https one, not the FastCGI socket.
		if !strings.Contains(string(r.body), "https://localhost:"+e.Env.Value("NGINX_HTTPS_PORT")+"/ogc/places") {
			t.Errorf("capabilities advertise another URL: %.800s", r.body)
		}
		r = fd.must("/ogc/places?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=places&STYLES=&CRS=EPSG:4326&BBOX=-10,-10,10,10&WIDTH=200&HEIGHT=200&FORMAT=image/png&TRANSPARENT=true", 200)
		if n := testenv.RedPixels(t, r.body); n < 100 {
			t.Fatalf("GetMap drew %d red pixels; the points are missing", n)
		}
	})

	t.Run("mapproxy serves the controlled source", func(t *testing.T) {
		r := fd.must("/mapproxy/service?SERVICE=WMS&REQUEST=GetCapabilities", 200)
		if !strings.Contains(string(r.body), "<Name>source</Name>") || !strings.Contains(string(r.body), "/mapproxy/service") {
			t.Fatalf("capabilities: %.500s", r.body)
		}
		r = fd.must("/mapproxy/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=source&SRS=EPSG:3857&BBOX=-1113194,-1118890,1113194,1118890&WIDTH=256&HEIGHT=256&FORMAT=image/png&STYLES=", 200)
		if n := testenv.RedPixels(t, r.body); n < 100 {
			t.Fatalf("MapProxy tile drew %d red pixels; the source's points are missing", n)
		}
	})

	t.Run("protected path needs a user", func(t *testing.T) {
		fd.must("/mapproxy/demo/", 401)
		if err := nginx.AddUser(ctx, e, "gisadmin", strings.NewReader("correct horse battery\n")); err != nil {
			t.Fatal(err)
		}
		fd.must("/mapproxy/demo/", 401, "gisadmin", "wrong password")
		fd.must("/mapproxy/demo/", 200, "gisadmin", "correct horse battery")
		if err := nginx.DelUser(ctx, e, "gisadmin"); err != nil {
			t.Fatal(err)
		}
		fd.must("/mapproxy/demo/", 401, "gisadmin", "correct horse battery")
	})

	t.Run("a certificate due for renewal is warned about and renewed", func(t *testing.T) {
		old := time.Now().Add(-340 * 24 * time.Hour)
		certPEM, keyPEM, err := site.SelfSigned("localhost", old)
		if err != nil {
			t.Fatal(err)
		}
		if err := site.StoreCert(c.Dir, certPEM, keyPEM); err != nil {
			t.Fatal(err)
		}
		if w := status.Warnings(e, time.Now()); len(w) != 1 || !strings.Contains(w[0], "nginx:renew") {
			t.Fatalf("warnings: %v", w)
		}
		if err := nginx.Renew(ctx, e, false, nginx.ACME{}); err != nil {
			t.Fatal(err)
		}
		if w := status.Warnings(e, time.Now()); len(w) != 0 {
			t.Fatalf("warnings after renewal: %v", w)
		}
		renewed, err := site.LoadCert(c.Dir)
		if err != nil {
			t.Fatal(err)
		}
		if time.Until(renewed.Leaf.NotAfter) < 364*24*time.Hour {
			t.Fatalf("renewed certificate ends %v", renewed.Leaf.NotAfter)
		}
		// nginx serves the new certificate (the client trusts only it).
		fd = newFrontDoor(t, c, e)
		fd.must("/", 200)
		// A second renew has nothing to do.
		if err := nginx.Renew(ctx, e, false, nginx.ACME{}); err != nil {
			t.Fatal(err)
		}
		if again, _ := site.LoadCert(c.Dir); again.Leaf.SerialNumber.Cmp(renewed.Leaf.SerialNumber) != 0 {
			t.Fatal("a valid certificate was replaced")
		}
	})

	t.Run("broken template keeps the old configuration", func(t *testing.T) {
		id, err := e.ContainerOf(ctx, nginx.Service)
		if err != nil {
			t.Fatal(err)
		}
		before, err := nginx.ReadFile(ctx, e, id, nginx.ConfPath)
		if err != nil {
			t.Fatal(err)
		}
		gens := generations(ctx, t, e, id)
		tmpl := filepath.Join(c.Dir, nginx.SiteTemplate)
		good, _ := os.ReadFile(tmpl)
		defer os.WriteFile(tmpl, good, 0o644)

		// A template that does not execute.
		os.WriteFile(tmpl, append(good, []byte("\n{{.NoSuchField}}\n")...), 0o644)
		if err := nginx.Apply(ctx, e); err == nil || !strings.Contains(err.Error(), "NoSuchField") {
			t.Fatalf("Apply with a broken template: %v", err)
		}
		// A template that renders a configuration nginx refuses.
		os.WriteFile(tmpl, bytes.Replace(good, []byte("sendfile on;"), []byte("sendfile sideways;"), 1), 0o644)
		err = nginx.Apply(ctx, e)
		var ce *nginx.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "sendfile") {
			t.Fatalf("Apply with a refused configuration: %v", err)
		}
		after, err := nginx.ReadFile(ctx, e, id, nginx.ConfPath)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) {
			t.Fatal("the serving configuration changed")
		}
		if now := generations(ctx, t, e, id); now != gens {
			t.Fatalf("the refused candidate was left behind: generations %q, were %q", now, gens)
		}
		fd.must("/", 200)
		fd.must("/mapproxy/service?SERVICE=WMS&REQUEST=GetCapabilities", 200)
	})

	t.Run("a refused certificate and key never reach what nginx serves or loads at its next start", func(t *testing.T) {
		id, err := e.ContainerOf(ctx, nginx.Service)
		if err != nil {
			t.Fatal(err)
		}
		before, err := nginx.ReadFile(ctx, e, id, nginx.ConfPath)
		if err != nil {
			t.Fatal(err)
		}
		gens := generations(ctx, t, e, id)
		good, err := site.LoadCert(c.Dir)
		if err != nil {
			t.Fatal(err)
		}
		defer site.StoreCert(c.Dir, good.CertPEM, good.KeyPEM)
		// A certificate with another certificate's key: parses, but nginx
		// refuses the pair.
		certA, _, err := site.SelfSigned("localhost", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		_, keyB, err := site.SelfSigned("localhost", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := site.StoreCert(c.Dir, certA, keyB); err != nil {
			t.Fatal(err)
		}
		err = nginx.Apply(ctx, e)
		var ce *nginx.ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("Apply with a mismatched key: %v", err)
		}
		after, _ := nginx.ReadFile(ctx, e, id, nginx.ConfPath)
		if !bytes.Equal(before, after) || generations(ctx, t, e, id) != gens {
			t.Fatal("the refused certificate changed the serving configuration")
		}
		// fd trusts only the old certificate: it still serves, now and
		// after nginx restarts from the volume.
		fd.must("/", 200)
		if err := e.Restart(ctx, nginx.Service); err != nil {
			t.Fatal(err)
		}
		fd.eventually("/", 200, time.Minute)
	})

	t.Run("kept-alive upstreams follow a service that stops and comes back", func(t *testing.T) {
		t.Cleanup(func() {
			if t.Failed() { // what nginx and its watcher said
				_ = e.Logs(context.WithoutCancel(ctx), engine.LogsOptions{Services: []string{nginx.Service}, Tail: "60"})
			}
		})
		id, err := e.ContainerOf(ctx, nginx.Service)
		if err != nil {
			t.Fatal(err)
		}
		conf := func() string {
			b, err := nginx.ReadFile(ctx, e, id, nginx.ConfPath)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
		waitConf := func(what string, ok func(string) bool) {
			t.Helper()
			for deadline := time.Now().Add(30 * time.Second); !ok(conf()); time.Sleep(200 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("nginx.conf is not %s after 30 s:\n%s", what, conf())
				}
			}
		}
		fast := func(c string) bool { return strings.Contains(c, "upstream osgs.hugo.8080 ") }
		if !fast(conf()) {
			t.Fatalf("hugo runs, but nginx keeps no connections to it:\n%s", conf())
		}
		fd.must("/", 200)
		// Hugo stops behind osgs's back: the watcher moves nginx to the
		// per-request form, and the rest of the site keeps answering.
		hugo, err := e.ContainerOf(ctx, "hugo")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Docker().ContainerStop(ctx, hugo, client.ContainerStopOptions{}); err != nil {
			t.Fatal(err)
		}
		waitConf("the per-request form", func(c string) bool { return !strings.Contains(c, "upstream osgs.") })
		fd.eventuallyAny("/", down, 30*time.Second)
		fd.must("/ogc/places?SERVICE=WMS&REQUEST=GetCapabilities", 200)
		// nginx restarts while hugo is down, on the fast file: it falls
		// back and starts.
		gen := strings.TrimSpace(strings.SplitN(strings.SplitN(conf(), "# generation: ", 2)[1], "\n", 2)[0])
		if err := e.Exec(ctx, id, []string{"cp", gen + "/nginx.conf", nginx.ConfPath}, engine.ExecOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Docker().ContainerRestart(ctx, id, client.ContainerRestartOptions{}); err != nil {
			t.Fatal(err)
		}
		fd.eventually("/ogc/places?SERVICE=WMS&REQUEST=GetCapabilities", 200, time.Minute)
		if r, err := fd.get("/"); err != nil || !slices.Contains(down, r.code) {
			t.Fatalf("GET / with hugo down: %d, %v; want one of %v", r.code, err, down)
		}
		// Hugo comes back (with whatever address): nginx keeps connections
		// to it again, and serves it.
		if _, err := e.Docker().ContainerStart(ctx, hugo, client.ContainerStartOptions{}); err != nil {
			t.Fatal(err)
		}
		waitConf("the kept-alive form", fast)
		fd.eventually("/", 200, time.Minute)
	})

	t.Run("disable reloads without dropping a connection", func(t *testing.T) {
		var (
			stop   atomic.Bool
			wg     sync.WaitGroup
			okN    atomic.Int64
			failMu sync.Mutex
			fails  []string
		)
		// Two clients: one reuses its connection (keep-alive across the
		// reload), one opens a new connection for every request.
		for i, keepAlive := range []bool{true, false} {
			wg.Add(1)
			go func(i int, keepAlive bool) {
				defer wg.Done()
				cl := newFrontDoor(t, c, e)
				cl.client.Transport.(*http.Transport).DisableKeepAlives = !keepAlive
				for !stop.Load() {
					r, err := cl.get("/")
					if err != nil || r.code != 200 {
						failMu.Lock()
						fails = append(fails, fmt.Sprintf("client %d: %v %d", i, err, r.code))
						failMu.Unlock()
						continue
					}
					okN.Add(1)
				}
			}(i, keepAlive)
		}
		started := func() string {
			id, err := e.ContainerOf(ctx, nginx.Service)
			if err != nil {
				t.Fatal(err)
			}
			insp, err := e.Docker().ContainerInspect(ctx, id, client.ContainerInspectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return id + insp.Container.State.StartedAt
		}
		before := started()
		time.Sleep(500 * time.Millisecond)
		// Disable reloads nginx itself (the engine runs the change hook).
		if err := e.Disable(ctx, "mapproxy"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		stop.Store(true)
		wg.Wait()
		if len(fails) > 0 {
			t.Fatalf("%d requests failed during the reload (%d succeeded): %v", len(fails), okN.Load(), fails[:min(len(fails), 5)])
		}
		if okN.Load() < 10 {
			t.Fatalf("only %d requests ran during the reload", okN.Load())
		}
		t.Logf("%d requests (keep-alive and new connections) across the reload, none failed", okN.Load())
		// The location is gone: /mapproxy/ now falls through to Hugo's 404.
		r := fd.must("/mapproxy/service?SERVICE=WMS&REQUEST=GetCapabilities", 404)
		if strings.Contains(string(r.body), "WMT_MS_Capabilities") {
			t.Fatal("mapproxy still answers")
		}
		id, _ := e.ContainerOf(ctx, nginx.Service)
		conf, _ := nginx.ReadFile(ctx, e, id, nginx.ConfPath)
		if bytes.Contains(conf, []byte("/mapproxy/")) {
			t.Fatal("the mapproxy location is still configured")
		}
		// The others keep answering, and nginx was not restarted.
		if started() != before {
			t.Fatal("nginx was restarted or recreated")
		}
		fd.must("/", 200)
		fd.must("/ogc/places?SERVICE=WMS&REQUEST=GetCapabilities", 200)
	})
}

// generations lists the staged configuration folders in nginx.
func generations(ctx context.Context, t *testing.T, e *engine.Engine, id string) string {
	t.Helper()
	var out bytes.Buffer
	if err := e.Exec(ctx, id, []string{"ls", nginx.GenDir}, engine.ExecOptions{Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	return strings.Join(strings.Fields(out.String()), " ")
}

// acceptedRE is an sslscan line naming a suite the server accepts.
var acceptedRE = regexp.MustCompile(`(?m)^(?:Preferred|Accepted)\s+(\S+)\s+\d+\s+bits\s+(\S+)`)

// scanTLS runs Debian's sslscan against addr and fails on a protocol or
// suite outside Mozilla's intermediate profile: TLS 1.3, and TLS 1.2 with
// ECDHE and AES-GCM or ChaCha20-Poly1305.
func scanTLS(t *testing.T, addr string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath("sslscan"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("sslscan is not installed (apt-get install sslscan)")
		}
		t.Skip("sslscan is not installed")
	}
	out, err := exec.Command("sslscan", append(append([]string{"--no-colour", "--no-heartbleed"}, args...), addr)...).CombinedOutput()
	if err != nil {
		t.Fatalf("sslscan %s: %v: %s", addr, err, out)
	}
	suites := acceptedRE.FindAllStringSubmatch(string(out), -1)
	if len(suites) == 0 {
		t.Fatalf("sslscan %s found no suite:\n%s", addr, out)
	}
	var v12, v13 int
	for _, m := range suites {
		proto, suite := m[1], m[2]
		switch {
		case proto == "TLSv1.3":
			v13++
		case proto == "TLSv1.2" && strings.HasPrefix(suite, "ECDHE-") && (strings.Contains(suite, "-GCM-") || strings.Contains(suite, "CHACHA20-POLY1305")):
			v12++
		default:
			t.Errorf("%s accepts %s %s", addr, proto, suite)
		}
	}
	if v12 == 0 || v13 == 0 {
		t.Errorf("%s: %d TLS 1.2 and %d TLS 1.3 suites", addr, v12, v13)
	}
	t.Logf("%s: %d TLS 1.2 and %d TLS 1.3 suites, all in the profile", addr, v12, v13)
}
