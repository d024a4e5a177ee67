package nginx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/osgs/osgs/internal/config"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/site"
)

// Certbot is the catalog service that talks to Let's Encrypt.
const Certbot = "certbot"

// Webroot is where certbot writes ACME challenges and nginx serves them.
const Webroot = "/var/www/certbot"

// ACME says where certificates come from.
type ACME struct {
	Email string
	// Staging uses Let's Encrypt's staging CA (untrusted certificates, high limits).
	Staging bool
	// Server is another ACME directory URL (an internal CA, say); empty for Let's Encrypt.
	Server string
	// NoVerify skips checking the ACME server's own TLS certificate; only
	// for test CAs such as pebble.
	NoVerify bool
}

// CertbotCertonly is the certbot command asking for the site's first
// certificate by webroot. Without an email the account has no contact.
func CertbotCertonly(domain string, a ACME) []string {
	cmd := []string{"certbot", "certonly", "--webroot", "-w", Webroot, "-d", domain,
		"--agree-tos", "--non-interactive", "--keep-until-expiring", "--key-type", "ecdsa"}
	if a.Email != "" {
		cmd = append(cmd, "--email", a.Email)
	} else {
		cmd = append(cmd, "--register-unsafely-without-email")
	}
	return append(cmd, a.serverArgs()...)
}

func (a ACME) serverArgs() []string {
	var out []string
	if a.Staging {
		out = append(out, "--staging")
	}
	if a.Server != "" {
		out = append(out, "--server", a.Server)
	}
	if a.NoVerify {
		out = append(out, "--no-verify-ssl")
	}
	return out
}

// CertbotRenew is the certbot command renewing certificates within 30 days
// of expiry (all of them with force).
// The ACME server and account are those certbot recorded at certonly.
func CertbotRenew(force bool, a ACME) []string {
	cmd := []string{"certbot", "renew", "--webroot", "-w", Webroot, "--non-interactive", "--no-random-sleep-on-renew"}
	if force {
		cmd = append(cmd, "--force-renewal")
	}
	if a.NoVerify {
		cmd = append(cmd, "--no-verify-ssl")
	}
	return cmd
}

// SelfSigned replaces the site's certificate with a new self-signed one for
// OSGS_DOMAIN, switches nginx to it and brings nginx and Mosquitto up to date.
func SelfSigned(ctx context.Context, e *engine.Engine) error {
	if err := e.Ready(ctx); err != nil { // no daemon: change nothing
		return err
	}
	domain := config.Domain(e.Env)
	certPEM, keyPEM, err := site.SelfSigned(domain, time.Now())
	if err != nil {
		return err
	}
	if err := site.StoreCert(e.Dir, certPEM, keyPEM); err != nil {
		return err
	}
	if err := setTLS(e, "selfsigned"); err != nil {
		return err
	}
	fmt.Fprintf(e.Err, "osgs: self-signed certificate for %s, localhost and 127.0.0.1 in %s, valid for a year\n", domain, site.CertPath(e.Dir))
	return propagate(ctx, e)
}

func setTLS(e *engine.Engine, mode string) error {
	if e.Env.Value("OSGS_TLS") == mode {
		return nil
	}
	e.Env.Set("OSGS_TLS", mode)
	return e.Env.Write(config.Path(e.Dir))
}

// propagate hands a new certificate to the running services that use it:
// nginx is reloaded, Mosquitto (which reads it at start) is recreated.
func propagate(ctx context.Context, e *engine.Engine) error {
	if err := Sync(ctx, e); err != nil {
		return err
	}
	if _, err := e.ContainerOf(ctx, "mosquitto"); err == nil {
		return e.Up(ctx, engine.UpOptions{Services: []string{"mosquitto"}})
	}
	return nil
}

// LetsEncrypt asks Let's Encrypt for the site's certificate through the
// certbot service (webroot, served by the running nginx), switches nginx to
// it and leaves certbot running to renew it twice a day.
func LetsEncrypt(ctx context.Context, e *engine.Engine, a ACME) error {
	if err := e.Ready(ctx); err != nil {
		return err
	}
	domain := config.Domain(e.Env)
	if domain == "localhost" || !strings.Contains(domain, ".") {
		return fmt.Errorf("Let's Encrypt needs a public domain in OSGS_DOMAIN (now %q)", domain)
	}
	if _, err := e.ContainerOf(ctx, Service); err != nil {
		return fmt.Errorf("nginx must answer the challenge on port 80: %w", err)
	}
	if a.Email == "" {
		a.Email = e.Env.Value("LETSENCRYPT_EMAIL")
	}
	if a.Server == "" {
		a.Server = e.Env.Value("LETSENCRYPT_SERVER")
	}
	if err := e.Up(ctx, engine.UpOptions{Services: []string{Certbot}}); err != nil {
		return err
	}
	id, err := e.ContainerOf(ctx, Certbot)
	if err != nil {
		return err
	}
	if err := runCertbot(ctx, e, id, CertbotCertonly(domain, a)); err != nil {
		return fmt.Errorf("certbot: %w", err)
	}
	if err := copyLive(ctx, e, id, domain); err != nil {
		return err
	}
	if err := setTLS(e, "letsencrypt"); err != nil {
		return err
	}
	return propagate(ctx, e)
}

