// Package nginx drives the front door. Render is pure: it turns the catalog,
// the enabled services and the settings into nginx's configuration through
// Go templates (services/nginx/site.conf.tmpl, plus each service's
// x-osgs.web locations or its own nginx.conf.tmpl). Apply hands the result
// to the running nginx, tests it with nginx -t and reloads gracefully; a
// configuration that fails either step never replaces the one serving.
package nginx

import (
	"bytes"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"slices"
	"strings"
	ttemplate "text/template"

	"github.com/osgs/osgs/internal/catalog"
	"github.com/osgs/osgs/internal/nginx/uripath"
)

// Service is the name of the front door in the catalog.
const Service = "nginx"

// SiteTemplate is the whole configuration's template, relative to the root.
var SiteTemplate = filepath.Join(catalog.ServicesDir, Service, "site.conf.tmpl")

// Paths inside the nginx container (the nginx-config volume). Every
// rendering is staged whole (configuration, certificate, key, users, landing
// page) in its own generation folder, GenDir/<generation>/, and tested there;
// only then does ConfPath switch to it. A refused certificate, key or
// configuration never reaches what nginx serves or loads at its next start.
const (
	ConfDir  = "/etc/osgs"
	ConfPath = ConfDir + "/nginx.conf"
	GenDir   = ConfDir + "/gen"
	// SafeName is the per-request form of a generation's nginx.conf.
	SafeName = "nginx-safe.conf"
	// SwitchLock serializes the switches of ConfPath (osgs's and the
	// entrypoint watcher's).
	SwitchLock     = ConfDir + "/.switch.lock"
	letsEncryptDir = "/etc/letsencrypt/live"
)

// GenerationDir is where a rendering is staged in the nginx container.
func GenerationDir(generation string) string { return GenDir + "/" + generation }

// Input is what a configuration is rendered from.
type Input struct {
	Root     string            // project root (templates are read from it)
	Catalog  *catalog.Catalog  //
	Enabled  []string          // enabled services
	Settings map[string]string // .env
	// Generation names this rendering; /osgs-health answers it in a header
	// once the configuration serves.
	Generation string
	// Running are the services whose containers run now: nginx keeps its
	// connections to them open (an upstream block with keepalive), which
	// nginx can only do for names it resolves when it loads the
	// configuration. The others are resolved per request, so that one
	// that is down never stops nginx from loading.
	Running []string
}

// Location is one proxied path in the rendered configuration.
type Location struct {
	catalog.Location
	Host string
	// Upstream names the kept-alive upstream block of Host:Port, or is
	// empty when Host is resolved per request.
	Upstream string
}

// upstream is a kept-alive upstream block.
type upstream struct {
	Name, Host string
	Port       int
}

// UpstreamName is the upstream block of host:port, "osgs.<host>.<port>"
// (the entrypoint's watcher reads these names back).
func UpstreamName(host string, port int) string { return fmt.Sprintf("osgs.%s.%d", host, port) }

// siteData is the data of site.conf.tmpl.
type siteData struct {
	Generation      string
	Dir             string // the generation's folder: htpasswd, html/, tls/
	Domain          string
	MaxBody         string
	HTTPSPortSuffix string
	Certificate     string
	Key             string
	HasRoot         bool
	HSTS            bool // Strict-Transport-Security on https (OSGS_HSTS, default on)
	Services        []webService
	Upstreams       []upstream
}

type webService struct {
	Name        string
	Description string
	Web         []Location
	Extra       string
	URL         string
	Link        bool // URL is a page, not a pattern such as /ogc/<project>
}

// Rendered is a configuration ready to hand to nginx.
type Rendered struct {
	Conf []byte // nginx.conf
	// Safe is Conf with every upstream resolved per request: what nginx
	// falls back to when a kept-alive upstream's name does not resolve
	// (its service stopped since), so that it still loads.
	Safe  []byte
	Index []byte // the landing page listing the services, for when none serves /
	// Services are the enabled services with a web face, in order.
	Services []string
	// Protected says whether any location needs the htpasswd file.
	Protected bool
	// Generation is Input.Generation.
	Generation string
}

