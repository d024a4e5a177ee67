// Package site keeps the site-wide configuration that is not in .env: the
// TLS certificate of the front door, the basic-auth users, and the
// database's certificate authority and server certificate. Both live on
// the host under config/ (mode 0600, gitignored, saved by backup:all), from
// where osgs hands them to nginx and Mosquitto.
package site

import (
	"path/filepath"
)

// Paths relative to the project root.
const (
	ConfigDir = "config"
	certFile  = "tls/site.crt"
	keyFile   = "tls/site.key"
	htpasswd  = "htpasswd"
)

// CertPath is the PEM certificate chain of the site.
func CertPath(root string) string { return filepath.Join(root, ConfigDir, certFile) }

// KeyPath is the PEM private key of the site.
func KeyPath(root string) string { return filepath.Join(root, ConfigDir, keyFile) }

// HtpasswdPath is the bcrypt htpasswd file of the protected paths.
func HtpasswdPath(root string) string { return filepath.Join(root, ConfigDir, htpasswd) }

// Files lists the site configuration files present under root, for backups.
func Files(root string) []string {
	var out []string
	for _, p := range append([]string{CertPath(root), KeyPath(root), HtpasswdPath(root)}, databaseFiles(root)...) {
		if fileExists(p) {
			out = append(out, p)
		}
	}
	return out
}
