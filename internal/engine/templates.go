package engine

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/osgs/osgs/internal/config"
	"github.com/osgs/osgs/internal/site"
)

// Site certificate variables: a fragment that declares a secret with
// `environment: OSGS_SITE_CERT` (or _KEY) gets the site's certificate (or
// key) from config/tls, made self-signed on first use.
const (
	SiteCertEnv = "OSGS_SITE_CERT"
	SiteKeyEnv  = "OSGS_SITE_KEY"
)

// Database TLS variables: the database's server certificate and key
// (config/postgis-tls, signed by the site's own authority) and the
// authority that services logging in to it trust (sslmode=verify-full).
const (
	DatabaseCAEnv   = "OSGS_POSTGIS_CA"
	DatabaseCertEnv = "OSGS_POSTGIS_CERT"
	DatabaseKeyEnv  = "OSGS_POSTGIS_KEY"
)

// DatabaseTLSNames are the names the database's certificate carries
// besides the database service's own name and OSGS_DOMAIN: the tools
// helper's name for it, and loopback for clients on the host.
var DatabaseTLSNames = []string{"osgs-postgis", "localhost", "127.0.0.1", "::1"}

// SiteUsersVar is the template variable that holds the site's users (the
// protected paths' htpasswd) as a JSON array of {"username", "password"},
// the password being the bcrypt hash in its $2b$ spelling (the same
// algorithm as htpasswd's $2y$, and the one every bcrypt library reads):
// Node-RED's adminAuth gets the same users as nginx from it.
const SiteUsersVar = "OSGS_SITE_USERS"

// ContentLabel carries a digest of the files osgs injects into a service's
// container (rendered templates, secrets). compose does not hash their
// content, so the label makes a changed file recreate the container.
const ContentLabel = "org.osgs.content-sha256"

// TemplateSuffix marks a compose config or secret file as a Go template.
const TemplateSuffix = ".tmpl"

// templateFuncs are the functions config templates may use besides Go's.
var templateFuncs = template.FuncMap{
	// split turns a comma-separated setting into its trimmed, non-empty items.
	"split": func(s string) []string {
		var out []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		if out == nil {
			out = []string{""}
		}
		return out
	},
	// userinfo percent-encodes a user and password for a URI's user
	// information (user:password@host), so any character is safe in it.
	"userinfo": func(user, password string) string { return url.UserPassword(user, password).String() },
	// pathescape percent-encodes a URI path segment, such as a database name.
	"pathescape": url.PathEscape,
	// urlhost is the host name of a URL ("" when it does not parse).
	"urlhost": func(raw string) string {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil {
			return ""
		}
		return u.Hostname()
	},
	// yaml quotes a value as a YAML (and JSON) string.
	"yaml": func(s string) string { b, _ := json.Marshal(s); return string(b) },
}

