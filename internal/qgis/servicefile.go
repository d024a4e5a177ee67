package qgis

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/osgs/osgs/internal/catalog"
	"github.com/osgs/osgs/internal/envfile"
	"github.com/osgs/osgs/internal/postgis"
)

// ServiceFileOptions say whose pg_service.conf to write.
type ServiceFileOptions struct {
	// Role is the database role the file logs in as: a service's role from
	// the catalog (default qgis_server, so that a project sees on the
	// desktop exactly what QGIS Server will), or the superuser's name.
	Role string
	// Host is the address the desktop reaches PostGIS at (PostGIS's bind
	// address when empty).
	Host string
	// Out is the file written (config/pg_service.conf when empty).
	Out string
}

// ServiceFileText renders a pg_service.conf with the service names QGIS
// Server has (osgs for the first database, then one per database), so a
// project authored against service='osgs' on the desktop works unchanged
// when published.
func ServiceFileText(s postgis.Settings, services []string, role, password string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# pg_service.conf made by osgs (postgis:servicefile) for role %s. Keep it private (mode 0600):\n# it holds the role's password. Point QGIS Desktop at it with PGSERVICEFILE.\n# On another machine, copy config/postgis-tls/ca.crt along and fix sslrootcert.\n", role)
	for _, svc := range services {
		db := svc
		if svc == "osgs" {
			db = s.Databases[0]
		}
		fmt.Fprintf(&b, "\n[%s]\nhost=%s\nport=%s\ndbname=%s\nuser=%s\npassword=%s\n", svc, s.Host, s.Port, db, role, password)
		if s.CA == "" {
			b.WriteString("sslmode=require\n")
		} else {
			fmt.Fprintf(&b, "sslmode=verify-full\nsslrootcert=%s\n", s.CA)
		}
	}
	return b.String()
}

// WriteServiceFile writes the pg_service.conf of opts (mode 0600) and
// returns its path. The password is never printed.
func WriteServiceFile(dir string, cat *catalog.Catalog, settings map[string]string, s postgis.Settings, o ServiceFileOptions) (string, error) {
	role := o.Role
	if role == "" {
		role = "qgis_server"
	}
	password, ok := "", false
	if role == s.User {
		password, ok = settings["POSTGRES_PASSWORD"], true
	}
	var known []string
	for _, svc := range cat.Services {
		if r := svc.DBRole; r != nil {
			known = append(known, r.Name)
			if r.Name == role {
				password, ok = settings[r.Password], true
			}
		}
	}
	if !ok {
		return "", fmt.Errorf("%w: no role %q: use one of %s, or the superuser %s", ErrRefused, role, strings.Join(known, ", "), s.User)
	}
	if password == "" {
		return "", fmt.Errorf("%w: role %s has no password in .env yet: run stack:configure or bring its service up", ErrRefused, role)
	}
	if strings.ContainsAny(password, "\n\r") {
		return "", fmt.Errorf("%w: role %s's password holds a line break, which pg_service.conf cannot carry", ErrRefused, role)
	}
	if o.Host != "" {
		s.Host = o.Host
	}
	out := o.Out
	if out == "" {
		out = filepath.Join(dir, "config", "pg_service.conf")
		if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
			return "", err
		}
	}
	if err := envfile.WriteFileAtomic(out, []byte(ServiceFileText(s, Services(settings), role, password)), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", out, err)
	}
	return out, nil
}
