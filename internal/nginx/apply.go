package nginx

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/config"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/site"
)

// wwwData is the uid/gid of nginx's workers in Debian, which read htpasswd
// per request.
const wwwData = 33

// ConfigError is a rendered configuration that nginx -t refused. The
// configuration that was serving still is.
type ConfigError struct{ Msg string }

func (c *ConfigError) Error() string {
	return "nginx refused the new configuration, the old one keeps serving: " + c.Msg
}

// RenderFor renders the configuration of e's checkout, with kept-alive
// upstreams for the services whose containers run now.
func RenderFor(ctx context.Context, e *engine.Engine) (*Rendered, error) {
	states, err := e.States(ctx, e.Enabled()...)
	if err != nil {
		return nil, err
	}
	var running []string
	for _, st := range states {
		if st.State == "running" {
			running = append(running, st.Service)
		}
	}
	return Render(Input{Root: e.Dir, Catalog: e.Catalog, Enabled: e.Enabled(), Settings: e.Env.Map(),
		Generation: strconv.FormatInt(time.Now().UnixNano(), 36), Running: running})
}

// Sync applies the configuration when nginx runs; it does nothing otherwise
// (nginx gets it when it starts).
func Sync(ctx context.Context, e *engine.Engine) error {
	if e.Connect(ctx) != nil {
		return nil // no daemon, so no nginx to update
	}
	_, err := e.ContainerOf(ctx, Service)
	var nr *engine.NotRunningError
	if errors.As(err, &nr) {
		return nil
	}
	if err != nil {
		return err
	}
	return Apply(ctx, e)
}

// Apply renders the configuration and stages it whole, with the certificate
// and the users, in a new generation folder in the running nginx; tests it
// there with nginx -t; switches nginx.conf to it by a rename; and reloads
// nginx gracefully (nginx -s reload: workers finish their requests). A
// template error, or a configuration, certificate or key nginx refuses,
// returns an error, removes the staged folder and leaves what serves (and
// what nginx would load at its next start) as it was.
func Apply(ctx context.Context, e *engine.Engine) error {
	if err := e.Ready(ctx); err != nil {
		return err
	}
	r, err := RenderFor(ctx, e)
	if err != nil {
		return err
	}
	id, err := e.ContainerOf(ctx, Service)
	if err != nil {
		return err
	}
	files := []tarFile{
		{name: "nginx.conf", data: r.Conf, mode: 0o644},
		{name: SafeName, data: r.Safe, mode: 0o644},
		{name: "html/index.html", data: r.Index, mode: 0o644},
	}
	if e.Env.Value("OSGS_TLS") != "letsencrypt" {
		c, err := e.SiteCert()
		if err != nil {
			return err
		}
		files = append(files,
			tarFile{name: "tls/site.crt", data: c.CertPEM, mode: 0o644},
			tarFile{name: "tls/site.key", data: c.KeyPEM, mode: 0o600})
	}
	users, err := site.LoadHtpasswd(e.Dir)
	if err != nil {
		return err
	}
	files = append(files, tarFile{name: "htpasswd", data: users.Bytes(), mode: 0o640, gid: wwwData})
	gen := GenerationDir(r.Generation)
	archive, err := tarOf(strings.TrimPrefix(gen, ConfDir+"/"), files)
	if err != nil {
		return err
	}
	if _, err := e.DockerFor(id).CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: ConfDir, Content: archive}); err != nil {
		return fmt.Errorf("copy configuration into nginx: %w", err)
	}
	// The safe form must load; the fast one may fail only because a
	// service stopped since it was rendered (its upstream's name no longer
	// resolves): then the safe one serves until the watcher switches back.
	use := gen + "/nginx.conf"
	test := func(conf string) error {
		err := e.Exec(ctx, id, []string{"nginx", "-t", "-q", "-c", conf}, engine.ExecOptions{})
		var x *engine.ExitError
		if errors.As(err, &x) {
			return &ConfigError{Msg: oneLine(x.Stderr)}
		}
		return err
	}
	if err := test(gen + "/" + SafeName); err != nil {
		_ = e.Exec(context.WithoutCancel(ctx), id, []string{"rm", "-rf", gen}, engine.ExecOptions{})
		return err
	}
	if !bytes.Equal(r.Conf, r.Safe) {
		if err := test(use); err != nil {
			use = gen + "/" + SafeName
			fmt.Fprintln(e.Err, fallbackNote(err))
		}
	}
	// Switch by a rename in the same folder, so nginx.conf is always whole,
	// under the lock the entrypoint's watcher takes too.
	if err := e.Exec(ctx, id, []string{"flock", SwitchLock, "sh", "-c", swapScript, "sh", use, ConfPath}, engine.ExecOptions{}); err != nil {
		return fmt.Errorf("switch nginx to the new configuration: %w", err)
	}
	if err := e.Exec(ctx, id, []string{"nginx", "-s", "reload", "-c", ConfPath}, engine.ExecOptions{}); err != nil {
		return fmt.Errorf("reload nginx: %w", err)
	}
	// The master applies a reload asynchronously (and on the first apply
	// after the bootstrap configuration opens the https socket). Wait until
	// new connections reach workers of this generation, so the caller's
	// next request sees the new configuration and certificate.
	if err := waitGeneration(ctx, e, id, r.Generation); err != nil {
		return err
	}
	// Keep this generation and the one before it (old workers may still be
	// finishing requests that read its htpasswd); drop older ones and the
	// files of the layout before generations.
	prune := `cd "$1" && ls -1 | sort | head -n -2 | xargs -r rm -rf -- && rm -rf "$2/tls" "$2/html" "$2/htpasswd" "$2/nginx.conf.next"`
	if err := e.Exec(ctx, id, []string{"sh", "-c", prune, "sh", GenDir, ConfDir}, engine.ExecOptions{}); err != nil {
		return fmt.Errorf("remove old nginx generations: %w", err)
	}
	fmt.Fprintf(e.Err, "osgs: nginx reloaded (serving: %v)\n", r.Services)
	if r.Protected && len(users.Users()) == 0 {
		fmt.Fprintln(e.Err, "osgs: protected paths have no users yet; add one with `mage nginx:adduser <name>`")
	}
	return nil
}

