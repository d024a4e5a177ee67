package services_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/nginx"
	"github.com/osgs/osgs/internal/testenv"
)

// TestUpstreamServicesModel renders the compose model of the services that
// run pinned upstream images (which cannot be pulled here) and checks each
// fact of the image that osgs's configuration depends on. Each case names
// the upstream file the fact comes from.
func TestUpstreamServicesModel(t *testing.T) {
	testenv.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := testenv.NewCheckout(t, nil)
	e := c.Engine(t)
	// A password with every character that breaks a URI's user information.
	const awkward = "p@ss:w/rd#?%&+ é"
	enableAll(t, e, c, map[string]string{
		"OSGS_DOMAIN": "maps.example.org", "NGINX_HTTPS_PORT": "8443", "TZ": "Europe/Berlin",
		"GEOSERVER_MEMORY": "1G", "POSTGREST_AUTHENTICATOR_PASSWORD": awkward,
	})
	if err := e.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := e.Project(ctx)
	if err != nil {
		t.Fatal(err)
	}
	env := func(svc, key string) string {
		t.Helper()
		v := p.Services[svc].Environment[key]
		if v == nil {
			return ""
		}
		return *v
	}

	t.Run("lizmap is not in the catalog", func(t *testing.T) {
		// 3liz/lizmap-web-client 3.8 needs QGIS Server >= 3.28 with the
		// lizmap_server plugin (lizmap/app/system/mainconfig.ini.php,
		// qgisServerMinimumVersionRequired); Debian bookworm has 3.22.
		if _, err := e.Catalog.Get("lizmap"); err == nil {
			t.Fatal("lizmap is still in the catalog")
		}
	})

	t.Run("file-browser", func(t *testing.T) {
		fb := p.Services["file-browser"]
		// filebrowser v2.63.23 Dockerfile: the image's user is 1000, the
		// owner of the volumes it shares (QGIS Server, Hugo).
		if fb.User != "1000:1000" {
			t.Errorf("user %q, want 1000:1000", fb.User)
		}
		// healthcheck.sh probes FB_PORT or settings.json's port at /health
		// with busybox's wget (the image has no curl); osgs listens on 8080
		// under /files.
		if fb.HealthCheck == nil {
			t.Fatal("no healthcheck")
		}
		if hc := strings.Join(fb.HealthCheck.Test, " "); !strings.Contains(hc, "wget -q --spider http://127.0.0.1:8080/files/health") || strings.Contains(hc, "curl") {
			t.Errorf("healthcheck %v does not probe 8080 under /files", fb.HealthCheck)
		}
		if env("file-browser", "FB_PORT") != "8080" {
			t.Error("FB_PORT is not 8080")
		}
		// cmd/root.go: --noauth applies only when the database is created,
		// and made every user the admin. Proxy auth is set on every start.
		all := strings.Join(append(append([]string{}, fb.Entrypoint...), fb.Command...), " ")
		if strings.Contains(all, "noauth") {
			t.Errorf("command still uses --noauth: %s", all)
		}
		start := ""
		for _, cfg := range fb.Configs {
			if cfg.Target == "/osgs/start.sh" {
				start = p.Configs[cfg.Source].Content
				if start == "" {
					start = readFile(t, p.Configs[cfg.Source].File)
				}
			}
		}
		// cmd/root.go: the binary is /bin/filebrowser; disableExec and
		// followExternalSymlinks keep execution and links out of scope off.
		for _, want := range []string{"--auth.method=proxy", "--auth.header=X-Osgs-User", "config set", "--baseURL /files", "exec filebrowser", "--disableExec", "--followExternalSymlinks=false"} {
			if !strings.Contains(start, want) {
				t.Errorf("start script lacks %q", want)
			}
		}
		if strings.Join(fb.Entrypoint, " ") != "/bin/sh /osgs/start.sh" {
			t.Errorf("entrypoint %v", fb.Entrypoint)
		}
		cs, _ := e.Catalog.Get("file-browser")
		if len(cs.Web) != 1 || !cs.Web[0].Protected {
			t.Errorf("/files/ must be behind basic auth: %+v", cs.Web)
		}
		for _, v := range cs.Volumes {
			if v.Owner != "1000:1000" {
				t.Errorf("volume %s has owner %q, want 1000:1000", v.Name, v.Owner)
			}
		}
	})

	t.Run("metabase", func(t *testing.T) {
		// src/metabase/api/session.clj: /api/session/properties serves the
		// setup token until setup is done; the first visitor is admin.
		cs, _ := e.Catalog.Get("metabase")
		for _, l := range cs.Web {
			if !l.Protected {
				t.Errorf("%s is public during Metabase's setup window", l.Path)
			}
		}
		if got := env("metabase", "MB_SITE_URL"); got != "https://maps.example.org:8443/metabase/" {
			t.Errorf("MB_SITE_URL %q drops the https port", got)
		}
	})

	t.Run("node-red", func(t *testing.T) {
		// node-red-docker 4.0.5 package.json: no node-red-dashboard, no
		// node-red-contrib-web-worldmap.
		cs, _ := e.Catalog.Get("node-red")
		for _, l := range cs.Web {
			if l.Path == "/ui/" || l.Path == "/worldmap/" {
				t.Errorf("%s is routed but the image has no such node", l.Path)
			}
		}
		if strings.Contains(cs.Description, "/ui/") || strings.Contains(cs.Description, "worldmap") {
			t.Errorf("description still promises them: %s", cs.Description)
		}
	})

	t.Run("geoserver", func(t *testing.T) {
		// kartoza/docker-geoserver scripts/env-data.sh: INITIAL_MEMORY
		// defaults to 2G; scripts/start.sh: -Duser.timezone=${TIMEZONE}.
		if a, b := env("geoserver", "INITIAL_MEMORY"), env("geoserver", "MAXIMUM_MEMORY"); a != "1G" || b != "1G" {
			t.Errorf("INITIAL_MEMORY %q, MAXIMUM_MEMORY %q, want both 1G", a, b)
		}
		if got := env("geoserver", "TIMEZONE"); got != "Europe/Berlin" {
			t.Errorf("TIMEZONE %q", got)
		}
		if env("geoserver", "GEOSERVER_ADMIN_PASSWORD") != "" || env("geoserver", "GEOSERVER_ADMIN_PASSWORD_FILE") == "" {
			t.Error("the admin password must come from a secret file")
		}
	})

	t.Run("postgrest", func(t *testing.T) {
		// PostgREST v12.2.3 docs (openapi-server-proxy-uri): the address
		// Swagger's "try it out" calls.
		if got := env("postgrest", "PGRST_OPENAPI_SERVER_PROXY_URI"); got != "https://maps.example.org:8443/api/" {
			t.Errorf("PGRST_OPENAPI_SERVER_PROXY_URI %q", got)
		}
		// db-uri is a libpq connection URI: the password is percent-encoded.
		// A rendered secret travels in the model's environment (see
		// engine.resolveFiles), never in .env or a container's environment.
		uri := strings.TrimSpace(p.Environment[p.Secrets["postgrest_db_uri"].Environment])
		u, err := url.Parse(uri)
		if err != nil {
			t.Fatalf("db-uri does not parse: %v", err)
		}
		if pw, _ := u.User.Password(); pw != awkward || u.Host != "postgis:5432" {
			t.Errorf("db-uri carries password %q to host %q", pw, u.Host)
		}
		// It verifies PostGIS against the site's database authority, which
		// reaches the container as a secret.
		const ca = "/run/secrets/postgis_ca.crt"
		if q := u.Query(); q.Get("sslmode") != "verify-full" || q.Get("sslrootcert") != ca || !slices.ContainsFunc(svcSecrets(p, "postgrest"), func(s string) bool { return s == "postgis_ca.crt" }) {
			t.Errorf("db-uri's TLS: %v", q)
		}
		local := filepath.Join(t.TempDir(), "ca.crt")
		if err := os.WriteFile(local, []byte(p.Environment[engine.DatabaseCAEnv]), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := pgconn.ParseConfig(strings.Replace(uri, ca, local, 1))
		if err != nil {
			t.Fatalf("libpq-style parse: %v", err)
		}
		if cfg.Password != awkward || cfg.User != "authenticator" || cfg.Database != "gis" || cfg.TLSConfig == nil || cfg.TLSConfig.ServerName != "postgis" || cfg.TLSConfig.InsecureSkipVerify {
			t.Errorf("libpq-style parse: %q %q %q %+v", cfg.User, cfg.Password, cfg.Database, cfg.TLSConfig)
		}
	})

	t.Run("no service gets a default credential", func(t *testing.T) {
		secretKey := regexp.MustCompile(`(?i)(PASSWORD|PASSWD|SECRET|TOKEN)`)
		for name, svc := range p.Services {
			for k, v := range svc.Environment {
				if v == nil || !secretKey.MatchString(k) {
					continue
				}
				val := *v
				if strings.HasPrefix(val, "@/run/secrets/") || strings.HasPrefix(val, "/run/secrets/") || strings.HasSuffix(k, "_SOURCE") {
					continue
				}
				t.Errorf("%s: %s is set in the environment (%d characters), not from a secret", name, k, len(val))
			}
		}
		for _, s := range e.Catalog.Services {
			for _, st := range s.Settings {
				if !st.Secret {
					continue
				}
				if st.Default != "" {
					t.Errorf("%s: secret %s has a default", s.Name, st.Key)
				}
				if v := e.Env.Value(st.Key); st.Key != "POSTGREST_AUTHENTICATOR_PASSWORD" && len(v) < 20 {
					t.Errorf("%s: secret %s is not a generated secret (%d characters)", s.Name, st.Key, len(v))
				}
			}
		}
	})
}

// testIdentityHeader: nginx passes the user it authenticated in
// X-Osgs-User on protected paths (File Browser's proxy authentication) and
// strips the header elsewhere; a client's own X-Osgs-User never reaches a
// service. The services are stood in for by a real nginx that echoes the
// header, on the project network under their names.
func testIdentityHeader(ctx context.Context, t *testing.T, c *testenv.Checkout, e *engine.Engine, nginxID string) {
	stopEcho := startEcho(ctx, t, e, nginxID)
	defer stopEcho()
	if err := nginx.AddUser(ctx, e, "ana", strings.NewReader("a long password\n")); err != nil {
		t.Fatal(err)
	}
	get := func(path string, args ...string) string {
		t.Helper()
		var out strings.Builder
		argv := append([]string{"curl", "-sk", "--max-time", "5", "-H", "X-Osgs-User: admin"}, args...)
		deadline := time.Now().Add(30 * time.Second)
		for {
			out.Reset()
			err := e.Exec(ctx, nginxID, append(argv, "https://127.0.0.1"+path), engine.ExecOptions{Stdout: &out})
			if err == nil && strings.HasPrefix(out.String(), "user=") || time.Now().After(deadline) {
				return out.String()
			}
			time.Sleep(300 * time.Millisecond) // the echo server is starting
		}
	}
	if got := get("/files/", "-u", "ana:a long password"); !strings.HasPrefix(got, "user=[ana] ") {
		t.Errorf("File Browser got %q, want the authenticated user, not the client's header", got)
	}
	if got := get("/files/", "-u", "ana:a long password"); !strings.HasSuffix(got, "authorization=[]") {
		t.Errorf("File Browser got %q, want the site's credentials kept at the front door", got)
	}
	if got := get("/api/"); !strings.HasPrefix(got, "user=[] ") {
		t.Errorf("an unprotected service got %q, want no identity header", got)
	}
	var code strings.Builder
	e.Exec(ctx, nginxID, []string{"curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "-H", "X-Osgs-User: admin", "https://127.0.0.1/files/"}, engine.ExecOptions{Stdout: &code})
	if code.String() != "401" {
		t.Errorf("/files/ without basic auth answered %s, want 401", code.String())
	}
}

// startEcho stands in for every web service but nginx: a real nginx on
// their networks, under their names and on their ports, answering each
// request with the identity header it got and the URI it was sent.
func startEcho(ctx context.Context, t *testing.T, e *engine.Engine, nginxID string) func() {
	t.Helper()
	insp, err := e.Docker().ContainerInspect(ctx, nginxID, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var aliases []string
	ports := map[int]bool{}
	for _, s := range e.Catalog.Services {
		if s.Name == nginx.Service || len(s.Web) == 0 {
			continue
		}
		aliases = append(aliases, s.Name)
		for _, l := range s.Web {
			ports[l.Port] = true
		}
	}
	var listen strings.Builder
	for p := range ports {
		fmt.Fprintf(&listen, "listen %d; ", p)
	}
	conf := `pid /tmp/echo.pid; error_log /dev/stderr;
events {}
http { access_log off; client_body_temp_path /tmp; proxy_temp_path /tmp; fastcgi_temp_path /tmp; uwsgi_temp_path /tmp; scgi_temp_path /tmp;
  server { ` + listen.String() + ` default_type text/plain; location / { return 200 "user=[$http_x_osgs_user] uri=[$request_uri] authorization=[$http_authorization]"; } } }
`
	// nginx reaches each web service on that service's own network: the
	// echo server joins each of them under that service's name.
	for _, name := range aliases {
		if _, ok := insp.Container.NetworkSettings.Networks[engine.NetworkName(e.ProjectName(), name)]; !ok {
			t.Fatalf("nginx is not on %s's network", name)
		}
	}
	first := engine.NetworkName(e.ProjectName(), aliases[0])
	res, err := e.Docker().ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{
			Image: insp.Container.Image, User: "root", Env: []string{"ECHO_CONF=" + conf},
			Entrypoint: []string{"sh", "-c", `printf '%s' "$ECHO_CONF" > /tmp/echo.conf && exec nginx -c /tmp/echo.conf -g 'daemon off;'`},
		},
		HostConfig: &container.HostConfig{},
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			first: {Aliases: aliases[:1]},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := func() {
		e.Docker().ContainerRemove(context.WithoutCancel(ctx), res.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	}
	for _, name := range aliases[1:] {
		_, err := e.Docker().NetworkConnect(ctx, engine.NetworkName(e.ProjectName(), name), client.NetworkConnectOptions{Container: res.ID,
			EndpointConfig: &network.EndpointSettings{Aliases: []string{name}}})
		if err != nil {
			stop()
			t.Fatal(err)
		}
	}
	if _, err := e.Docker().ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		stop()
		t.Fatal(err)
	}
	return stop
}

// testEncodedPaths: no spelling of a path reaches a protected location's
// backend without a login. nginx picks a location by the normalised path
// but passes the raw one on, so a raw or encoded dot segment, an encoded
// slash or a backslash after a protected prefix would be routed by nginx
// to the public location above it and by the backend to the protected
// page. Each is tried on every protected location of the catalog, with and
// without the public prefix above it.
func testEncodedPaths(ctx context.Context, t *testing.T, e *engine.Engine, nginxID string) {
	stopEcho := startEcho(ctx, t, e, nginxID)
	defer stopEcho()
	attacks := []string{"%2e%2e/", "%2E%2E/", ".%2e/", "%2e./", "../", "./", "..%2f", "..%2F", "%2e%2e%2f", "..%5c", "..\\", "%252e%252e/", "x/..%2f", "x/%2e%2e/", "x/../"}
	n := 0
	for _, s := range e.Catalog.Services {
		for _, l := range s.Web {
			if !l.Protected {
				continue
			}
			p := strings.TrimSuffix(l.Path, "/")
			for _, a := range attacks {
				for _, uri := range []string{p + "/" + a + "?wms_capabilities", p + "%2F..%2F?x", p + "%2f" + a} {
					n++
					var out strings.Builder
					argv := []string{"curl", "-sk", "--path-as-is", "--max-time", "5", "-w", " %{http_code}", "https://127.0.0.1" + uri}
					if err := e.Exec(ctx, nginxID, argv, engine.ExecOptions{Stdout: &out}); err != nil {
						t.Fatalf("%s: %v", uri, err)
					}
					body := out.String()
					if strings.Contains(body, "uri=[") && !strings.HasSuffix(body, " 404") {
						t.Errorf("%s (%s) reached a backend without a login: %.200s", uri, s.Name, body)
					} else if !strings.HasSuffix(body, " 400") && !strings.HasSuffix(body, " 401") {
						t.Errorf("%s (%s) answered %.200s, want 400 or 401", uri, s.Name, body)
					}
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no protected location in the catalog")
	}
	// What clients send stays routed: an encoded slash in a query string.
	var out strings.Builder
	e.Exec(ctx, nginxID, []string{"curl", "-sk", "https://127.0.0.1/mapproxy/service?FORMAT=image%2Fpng&x=..%2F"}, engine.ExecOptions{Stdout: &out})
	if !strings.Contains(out.String(), "uri=[/mapproxy/service?FORMAT=image%2Fpng") {
		t.Errorf("a query with an encoded slash: %.200s", out.String())
	}
}

// testLoginLimit: credentials checked in nginx (bcrypt) are limited per
// client address, so a flood of guesses is refused (429) rather than
// stalling the front door; requests without credentials are not counted.
func testLoginLimit(ctx context.Context, t *testing.T, e *engine.Engine, nginxID string) {
	flood := func(args ...string) map[string]int {
		argv := append([]string{"curl", "-sk", "--parallel", "--parallel-max", "250", "-w", "%{http_code}\\n"}, args...)
		for range 250 {
			argv = append(argv, "-o", "/dev/null", "https://127.0.0.1/files/")
		}
		var out strings.Builder
		if err := e.Exec(ctx, nginxID, argv, engine.ExecOptions{Stdout: &out}); err != nil {
			t.Fatal(err)
		}
		codes := map[string]int{}
		for _, c := range strings.Fields(out.String()) {
			codes[c]++
		}
		return codes
	}
	if codes := flood(); codes["401"] != 250 {
		t.Errorf("without credentials: %v, want 250 × 401", codes)
	}
	if codes := flood("-u", "ana:a wrong guess"); codes["429"] == 0 || codes["200"] != 0 || codes["429"]+codes["401"] != 250 {
		t.Errorf("a flood of guesses: %v, want some 429 and the rest 401", codes)
	}
}

// curlIn fetches url from inside container id without following
// redirects, and returns the status and the Location.
func curlIn(ctx context.Context, t *testing.T, e *engine.Engine, id, url string) (code, location string) {
	t.Helper()
	var out strings.Builder
	if err := e.Exec(ctx, id, []string{"curl", "-sk", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", url}, engine.ExecOptions{Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	code, location, _ = strings.Cut(out.String(), " ")
	return code, location
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ownedFragment is a service that runs as a user and writes into a volume
// it mounts where its image has no folder: without the catalog's owner the
// volume would be root's and the write would fail.
const ownedFragment = `
services:
  owned:
    x-osgs:
      description: a volume owner test
      volumes:
        - name: owned-data
          path: /data
          backup: false
          owner: "1234:4321"
    profiles: [owned]
    image: osgs/hugo:0.111-bookworm
    user: "1234:4321"
    entrypoint: ["sh", "-c", "touch /data/written && exec sleep 3600"]
    healthcheck:
      test: ["CMD", "test", "-e", "/data/written"]
      interval: 1s
      retries: 30
    volumes:
      - owned-data:/data
volumes:
  owned-data:
`

// TestVolumeOwner: a catalog volume with an owner is given that owner
// before the service starts, so an image running as that user can write.
func TestVolumeOwner(t *testing.T) {
	ctx, _, e := testenv.Start(t, 5*time.Minute, map[string]string{"owned": ownedFragment}, "hugo", "owned")
	id, err := e.ContainerOf(ctx, "owned")
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := e.Exec(ctx, id, []string{"stat", "-c", "%u:%g", "/data", "/data/written"}, engine.ExecOptions{Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(out.String()); len(got) != 2 || got[0] != "1234:4321" || got[1] != "1234:4321" {
		t.Fatalf("owners %v, want 1234:4321", got)
	}
	// A second up neither fails nor recreates the volume.
	if err := e.Up(ctx, engine.UpOptions{Services: []string{"owned"}}); err != nil {
		t.Fatal(err)
	}
}

// svcSecrets are the sources of the secrets service is given.
func svcSecrets(p *types.Project, service string) []string {
	var out []string
	for _, r := range p.Services[service].Secrets {
		out = append(out, r.Source)
	}
	return out
}
