package watch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/osgs/osgs/internal/envfile"
)

// Notification settings.
const (
	WebhookKey    = "BACKUP_NOTIFY_WEBHOOK" // https:// URL that receives a JSON POST; it may hold a token, so it is never printed
	EmailKey      = "BACKUP_NOTIFY_EMAIL"   // recipients, comma-separated
	SMTPKey       = "BACKUP_SMTP"           // smtp://[user@]host[:port] (STARTTLS) or smtps://...
	SMTPFromKey   = "BACKUP_SMTP_FROM"      // sender, default osgs@<hostname>
	SMTPPassKey   = "BACKUP_SMTP_PASSWORD_FILE"
	defaultSMTPPw = "config/backup-smtp-password"
)

// Notifier sends one-line failure notices.
type Notifier struct {
	Webhook  string
	To       []string
	SMTP     *url.URL
	From     string
	Password string // read from its file when the SMTP URL names a user
	Project  string
}

// Configured reports whether any channel is set up.
func (n *Notifier) Configured() bool { return n.Webhook != "" || len(n.To) > 0 }

// NewNotifier reads the settings through lookup; dir resolves the password file.
func NewNotifier(lookup func(string) string, dir, project string) (*Notifier, error) {
	n := &Notifier{Webhook: lookup(WebhookKey), Project: project, From: lookup(SMTPFromKey)}
	if n.Webhook != "" {
		u, err := url.Parse(n.Webhook)
		if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && private(u.Hostname()))) {
			return nil, fmt.Errorf("%s must be an https:// URL (http:// only on a loopback or private address)", WebhookKey)
		}
	}
	for _, to := range strings.Split(lookup(EmailKey), ",") {
		if to = strings.TrimSpace(to); to != "" {
			n.To = append(n.To, to)
		}
	}
	if len(n.To) == 0 {
		return n, nil
	}
	raw := lookup(SMTPKey)
	if raw == "" {
		return nil, fmt.Errorf("%s is set but %s is not (smtp://[user@]host[:port])", EmailKey, SMTPKey)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return nil, fmt.Errorf("%s: want smtp://[user@]host[:port] or smtps://...", SMTPKey)
	}
	if _, has := u.User.Password(); has {
		return nil, fmt.Errorf("%s holds a password: put it in %s (mode 0600) instead", SMTPKey, defaultSMTPPw)
	}
	n.SMTP = u
	if u.User.Username() != "" {
		f := lookup(SMTPPassKey)
		if f == "" {
			f = defaultSMTPPw
		}
		if !strings.HasPrefix(f, "/") {
			f = dir + "/" + f
		}
		if n.Password, err = envfile.ReadSecret(f); err != nil {
			return nil, fmt.Errorf("smtp password: %w", err)
		}
	}
	if n.From == "" {
		host, _ := os.Hostname()
		n.From = "osgs@" + host
	}
	return n, nil
}

func private(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsPrivate())
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Send delivers line on every configured channel.
func (n *Notifier) Send(ctx context.Context, line string) error {
	host, _ := os.Hostname()
	subject := fmt.Sprintf("osgs backup %s on %s: %s", n.Project, host, firstWords(line, 8))
	var errs []error
	if n.Webhook != "" {
		errs = append(errs, n.webhook(ctx, host, line))
	}
	if len(n.To) > 0 {
		errs = append(errs, n.mail(ctx, subject, line))
	}
	return errors.Join(errs...)
}

func (n *Notifier) webhook(ctx context.Context, host, line string) error {
	body, _ := json.Marshal(map[string]string{"text": "osgs " + n.Project + " on " + host + ": " + line, "project": n.Project, "host": host, "message": line})
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.Webhook, bytes.NewReader(body))
	if err != nil {
		return errors.New("notify webhook: bad URL")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may hold a token
		}
		return fmt.Errorf("notify webhook: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("notify webhook: %s", resp.Status)
	}
	return nil
}

func (n *Notifier) mail(ctx context.Context, subject, line string) error {
	port := 587
	if n.SMTP.Scheme == "smtps" {
		port = 465
	}
	if p := n.SMTP.Port(); p != "" {
		port, _ = strconv.Atoi(p)
	}
	opts := []mail.Option{mail.WithPort(port), mail.WithTimeout(30 * time.Second)}
	switch {
	case n.SMTP.Scheme == "smtps":
		opts = append(opts, mail.WithSSL())
	case loopback(n.SMTP.Hostname()):
		// A relay on this server (a local postfix): nothing crosses a
		// network. Anywhere else, STARTTLS is required.
		opts = append(opts, mail.WithTLSPortPolicy(mail.TLSOpportunistic))
	default:
		opts = append(opts, mail.WithTLSPortPolicy(mail.TLSMandatory))
	}
	if user := n.SMTP.User.Username(); user != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(user), mail.WithPassword(n.Password))
	}
	c, err := mail.NewClient(n.SMTP.Hostname(), opts...)
	if err != nil {
		return fmt.Errorf("notify e-mail: %v", err)
	}
	m := mail.NewMsg()
	if err := m.From(n.From); err != nil {
		return fmt.Errorf("notify e-mail: sender %q: %v", n.From, err)
	}
	if err := m.To(n.To...); err != nil {
		return fmt.Errorf("notify e-mail: recipients: %v", err)
	}
	m.Subject(subject)
	m.SetBodyString(mail.TypeTextPlain, line+"\n")
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		return fmt.Errorf("notify e-mail via %s: %v", n.SMTP.Host, err)
	}
	return nil
}

func firstWords(s string, n int) string {
	f := strings.Fields(s)
	if len(f) > n {
		return strings.Join(f[:n], " ") + " …"
	}
	return s
}
