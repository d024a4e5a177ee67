package targets

import (
	"context"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/nginx"
	"github.com/osgs/osgs/internal/site"
)

// Reload renders the nginx configuration from the catalog, tests it with nginx -t and reloads nginx gracefully.
func (Nginx) Reload(ctx context.Context) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error { return nginx.Apply(ctx, e) })
}

// Selfsigned makes a new self-signed certificate in Go (domain and localhost, one year) and switches nginx to it.
func (Nginx) Selfsigned(ctx context.Context) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error { return nginx.SelfSigned(ctx, e) })
}

// Letsencrypt gets a Let's Encrypt certificate for OSGS_DOMAIN by webroot and keeps certbot renewing it; -email, -staging, -server=ACME-URL.
func (Nginx) Letsencrypt(ctx context.Context, email *string, staging *bool, server *string) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		return nginx.LetsEncrypt(ctx, e, nginx.ACME{Email: deref(email), Staging: deref(staging), Server: deref(server)})
	})
}

// Renew renews the site certificate if it expires within 30 days (-force: now) and reloads nginx.
func (Nginx) Renew(ctx context.Context, force *bool) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		return nginx.Renew(ctx, e, deref(force), nginx.ACME{})
	})
}

// Adduser adds a basic-auth user; the password is read from stdin, or generated into config/users/NAME.password.
func (Nginx) Adduser(ctx context.Context, name string) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		var in io.Reader // a terminal: generate, never prompt
		if !term.IsTerminal(int(os.Stdin.Fd())) {
			in = os.Stdin
		}
		return nginx.AddUser(ctx, e, name, in)
	})
}

// Deluser removes a basic-auth user.
func (Nginx) Deluser(ctx context.Context, name string) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error { return nginx.DelUser(ctx, e, name) })
}

// Users lists the basic-auth users of the protected paths.
func (Nginx) Users(ctx context.Context) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		h, err := site.LoadHtpasswd(e.Dir)
		if err != nil {
			return err
		}
		for _, u := range h.Users() {
			e.Out.Write([]byte(u + "\n"))
		}
		return nil
	})
}
