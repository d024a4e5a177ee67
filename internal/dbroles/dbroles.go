// Package dbroles gives every service that uses PostGIS its own login role
// with only the rights it needs (catalog: x-osgs.database_role): it reads
// the schemas its settings list, in every configured database, and nothing
// else; it writes only where a setting says so. No service logs in as the
// superuser.
package dbroles

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/osgs/osgs/internal/catalog"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/postgis"
)

var schemaRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// Grant is what one role gets.
type Grant struct {
	Role      string
	Password  string
	Schemas   []string
	Write     bool
	Create    bool   // make the schemas when they are missing
	Superuser string // whose future tables the role may read
}

// ForService reads a service's role from the catalog and .env.
func ForService(svc catalog.Service, settings map[string]string) (*Grant, error) {
	r := svc.DBRole
	if r == nil {
		return nil, nil
	}
	g := &Grant{Role: r.Name, Password: settings[r.Password], Superuser: settings["POSTGRES_USER"]}
	for _, s := range strings.Split(settings[r.Schemas], ",") {
		if s = strings.TrimSpace(s); s != "" {
			g.Schemas = append(g.Schemas, s)
		}
	}
	g.Create = r.Create
	if r.Write != "" {
		g.Write = strings.EqualFold(strings.TrimSpace(settings[r.Write]), "true")
	}
	if g.Superuser == "" {
		g.Superuser = "osgs"
	}
	return g, g.check()
}

func (g *Grant) check() error {
	if g.Password == "" || strings.ContainsAny(g.Password, "'\\\n\r") {
		return fmt.Errorf("role %s: its password is empty or holds quotes, backslashes or newlines", g.Role)
	}
	if len(g.Schemas) == 0 {
		return fmt.Errorf("role %s: no schema to read", g.Role)
	}
	for _, s := range append(slices.Clone(g.Schemas), g.Superuser) {
		if !schemaRE.MatchString(s) {
			return fmt.Errorf("role %s: %q is not a plain SQL name", g.Role, s)
		}
	}
	return nil
}

// RoleSQL creates the role or brings it up to date: it logs in, with the
// password (which travels in psql's standard input, never in argv), and has
// no other attribute.
func (g *Grant) RoleSQL() string {
	return fmt.Sprintf(`\set ON_ERROR_STOP 1
\set pw '%s'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%[2]s') THEN CREATE ROLE %[2]s LOGIN; END IF;
END $$;
SELECT format('ALTER ROLE %[2]s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT PASSWORD %%L', :'pw') \gexec
`, g.Password, g.Role)
}

// DatabaseSQL grants the role what it needs in database db: CONNECT, USAGE
// and SELECT on its schemas (the tables there now, and those the superuser
// makes later), and INSERT, UPDATE, DELETE only when it may write, which
// is otherwise revoked. Schemas that do not exist are skipped, unless the
// role's catalog entry says to create them.
func (g *Grant) DatabaseSQL(db string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\\set ON_ERROR_STOP 1\nGRANT CONNECT ON DATABASE %s TO %s;\n", quoteIdent(db), g.Role)
	for _, s := range g.Schemas {
		each := func(stmt string) {
			fmt.Fprintf(&b, "SELECT %s FROM pg_namespace WHERE nspname = '%s' \\gexec\n", quoteLiteral(stmt), s)
		}
		q := quoteIdent(s)
		if g.Create {
			fmt.Fprintf(&b, "CREATE SCHEMA IF NOT EXISTS %s AUTHORIZATION %s;\n", q, quoteIdent(g.Superuser))
		}
		each(fmt.Sprintf("GRANT USAGE ON SCHEMA %s TO %s", q, g.Role))
		each(fmt.Sprintf("GRANT SELECT ON ALL TABLES IN SCHEMA %s TO %s", q, g.Role))
		each(fmt.Sprintf("ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA %s GRANT SELECT ON TABLES TO %s", quoteIdent(g.Superuser), q, g.Role))
		if g.Write {
			each(fmt.Sprintf("GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %s TO %s", q, g.Role))
			each(fmt.Sprintf("GRANT USAGE ON ALL SEQUENCES IN SCHEMA %s TO %s", q, g.Role))
			each(fmt.Sprintf("ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA %s GRANT INSERT, UPDATE, DELETE ON TABLES TO %s", quoteIdent(g.Superuser), q, g.Role))
			each(fmt.Sprintf("ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA %s GRANT USAGE ON SEQUENCES TO %s", quoteIdent(g.Superuser), q, g.Role))
		} else {
			each(fmt.Sprintf("REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA %s FROM %s", q, g.Role))
			each(fmt.Sprintf("REVOKE USAGE ON ALL SEQUENCES IN SCHEMA %s FROM %s", q, g.Role))
			each(fmt.Sprintf("ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA %s REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON TABLES FROM %s", quoteIdent(g.Superuser), q, g.Role))
			each(fmt.Sprintf("ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA %s REVOKE USAGE ON SEQUENCES FROM %s", quoteIdent(g.Superuser), q, g.Role))
		}
	}
	return b.String()
}

func quoteIdent(s string) string   { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Setup brings the roles of every enabled service up to date in every
// configured database. It does nothing while PostGIS is not running: its
// own up runs it again.
func Setup(ctx context.Context, e *engine.Engine) error {
	var grants []*Grant
	for _, name := range e.Enabled() {
		svc, err := e.Catalog.Get(name)
		if err != nil {
			continue
		}
		g, err := ForService(svc, e.Env.Map())
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if g != nil {
			grants = append(grants, g)
		}
	}
	if len(grants) == 0 {
		return nil
	}
	id, err := e.ContainerOf(ctx, postgis.Service)
	var nr *engine.NotRunningError
	if errors.As(err, &nr) {
		return nil
	}
	if err != nil {
		return err
	}
	s := postgis.Load(e)
	run := func(db, script string) error {
		return e.Exec(ctx, id, postgis.PsqlArgs(s, db, "-q"), engine.ExecOptions{User: postgis.OSUser, Stdin: strings.NewReader(script)})
	}
	for _, g := range grants {
		if err := run("postgres", g.RoleSQL()); err != nil {
			return fmt.Errorf("database role %s: %w", g.Role, err)
		}
		for _, db := range s.Databases {
			if err := run(db, g.DatabaseSQL(db)); err != nil {
				return fmt.Errorf("database role %s in %s: %w", g.Role, db, err)
			}
		}
		mode := "reads"
		if g.Write {
			mode = "reads and writes"
		}
		fmt.Fprintf(e.Err, "osgs: role %s %s schema(s) %s in %s\n", g.Role, mode, strings.Join(g.Schemas, ", "), strings.Join(s.Databases, ", "))
	}
	return nil
}
