// Package postgrest prepares PostGIS for PostgREST: the exposed schema, the
// anonymous role, and the authenticator role PostgREST logs in as, with the
// password from .env. It runs whenever PostGIS or PostgREST comes up while
// PostgREST is enabled, and is idempotent.
package postgrest

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/postgis"
)

// Service is PostgREST's catalog name.
const Service = "postgrest"

var identRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// SetupSQL is the psql script that creates or updates the roles and schema.
// The password travels in the script (psql's standard input), never in
// argv; it is quoted by format(%L).
func SetupSQL(schema, anon, password string) (string, error) {
	for _, id := range []string{schema, anon} {
		if !identRE.MatchString(id) {
			return "", fmt.Errorf("postgrest: %q is not a plain lower-case SQL name", id)
		}
	}
	if password == "" || strings.ContainsAny(password, "'\\\n") {
		return "", fmt.Errorf("postgrest: POSTGREST_AUTHENTICATOR_PASSWORD is empty or holds quotes, backslashes or newlines")
	}
	return fmt.Sprintf(`\set ON_ERROR_STOP 1
\set pw '%s'
CREATE SCHEMA IF NOT EXISTS %[2]s;
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%[3]s') THEN CREATE ROLE %[3]s NOLOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticator') THEN CREATE ROLE authenticator LOGIN NOINHERIT; END IF;
END $$;
SELECT format('ALTER ROLE authenticator LOGIN NOINHERIT PASSWORD %%L', :'pw') \gexec
GRANT %[3]s TO authenticator;
GRANT USAGE ON SCHEMA %[2]s TO %[3]s;
`, password, schema, anon), nil
}

// Setup runs SetupSQL in the first database when PostgREST is enabled.
func Setup(ctx context.Context, e *engine.Engine) error {
	if !slices.Contains(e.Enabled(), Service) {
		return nil
	}
	schema := strings.TrimSpace(strings.Split(e.Env.Value("POSTGREST_SCHEMAS")+",", ",")[0])
	if schema == "" {
		schema = "api"
	}
	anon := e.Env.Value("POSTGREST_ANON_ROLE")
	if anon == "" {
		anon = "anon"
	}
	script, err := SetupSQL(schema, anon, e.Env.Value("POSTGREST_AUTHENTICATOR_PASSWORD"))
	if err != nil {
		return err
	}
	id, err := e.ContainerOf(ctx, postgis.Service)
	if err != nil {
		return err
	}
	s := postgis.Load(e)
	if err := e.Exec(ctx, id, postgis.PsqlArgs(s, s.Databases[0], "-q"), engine.ExecOptions{User: postgis.OSUser, Stdin: strings.NewReader(script)}); err != nil {
		return fmt.Errorf("postgrest roles: %w", err)
	}
	fmt.Fprintf(e.Err, "osgs: PostgREST's roles (authenticator, %s) and schema %s are ready in %s\n", anon, schema, s.Databases[0])
	return nil
}