// fallbackNote is the one line Apply prints when the kept-alive form does
// not load and the per-request form serves instead. A service that stopped
// since the render is expected; anything else is a fault in osgs's
// rendering, said as such.
func fallbackNote(err error) string {
	msg := err.Error()
	var ce *ConfigError
	if errors.As(err, &ce) {
		msg = ce.Msg
	}
	if m := hostNotFound.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("osgs: nginx: %s does not resolve (stopped?); every upstream is resolved per request until it returns", m[1])
	}
	return "osgs: warning: nginx's kept-alive configuration does not load, so it serves the per-request one: " + msg
}

// hostNotFound is nginx's error for an upstream block whose name does not
// resolve: `host not found in upstream "hugo:8080" in ...`.
var hostNotFound = regexp.MustCompile(`host not found in upstream "([^":]+)`)

// swapScript copies $1 over $2 by a rename.
const swapScript = `cp "$1" "$2.next" && mv -f "$2.next" "$2"`

func waitGeneration(ctx context.Context, e *engine.Engine, id, generation string) error {
	probe := []string{"curl", "-sSk", "-D", "-", "-o", "/dev/null", "--max-time", "2", "https://127.0.0.1/osgs-health"}
	want := strings.ToLower("X-Osgs-Generation: " + generation)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var out bytes.Buffer
		err := e.Exec(ctx, id, probe, engine.ExecOptions{Stdout: &out})
		if err == nil && strings.Contains(strings.ToLower(out.String()), want) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nginx reloaded but the new configuration does not answer on https (%v)", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

type tarFile struct {
	name string
	data []byte
	mode int64
	gid  int
}

// tarOf makes an archive of files under the folder prefix, with a header
// for every folder on the way.
func tarOf(prefix string, files []tarFile) (*bytes.Buffer, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	dirs := map[string]bool{}
	now := time.Now()
	dir := func(name string) error {
		parts := strings.Split(name, "/")
		for i := 1; i < len(parts); i++ {
			d := strings.Join(parts[:i], "/")
			if dirs[d] {
				continue
			}
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: now}); err != nil {
				return err
			}
		}
		return nil
	}
	for _, f := range files {
		name := prefix + "/" + f.name
		if err := dir(name); err != nil {
			return nil, err
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: f.mode, Size: int64(len(f.data)), Gid: f.gid, ModTime: now}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	return &b, tw.Close()
}

func oneLine(s string) string {
	return string(bytes.Join(bytes.Fields([]byte(s)), []byte(" ")))
}

// SiteURL is the front door's https address.
func SiteURL(settings map[string]string) string {
	u := "https://" + config.DomainOf(settings)
	if p := settings["NGINX_HTTPS_PORT"]; p != "" && p != "443" {
		u += ":" + p
	}
	return u
}

// URL is where service answers through the front door; "" when it has no
// web face.
func URL(e *engine.Engine, service string) string {
	svc, err := e.Catalog.Get(service)
	if err != nil {
		return ""
	}
	switch {
	case service == Service:
		return SiteURL(e.Env.Map()) + "/"
	case svc.URL != "":
		return SiteURL(e.Env.Map()) + svc.URL
	}
	return ""
}
