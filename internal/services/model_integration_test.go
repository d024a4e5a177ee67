package services_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/osgs/osgs/internal/config"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/nginx"
	"github.com/osgs/osgs/internal/site"
	"github.com/osgs/osgs/internal/testenv"
	"golang.org/x/crypto/bcrypt"
)

// enableAll records every catalog service as enabled, with the given settings.
func enableAll(t *testing.T, e *engine.Engine, c *testenv.Checkout, settings map[string]string) {
	t.Helper()
	if _, err := e.Configure(); err != nil {
		t.Fatal(err)
	}
	for _, s := range e.Catalog.Names() {
		config.SetEnabled(e.Env, s, true)
	}
	for k, v := range settings {
		e.Env.Set(k, v)
	}
	if err := e.Env.Write(config.Path(c.Dir)); err != nil {
		t.Fatal(err)
	}
}

// TestPublishedPorts renders the model of the whole catalog with default
// ports: only nginx publishes 80 and 443; the others publish only what a
// setting of their own names (PostGIS on loopback, MQTT), and no web service
// but nginx publishes anything.
func TestPublishedPorts(t *testing.T) {
	testenv.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := testenv.NewCheckout(t, nil)
	e := c.Engine(t)
	enableAll(t, e, c, map[string]string{
		"NGINX_BIND": "0.0.0.0", "NGINX_HTTP_PORT": "80", "NGINX_HTTPS_PORT": "443",
		"POSTGIS_PORT": "5432", "MQTT_PORT": "1883", "MQTTS_PORT": "8883",
	})
	if err := e.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := e.Project(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Services) != len(e.Catalog.Services) {
		t.Fatalf("model has %d services, catalog %d", len(p.Services), len(e.Catalog.Services))
	}
	published := map[string][]string{}
	for name, svc := range p.Services {
		cs, _ := e.Catalog.Get(name)
		own := map[string]bool{}
		for _, st := range cs.Settings {
			if strings.HasSuffix(st.Key, "_PORT") {
				own[e.Env.Value(st.Key)] = true
			}
		}
		for _, port := range svc.Ports {
			if port.Published == "" {
				t.Errorf("%s publishes container port %d on a random host port", name, port.Target)
				continue
			}
			if !own[port.Published] {
				t.Errorf("%s publishes %s, which none of its settings configures", name, port.Published)
			}
			if cs.HasWeb() && name != nginx.Service {
				t.Errorf("web service %s publishes %s; it must be reached through nginx", name, port.Published)
			}
			published[name] = append(published[name], port.HostIP+":"+port.Published)
		}
	}
	want := map[string][]string{
		"nginx":     {"0.0.0.0:443", "0.0.0.0:80"}, // sorted as strings
		"postgis":   {"127.0.0.1:5432"},
		"mosquitto": {"0.0.0.0:8883", "127.0.0.1:1883"}, // 1883 (passwords in clear) on loopback only
	}
	for name := range published {
		slices.Sort(published[name])
	}
	for name, ports := range want {
		if !slices.Equal(published[name], ports) {
			t.Errorf("%s publishes %v, want %v", name, published[name], ports)
		}
	}
	if len(published) != len(want) {
		t.Errorf("services publishing ports: %v, want only %v", published, want)
	}

	// An explicit setting moves the port.
	e.Env.Set("NGINX_HTTPS_PORT", "8443")
	if err := e.Env.Write(config.Path(c.Dir)); err != nil {
		t.Fatal(err)
	}
	p, err = e.Project(ctx, "nginx")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, port := range p.Services["nginx"].Ports {
		got = append(got, port.Published)
	}
	if !slices.Contains(got, "8443") || slices.Contains(got, "443") {
		t.Fatalf("NGINX_HTTPS_PORT=8443 publishes %v", got)
	}
}

// TestWholeCatalogNginxConfig enables every service, including the upstream
// ones that cannot run here, and has the real nginx test and load the
// configuration rendered for all of them.
func TestWholeCatalogNginxConfig(t *testing.T) {
	testenv.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c := testenv.NewCheckout(t, nil)
	c.Cleanup(t)
	e := c.Engine(t)
	enableAll(t, e, c, nil)
	if err := e.Up(ctx, engine.UpOptions{Services: []string{nginx.Service}}); err != nil {
		t.Fatal(err)
	}
	if err := nginx.Apply(ctx, e); err != nil {
		t.Fatal(err)
	}
	id, err := e.ContainerOf(ctx, nginx.Service)
	if err != nil {
		t.Fatal(err)
	}
	conf, err := nginx.ReadFile(ctx, e, id, nginx.ConfPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range e.Catalog.Services {
		for _, l := range s.Web {
			if !strings.Contains(string(conf), "location "+l.Path+" {") {
				t.Errorf("%s: location %s missing", s.Name, l.Path)
			}
			if !strings.Contains(string(conf), "http://"+s.Name+":"+strconv.Itoa(l.Port)) {
				t.Errorf("%s: upstream %s:%d missing", s.Name, s.Name, l.Port)
			}
		}
	}
	for _, want := range []string{"fastcgi_pass $osgs_qgis", "auth_basic_user_file"} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("configuration lacks %q", want)
		}
	}
	// nginx accepted it: the running configuration is this one.
	if err := e.Exec(ctx, id, []string{"nginx", "-t", "-q", "-c", nginx.ConfPath}, engine.ExecOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Run("identity header", func(t *testing.T) { testIdentityHeader(ctx, t, c, e, id) })
	t.Run("encoded paths", func(t *testing.T) { testEncodedPaths(ctx, t, e, id) })
	t.Run("login attempts are limited", func(t *testing.T) { testLoginLimit(ctx, t, e, id) })
	t.Run("trailing-slash redirects", func(t *testing.T) {
		// swagger-ui serves only below BASE_URL=/swagger: /swagger must
		// redirect to /swagger/, relative, so a non-443 port survives.
		code, loc := curlIn(ctx, t, e, id, "https://127.0.0.1/swagger?x=1")
		if code != "301" || loc != "https://127.0.0.1/swagger/?x=1" {
			t.Fatalf("/swagger answered %s %q, want 301 to /swagger/?x=1", code, loc)
		}
	})
}

