package nginx

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/envfile"
	"github.com/osgs/osgs/internal/site"
)

// PasswordFile is where a generated password is left for its user: a 0600
// file under config/users, never the terminal or a log.
func PasswordFile(root, user string) string {
	return filepath.Join(root, site.ConfigDir, "users", user+".password")
}

// AddUser adds user to the protected paths' htpasswd, or changes their
// password. The password is the first line of in, or generated when in is
// nil (a terminal: osgs never prompts) and then written to PasswordFile.
// Passwords never come from arguments.
func AddUser(ctx context.Context, e *engine.Engine, user string, in io.Reader) error {
	h, err := site.LoadHtpasswd(e.Dir)
	if err != nil {
		return err
	}
	var password, saved string
	if in != nil {
		if password, err = site.ReadPassword(in); err != nil {
			return err
		}
	} else {
		if password, err = envfile.NewSecret(24); err != nil {
			return err
		}
		saved = PasswordFile(e.Dir, user)
	}
	if err := h.Set(user, password); err != nil {
		return err
	}
	if saved != "" {
		if err := os.MkdirAll(filepath.Dir(saved), 0o700); err != nil {
			return err
		}
		if err := envfile.WriteFileAtomic(saved, []byte(password+"\n"), 0o600); err != nil {
			return err
		}
	}
	if err := h.Store(e.Dir); err != nil {
		return err
	}
	if saved != "" {
		fmt.Fprintf(e.Err, "osgs: user %s added; the generated password is in %s (mode 0600)\n", user, saved)
	} else {
		fmt.Fprintf(e.Err, "osgs: user %s added (password from standard input)\n", user)
	}
	usersChanged(e)
	return Sync(ctx, e)
}

// DelUser removes user from the htpasswd.
func DelUser(ctx context.Context, e *engine.Engine, user string) error {
	h, err := site.LoadHtpasswd(e.Dir)
	if err != nil {
		return err
	}
	if !h.Delete(user) {
		return fmt.Errorf("no user %q (users: %v)", user, h.Users())
	}
	if err := h.Store(e.Dir); err != nil {
		return err
	}
	_ = os.Remove(PasswordFile(e.Dir, user))
	fmt.Fprintf(e.Err, "osgs: user %s removed\n", user)
	usersChanged(e)
	return Sync(ctx, e)
}

// usersChanged says which enabled services read the site's users besides
// nginx, and must be brought up again to take a change: Node-RED's editor
// login (adminAuth) is rendered from them.
func usersChanged(e *engine.Engine) {
	for _, name := range e.Enabled() {
		if name == "node-red" {
			fmt.Fprintln(e.Err, "osgs: run `mage node-red:up` so that Node-RED's editor login takes the change")
		}
	}
}
