package nginx

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/osgs/osgs/internal/catalog"
	"github.com/osgs/osgs/internal/site"
)

func realInput(t *testing.T, enabled ...string) Input {
	t.Helper()
	root := filepath.Join("..", "..")
	cat, err := catalog.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	return Input{Root: root, Catalog: cat, Enabled: enabled, Settings: map[string]string{"OSGS_DOMAIN": "maps.example.org"}, Generation: "g1"}
}

func TestRenderOnlyEnabledServices(t *testing.T) {
	for _, tc := range []struct {
		name     string
		enabled  []string
		has, not []string
		services []string
		landing  bool
	}{
		{name: "nothing but nginx", enabled: []string{"nginx", "postgis"},
			has: []string{`"~*^[^?]*(%2e|%2f|%5c|%25(2e|2f|5c)|\\\\)" 1;`, "if ($osgs_ambiguous_path) { return 400; }"},
			not: []string{"location /mapproxy/", "fastcgi_pass", "auth_basic "}, landing: true},
		{name: "hugo serves /", enabled: []string{"nginx", "hugo"},
			has: []string{"location / {", "http://hugo:8080"}, services: []string{"hugo"}},
		{name: "mapproxy demo protected", enabled: []string{"mapproxy"},
			has:      []string{"location /mapproxy/ {", "location /mapproxy/demo/ {\n      auth_basic", "auth_basic_user_file /etc/osgs/gen/g1/htpasswd"},
			services: []string{"mapproxy"}, landing: true},
		{name: "qgis fastcgi", enabled: []string{"qgis-server"},
			has:      []string{"fastcgi_pass $osgs_qgis", "/io/data/$osgs_project/$osgs_project.qgz"},
			services: []string{"qgis-server"}, landing: true},
		{name: "websocket and strip", enabled: []string{"node-red", "jupyter"},
			has:      []string{"rewrite ^/node-red/(.*)$ /$1 break;", "proxy_set_header Upgrade $http_upgrade;"},
			services: []string{"jupyter", "node-red"}, landing: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Render(realInput(t, tc.enabled...))
			if err != nil {
				t.Fatal(err)
			}
			conf := string(r.Conf)
			for _, s := range tc.has {
				if !strings.Contains(conf, s) {
					t.Errorf("missing %q", s)
				}
			}
			for _, s := range tc.not {
				if strings.Contains(conf, s) {
					t.Errorf("unexpected %q", s)
				}
			}
			if !slices.Equal(r.Services, tc.services) {
				t.Errorf("services %v, want %v", r.Services, tc.services)
			}
			if got := strings.Contains(conf, "root /etc/osgs/gen/g1/html;"); got != tc.landing {
				t.Errorf("landing page %v, want %v", got, tc.landing)
			}
			if !strings.Contains(conf, "server_name maps.example.org localhost;") || !strings.Contains(conf, "ssl_certificate     /etc/osgs/gen/g1/tls/site.crt;") {
				t.Error("server block")
			}
		})
	}
}

func TestRenderTLSAndPorts(t *testing.T) {
	in := realInput(t, "hugo")
	in.Settings["OSGS_TLS"] = "letsencrypt"
	in.Settings["NGINX_HTTPS_PORT"] = "8443"
	r, err := Render(in)
	if err != nil {
		t.Fatal(err)
	}
	conf := string(r.Conf)
	for _, want := range []string{
		"ssl_certificate     /etc/letsencrypt/live/maps.example.org/fullchain.pem;",
		"ssl_certificate_key /etc/letsencrypt/live/maps.example.org/privkey.pem;",
		"return 301 https://$host:8443$request_uri;",
		"location /.well-known/acme-challenge/ { root /var/www/certbot; }",
		`add_header Strict-Transport-Security "max-age=63072000" always;`,
		"ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("missing %q", want)
		}
	}
	in.Settings["OSGS_HSTS"] = "off"
	if r, err := Render(in); err != nil || strings.Contains(string(r.Conf), "Strict-Transport-Security") {
		t.Errorf("OSGS_HSTS=off: %v", err)
	}
}

func TestRenderRefusals(t *testing.T) {
	in := realInput(t, "hugo")
	in.Settings["OSGS_DOMAIN"] = "evil.org; include /etc/passwd"
	if _, err := Render(in); err == nil {
		t.Error("a domain with a semicolon was rendered")
	}
	// Two services claiming one path.
	in = realInput(t, "hugo", "mapproxy")
	for i, s := range in.Catalog.Services {
		if s.Name == "mapproxy" {
			in.Catalog.Services[i].Web = []catalog.Location{{Path: "/", Port: 8080}}
		}
	}
	if _, err := Render(in); err == nil || !strings.Contains(err.Error(), "both claim /") {
		t.Errorf("duplicate path: %v", err)
	}
	// A service template that does not parse.
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "services", "nginx"), 0o755)
	good, _ := os.ReadFile(filepath.Join("..", "..", SiteTemplate))
	os.WriteFile(filepath.Join(root, SiteTemplate), good, 0o644)
	os.MkdirAll(filepath.Join(root, "services", "x"), 0o755)
	os.WriteFile(filepath.Join(root, "services", "x", "nginx.conf.tmpl"), []byte("location /x/ { {{.Broken "), 0o644)
	in = Input{Root: root, Enabled: []string{"x"}, Settings: map[string]string{},
		Catalog: &catalog.Catalog{Services: []catalog.Service{{Name: "x", NginxTemplate: "services/x/nginx.conf.tmpl"}}}}
	if _, err := Render(in); err == nil || !strings.Contains(err.Error(), "nginx.conf.tmpl") {
		t.Errorf("broken service template: %v", err)
	}
}