// Render builds the configuration. It fails on a template that does not
// parse or execute, and on two services claiming the same path.
func Render(in Input) (*Rendered, error) {
	set := func(k, def string) string {
		if v := strings.TrimSpace(in.Settings[k]); v != "" {
			return v
		}
		return def
	}
	s := siteData{
		Generation: in.Generation,
		Domain:     set("OSGS_DOMAIN", "localhost"),
		MaxBody:    set("NGINX_MAX_BODY", "100m"),
		HSTS:       set("OSGS_HSTS", "on") != "off",
	}
	if p := set("NGINX_HTTPS_PORT", "443"); p != "443" {
		s.HTTPSPortSuffix = ":" + p
	}
	s.Dir = GenerationDir(in.Generation)
	s.Certificate, s.Key = s.Dir+"/tls/site.crt", s.Dir+"/tls/site.key"
	if set("OSGS_TLS", "selfsigned") == "letsencrypt" {
		s.Certificate = letsEncryptDir + "/" + s.Domain + "/fullchain.pem"
		s.Key = letsEncryptDir + "/" + s.Domain + "/privkey.pem"
	}
	if strings.ContainsAny(s.Domain+s.MaxBody, " ;{}'\"\n\\") {
		return nil, fmt.Errorf("OSGS_DOMAIN and NGINX_MAX_BODY may not hold spaces, quotes, braces, backslashes or semicolons")
	}
	out := &Rendered{Generation: in.Generation}
	paths := map[string]string{}
	for _, svc := range in.Catalog.Services {
		if svc.Name == Service || !svc.HasWeb() || !slices.Contains(in.Enabled, svc.Name) {
			continue
		}
		ws := webService{Name: svc.Name, Description: svc.Description}
		for _, l := range svc.Web {
			if other, dup := paths[l.Path]; dup {
				return nil, fmt.Errorf("nginx: %s and %s both claim %s", other, svc.Name, l.Path)
			}
			paths[l.Path] = svc.Name
			loc := Location{Location: l, Host: svc.Name}
			if slices.Contains(in.Running, svc.Name) && !l.Websocket {
				loc.Upstream = UpstreamName(svc.Name, l.Port)
				if !slices.ContainsFunc(s.Upstreams, func(u upstream) bool { return u.Name == loc.Upstream }) {
					s.Upstreams = append(s.Upstreams, upstream{Name: loc.Upstream, Host: svc.Name, Port: l.Port})
				}
			}
			ws.Web = append(ws.Web, loc)
			s.HasRoot = s.HasRoot || l.Path == "/"
			out.Protected = out.Protected || l.Protected
		}
		ws.URL = svc.URL
		ws.Link = ws.URL != "" && !strings.ContainsAny(ws.URL, "<>")
		if svc.NginxTemplate != "" {
			extra, err := renderFile(filepath.Join(in.Root, svc.NginxTemplate), in.Settings)
			if err != nil {
				return nil, err
			}
			ws.Extra = strings.TrimRight(extra, "\n")
		}
		s.Services = append(s.Services, ws)
		out.Services = append(out.Services, svc.Name)
	}
	conf, err := renderFile(filepath.Join(in.Root, SiteTemplate), s)
	if err != nil {
		return nil, err
	}
	out.Conf = []byte(conf)
	out.Safe = out.Conf
	if len(s.Upstreams) > 0 {
		safe := s
		safe.Upstreams, safe.Services = nil, nil
		for _, ws := range s.Services {
			ws.Web = slices.Clone(ws.Web)
			for i := range ws.Web {
				ws.Web[i].Upstream = ""
			}
			safe.Services = append(safe.Services, ws)
		}
		text, err := renderFile(filepath.Join(in.Root, SiteTemplate), safe)
		if err != nil {
			return nil, err
		}
		out.Safe = []byte(text)
	}
	var idx bytes.Buffer
	if err := indexTmpl.Execute(&idx, s); err != nil {
		return nil, err
	}
	out.Index = idx.Bytes()
	return out, nil
}

// ambiguousPaths are uripath's rule as nginx map keys.
func ambiguousPaths() []string {
	out := make([]string, len(uripath.Patterns))
	for i, p := range uripath.Patterns {
		out[i] = uripath.NginxMap(p)
	}
	return out
}

// renderFile executes a text template file; missing keys are errors.
func renderFile(path string, data any) (string, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("nginx template: %w", err)
	}
	funcs := ttemplate.FuncMap{"hasSuffix": strings.HasSuffix, "trimSuffix": strings.TrimSuffix, "ambiguousPaths": ambiguousPaths}
	t, err := ttemplate.New(filepath.Base(path)).Funcs(funcs).Option("missingkey=error").Parse(string(text))
	if err != nil {
		return "", fmt.Errorf("nginx template %s: %w", path, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("nginx template %s: %w", path, err)
	}
	return b.String(), nil
}

var indexTmpl = template.Must(template.New("index").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Domain}}</title></head>
<body><h1>{{.Domain}}</h1>
<p>Services of this Open Source GIS Stack:</p>
<ul>
{{- range .Services}}
<li>{{if .Link}}<a href="{{.URL}}">{{.Name}}</a>{{else}}{{.Name}}{{if .URL}} ({{.URL}}){{end}}{{end}}: {{.Description}}</li>
{{- end}}
</ul></body></html>
`))