// TestTemplateChangeRecreates: a config rendered from a .tmpl follows .env,
// and a changed result recreates the container on the next up, while an
// unchanged one keeps it.
func TestTemplateChangeRecreates(t *testing.T) {
	ctx, c, e := testenv.Start(t, 5*time.Minute, nil, "mapproxy")
	model := func() (content, label string) {
		t.Helper()
		p, err := e.Project(ctx, "mapproxy")
		if err != nil {
			t.Fatal(err)
		}
		return p.Configs["mapproxy_yaml"].Content, p.Services["mapproxy"].Labels[engine.ContentLabel]
	}
	containerID := func() string {
		t.Helper()
		id, err := e.ContainerOf(ctx, "mapproxy")
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	content, label := model()
	if !strings.Contains(content, `url: "https://nginx/ogc/demo"`) || label == "" {
		t.Fatalf("rendered config or label missing (label %q):\n%s", label, content)
	}
	first := containerID()
	if err := e.Up(ctx, engine.UpOptions{Services: []string{"mapproxy"}}); err != nil {
		t.Fatal(err)
	}
	if containerID() != first {
		t.Fatal("an unchanged template recreated the container")
	}

	e.Env.Set("MAPPROXY_SOURCE_URL", "https://wms.example.org/service")
	if err := e.Env.Write(config.Path(c.Dir)); err != nil {
		t.Fatal(err)
	}
	content2, label2 := model()
	if !strings.Contains(content2, `url: "https://wms.example.org/service"`) || label2 == label {
		t.Fatalf("the setting did not reach the config or its label (%q)", label2)
	}
	if err := e.Up(ctx, engine.UpOptions{Services: []string{"mapproxy"}}); err != nil {
		t.Fatal(err)
	}
	if containerID() == first {
		t.Fatal("a changed template did not recreate the container")
	}
	id, _ := e.ContainerOf(ctx, "mapproxy")
	var out strings.Builder
	if err := e.Exec(ctx, id, []string{"cat", "/mapproxy/config/mapproxy.yaml"}, engine.ExecOptions{Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "wms.example.org") {
		t.Fatal("the new container does not have the new configuration")
	}

	// A template naming a setting .env lacks is refused as a bad model.
	tmpl := filepath.Join(c.Dir, "services", "mapproxy", "mapproxy.yaml.tmpl")
	good, _ := os.ReadFile(tmpl)
	os.WriteFile(tmpl, append(good, []byte(`{{.NO_SUCH_SETTING}}`)...), 0o644)
	defer os.WriteFile(tmpl, good, 0o644)
	if _, err := e.Project(ctx, "mapproxy"); !errors.Is(err, engine.ErrModel) {
		t.Fatalf("missing setting: %v", err)
	}
}

// TestNodeRedAdminAuth renders Node-RED's settings and loads them with
// Node.js, as red.js does (require of the --settings file): the editor's
// adminAuth holds the site's users, each hash one that bcrypt accepts for
// that user's password, so nothing that reaches Node-RED without nginx
// can change the flows.
func TestNodeRedAdminAuth(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and no node (Debian's nodejs) to load Node-RED's settings with")
		}
		t.Skip("no node")
	}
	testenv.RequireDocker(t)
	c := testenv.NewCheckout(t, nil)
	e := c.Engine(t)
	enableAll(t, e, c, nil)
	if err := e.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	load := func() []struct{ Username, Password, Permissions string } {
		t.Helper()
		p, err := e.Project(context.Background(), "node-red")
		if err != nil {
			t.Fatal(err)
		}
		text := p.Environment[p.Secrets["node_red_settings.js"].Environment]
		file := filepath.Join(t.TempDir(), "settings.js")
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(node, "-e", "console.log(JSON.stringify(require(process.argv[1]).adminAuth))", file).CombinedOutput()
		if err != nil {
			t.Fatalf("node loads the settings: %v: %s", err, out)
		}
		var auth struct {
			Type  string
			Users []struct{ Username, Password, Permissions string }
		}
		if err := json.Unmarshal(out, &auth); err != nil || auth.Type != "credentials" {
			t.Fatalf("adminAuth %s: %v", out, err)
		}
		return auth.Users
	}
	if users := load(); len(users) != 0 {
		t.Fatalf("no site users yet, yet Node-RED lets in %v", users)
	}
	h, err := site.LoadHtpasswd(c.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for user, pw := range map[string]string{"ana": "a long password", "bo.b@x": `quote" back\slash`} {
		if err := h.Set(user, pw); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Store(c.Dir); err != nil {
		t.Fatal(err)
	}
	users := load()
	if len(users) != 2 {
		t.Fatalf("users %v", users)
	}
	for _, u := range users {
		pw := map[string]string{"ana": "a long password", "bo.b@x": `quote" back\slash`}[u.Username]
		if !strings.HasPrefix(u.Password, "$2b$") || bcrypt.CompareHashAndPassword([]byte(u.Password), []byte(pw)) != nil || u.Permissions != "*" {
			t.Errorf("user %s: hash %.7s…, permissions %q", u.Username, u.Password, u.Permissions)
		}
	}
}