func TestCertbotCommands(t *testing.T) {
	got := strings.Join(CertbotCertonly("maps.example.org", ACME{Email: "gis@example.org"}), " ")
	want := "certbot certonly --webroot -w /var/www/certbot -d maps.example.org --agree-tos --non-interactive --keep-until-expiring --key-type ecdsa --email gis@example.org"
	if got != want {
		t.Errorf("certonly:\n got %s\nwant %s", got, want)
	}
	if got := strings.Join(CertbotCertonly("a.org", ACME{Staging: true, Server: "https://ca.internal/dir"}), " "); !strings.HasSuffix(got, "--register-unsafely-without-email --staging --server https://ca.internal/dir") {
		t.Errorf("certonly without email: %s", got)
	}
	if got := strings.Join(CertbotRenew(true, ACME{}), " "); got != "certbot renew --webroot -w /var/www/certbot --non-interactive --no-random-sleep-on-renew --force-renewal" {
		t.Errorf("renew: %s", got)
	}
}

func TestCertWarning(t *testing.T) {
	root := t.TempDir()
	if w := CertWarning(root, time.Now()); w != "" {
		t.Fatalf("no certificate: %q", w)
	}
	made := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, _, err := site.EnsureCert(root, "localhost", made); err != nil {
		t.Fatal(err)
	}
	if w := CertWarning(root, made.Add(300*24*time.Hour)); w != "" {
		t.Errorf("65 days left: %q", w)
	}
	if w := CertWarning(root, made.Add(350*24*time.Hour)); !strings.Contains(w, "expires in 15 days") {
		t.Errorf("15 days left: %q", w)
	}
	if w := CertWarning(root, made.Add(400*24*time.Hour)); !strings.Contains(w, "EXPIRED") {
		t.Errorf("expired: %q", w)
	}
}

func TestLandingPage(t *testing.T) {
	r, err := Render(realInput(t, "mapproxy", "qgis-server"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(r.Index)
	if !strings.Contains(page, `<a href="/mapproxy/">mapproxy</a>`) || !strings.Contains(page, "qgis-server (/ogc/&lt;project&gt;)") {
		t.Fatalf("landing page:\n%s", page)
	}
}

// Services running at render time get a kept-alive upstream block; the
// others, and websockets, are resolved per request; the safe rendering has
// no block at all.
func TestRenderKeepalive(t *testing.T) {
	in := realInput(t, "hugo", "mapproxy", "jupyter", "features")
	in.Running = []string{"hugo", "mapproxy", "jupyter"}
	r, err := Render(in)
	if err != nil {
		t.Fatal(err)
	}
	conf, safe := string(r.Conf), string(r.Safe)
	for _, s := range []string{
		"upstream osgs.hugo.8080 { server hugo:8080 max_fails=0; keepalive 16; }",
		"set $osgs_upstream http://osgs.hugo.8080;",
		"set $osgs_upstream http://features:9000;", // not running: per request
		"set $osgs_upstream http://jupyter:8888;",  // a websocket: per request
		"# generation: /etc/osgs/gen/g1\n",
	} {
		if !strings.Contains(conf, s) {
			t.Errorf("conf lacks %q", s)
		}
	}
	if n := strings.Count(conf, "upstream osgs.mapproxy."); n != 1 {
		t.Errorf("mapproxy's two locations share one block: %d blocks", n)
	}
	if strings.Contains(conf, "upstream osgs.jupyter") || strings.Contains(conf, "upstream osgs.features") {
		t.Error("a block for a websocket or a stopped service")
	}
	// Every proxied location asks the upstream to keep the connection,
	// except websockets, which upgrade it.
	if !strings.Contains(conf, "proxy_set_header Connection \"\";") || !strings.Contains(conf, "proxy_set_header Connection $connection_upgrade;") {
		t.Error("Connection headers")
	}
	if strings.Contains(safe, "upstream osgs.") || !strings.Contains(safe, "set $osgs_upstream http://hugo:8080;") {
		t.Errorf("the safe rendering keeps a block:\n%s", safe)
	}
	// The safe one is the fast one with its blocks resolved per request.
	if strings.Count(safe, "location ") != strings.Count(conf, "location ") || !strings.Contains(safe, "# generation: /etc/osgs/gen/g1\n") {
		t.Error("the safe rendering differs in more than its upstreams")
	}
	in.Running = nil
	if r, _ := Render(in); !bytes.Equal(r.Conf, r.Safe) || strings.Contains(string(r.Conf), "upstream osgs.") {
		t.Error("nothing running: no block, and the safe rendering is the same")
	}
}

func TestFallbackNote(t *testing.T) {
	for _, c := range []struct{ err, want string }{
		{`nginx: [emerg] host not found in upstream "hugo:8080" in /etc/osgs/gen/7/nginx.conf:42`,
			`osgs: nginx: hugo does not resolve (stopped?); every upstream is resolved per request until it returns`},
		{`nginx: [emerg] unknown directive "keepalivex" in /etc/osgs/gen/7/nginx.conf:42`,
			`osgs: warning: nginx's kept-alive configuration does not load, so it serves the per-request one: nginx: [emerg] unknown directive "keepalivex" in /etc/osgs/gen/7/nginx.conf:42`},
	} {
		if got := fallbackNote(&ConfigError{Msg: c.err}); got != c.want {
			t.Errorf("fallbackNote(%q)\n got %q\nwant %q", c.err, got, c.want)
		}
	}
}