// RenderTemplate executes a config template over the settings; a missing
// key is an error rather than an empty string.
func RenderTemplate(name string, text []byte, settings map[string]string) (string, error) {
	t, err := template.New(name).Funcs(templateFuncs).Option("missingkey=error").Parse(string(text))
	if err != nil {
		return "", fmt.Errorf("%w: template %s: %v", ErrModel, name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, settings); err != nil {
		return "", fmt.Errorf("%w: template %s: %v", ErrModel, name, err)
	}
	return b.String(), nil
}

// resolveFiles renders the *.tmpl configs and secrets of p into inline
// content, supplies the site certificate where a secret asks for it, and
// labels each service with the digest of what will be injected into it.
func (e *Engine) resolveFiles(p *types.Project) error {
	settings := map[string]string{}
	for k, v := range p.Environment {
		settings[k] = v
	}
	users, err := siteUsersJSON(e.Dir)
	if err != nil {
		return err
	}
	settings[SiteUsersVar] = users
	render := func(kind, name string, obj *types.FileObjectConfig) error {
		if !strings.HasSuffix(obj.File, TemplateSuffix) {
			return nil
		}
		text, err := os.ReadFile(obj.File)
		if err != nil {
			return fmt.Errorf("%s %s: %w", kind, name, err)
		}
		out, err := RenderTemplate(name, text, settings)
		if err != nil {
			return err
		}
		obj.Content, obj.File = out, ""
		return nil
	}
	for name, c := range p.Configs {
		obj := types.FileObjectConfig(c)
		if err := render("config", name, &obj); err != nil {
			return err
		}
		p.Configs[name] = types.ConfigObjConfig(obj)
	}
	for name, s := range p.Secrets {
		obj := types.FileObjectConfig(s)
		if err := render("secret", name, &obj); err != nil {
			return err
		}
		if obj.Content != "" {
			// compose injects secrets from the environment only (a secret
			// with inline content would be bind-mounted from a file), so a
			// rendered secret travels in the model's environment, never in
			// .env or a container's environment.
			key := "OSGS_RENDERED_SECRET_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(name))
			p.Environment[key], obj.Content, obj.Environment = obj.Content, "", key
		}
		if (obj.Environment == SiteCertEnv || obj.Environment == SiteKeyEnv) && usesSecret(p, name) {
			if err := e.siteCertEnv(p); err != nil {
				return err
			}
		}
		if (obj.Environment == DatabaseCAEnv || obj.Environment == DatabaseCertEnv || obj.Environment == DatabaseKeyEnv) && usesSecret(p, name) {
			if err := e.databaseTLSEnv(p); err != nil {
				return err
			}
		}
		p.Secrets[name] = types.SecretConfig(obj)
	}
	for name, svc := range p.Services {
		if len(svc.Configs)+len(svc.Secrets) == 0 {
			continue
		}
		sum, err := e.ContentDigest()
		if err != nil {
			return err
		}
		add := func(src string, obj types.FileObjectConfig) {
			fmt.Fprintf(sum, "%s\x00%s\x00", src, obj.Content)
			if obj.Environment != "" {
				fmt.Fprintf(sum, "%s\x00", p.Environment[obj.Environment])
			}
		}
		for _, r := range svc.Configs {
			add("c:"+r.Source, types.FileObjectConfig(p.Configs[r.Source]))
		}
		for _, r := range svc.Secrets {
			add("s:"+r.Source, types.FileObjectConfig(p.Secrets[r.Source]))
		}
		if svc.Labels == nil {
			svc.Labels = types.Labels{}
		}
		svc.Labels[ContentLabel] = hex.EncodeToString(sum.Sum(nil))
		p.Services[name] = svc
	}
	return nil
}

// siteCertEnv puts the site's certificate and key into the model's
// environment (not into .env), making a self-signed one if none is stored.
func (e *Engine) siteCertEnv(p *types.Project) error {
	if _, ok := p.Environment[SiteCertEnv]; ok {
		return nil
	}
	c, err := e.SiteCert()
	if err != nil {
		return err
	}
	p.Environment[SiteCertEnv] = string(c.CertPEM)
	p.Environment[SiteKeyEnv] = string(c.KeyPEM)
	return nil
}

// databaseTLSEnv puts the database's TLS files into the model's
// environment (not into .env), making them on first use.
func (e *Engine) databaseTLSEnv(p *types.Project) error {
	if _, ok := p.Environment[DatabaseCAEnv]; ok {
		return nil
	}
	t, err := e.DatabaseTLS()
	if err != nil {
		return err
	}
	p.Environment[DatabaseCAEnv] = string(t.CA)
	p.Environment[DatabaseCertEnv] = string(t.Cert)
	p.Environment[DatabaseKeyEnv] = string(t.Key)
	return nil
}

// DatabaseTLS returns the database's authority, certificate and key from
// config/postgis-tls, made (or the certificate renewed) when needed.
func (e *Engine) DatabaseTLS() (*site.DatabaseTLS, error) {
	names := []string{}
	for _, s := range e.Catalog.Services {
		if s.Database {
			names = append(names, s.Name)
		}
	}
	names = append(names, DatabaseTLSNames...)
	if d := config.Domain(e.Env); !slices.Contains(names, d) {
		names = append(names, d)
	}
	t, err := site.EnsureDatabaseTLS(e.Dir, names, time.Now())
	if err != nil {
		return nil, fmt.Errorf("database TLS: %w", err)
	}
	return t, nil
}

// SiteCert returns the site's certificate from config/tls, making a
// self-signed one for OSGS_DOMAIN (and saying so) when none is stored.
func (e *Engine) SiteCert() (*site.Cert, error) {
	c, made, err := site.EnsureCert(e.Dir, config.Domain(e.Env), time.Now())
	if err != nil {
		return nil, fmt.Errorf("site certificate: %w", err)
	}
	if made {
		fmt.Fprintf(e.Err, "osgs: made a self-signed certificate for %s in %s (valid until %s)\n",
			config.Domain(e.Env), site.CertPath(e.Dir), c.Leaf.NotAfter.Format(time.DateOnly))
	}
	return c, nil
}

func usesSecret(p *types.Project, secret string) bool {
	for _, svc := range p.Services {
		for _, r := range svc.Secrets {
			if r.Source == secret {
				return true
			}
		}
	}
	return false
}

// maskInjected blanks secrets osgs put into the model before it is printed.
func maskInjected(p *types.Project) {
	for k := range p.Environment {
		if strings.HasPrefix(k, "OSGS_RENDERED_SECRET_") || k == SiteKeyEnv {
			p.Environment[k] = Mask
		}
	}
}

// siteUsersJSON is SiteUsersVar's value.
func siteUsersJSON(root string) (string, error) {
	h, err := site.LoadHtpasswd(root)
	if err != nil {
		return "", err
	}
	type user struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	out := []user{}
	for _, name := range h.Users() {
		hash := h.Hash(name)
		if rest, ok := strings.CutPrefix(hash, "$2y$"); ok {
			hash = "$2b$" + rest
		}
		out = append(out, user{Username: name, Password: hash})
	}
	b, err := json.Marshal(out)
	return string(b), err
}