// certbotBusy is what certbot says while another certbot holds its lock.
const certbotBusy = "Another instance of Certbot is already running"

// certbotWait is how long runCertbot waits for another certbot to finish.
const certbotWait = 5 * time.Minute

// runCertbot runs argv in the certbot container. The service's own renewal
// loop runs certbot when the container starts and twice a day after; while
// that one holds certbot's lock, this one waits and tries again.
func runCertbot(ctx context.Context, e *engine.Engine, id string, argv []string) error {
	deadline := time.Now().Add(certbotWait)
	for {
		err := e.Exec(ctx, id, argv, engine.ExecOptions{Stdout: e.Err, Stderr: e.Err})
		var xe *engine.ExitError
		if !errors.As(err, &xe) || !strings.Contains(xe.Stderr, certbotBusy) || time.Now().After(deadline) {
			return err
		}
		fmt.Fprintln(e.Err, "osgs: another certbot (the service's own renewal) is running; trying again when it ends")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// copyLive copies the live Let's Encrypt certificate into config/tls, where
// backups and Mosquitto find it.
func copyLive(ctx context.Context, e *engine.Engine, certbotID, domain string) error {
	live := "/etc/letsencrypt/live/" + domain + "/"
	var certPEM, keyPEM []byte
	for _, f := range []struct {
		name string
		dst  *[]byte
	}{{"fullchain.pem", &certPEM}, {"privkey.pem", &keyPEM}} {
		var buf strings.Builder
		if err := e.Exec(ctx, certbotID, []string{"cat", live + f.name}, engine.ExecOptions{Stdout: &buf}); err != nil {
			return fmt.Errorf("read %s: %w", live+f.name, err)
		}
		*f.dst = []byte(buf.String())
	}
	return site.StoreCert(e.Dir, certPEM, keyPEM)
}

// Renew renews the site's certificate when it is within 30 days of expiry
// (always with force): through certbot for Let's Encrypt, in Go for a
// self-signed one.
func Renew(ctx context.Context, e *engine.Engine, force bool, a ACME) error {
	if err := e.Ready(ctx); err != nil {
		return err
	}
	c, err := site.LoadCert(e.Dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if e.Env.Value("OSGS_TLS") == "letsencrypt" {
		id, err := e.ContainerOf(ctx, Certbot)
		if err != nil {
			return err
		}
		if err := runCertbot(ctx, e, id, CertbotRenew(force, a)); err != nil {
			return fmt.Errorf("certbot: %w", err)
		}
		if err := copyLive(ctx, e, id, config.Domain(e.Env)); err != nil {
			return err
		}
		return propagate(ctx, e)
	}
	if c != nil && !force && !c.Due(time.Now()) {
		fmt.Fprintf(e.Err, "osgs: the certificate is valid until %s; nothing to renew (renewal starts %d days before)\n",
			c.Leaf.NotAfter.Format(time.DateOnly), int(site.RenewBefore.Hours()/24))
		return nil
	}
	return SelfSigned(ctx, e)
}

// CertWarning describes a site certificate that is due for renewal or
// expired, and "" for one that is fine or absent.
func CertWarning(root string, now time.Time) string {
	c, err := site.LoadCert(root)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ""
		}
		return "site certificate unreadable: " + err.Error()
	}
	left := c.Leaf.NotAfter.Sub(now)
	switch {
	case left <= 0:
		return fmt.Sprintf("the site certificate EXPIRED on %s: run `mage nginx:renew`", c.Leaf.NotAfter.Format(time.DateOnly))
	case c.Due(now):
		return fmt.Sprintf("the site certificate expires in %d days (%s): run `mage nginx:renew`", int(left.Hours()/24), c.Leaf.NotAfter.Format(time.DateOnly))
	}
	return ""
}

// ReadFile reads one file out of a container through the archive API.
func ReadFile(ctx context.Context, e *engine.Engine, id, path string) ([]byte, error) {
	return e.ReadFile(ctx, id, path)
}
