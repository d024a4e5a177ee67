package postgrest_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/osgs/osgs/internal/config"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/postgrest"
	"github.com/osgs/osgs/internal/testenv"
)

// TestRolesMatchTheRenderedURI prepares PostGIS for PostgREST (which cannot
// be pulled here) and logs in with exactly the database URI osgs renders
// into PostgREST's secret, as PostgREST would.
func TestRolesMatchTheRenderedURI(t *testing.T) {
	testenv.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := testenv.NewCheckout(t, nil)
	c.Cleanup(t)
	e := c.Engine(t)
	if _, err := e.Configure(); err != nil {
		t.Fatal(err)
	}
	config.SetEnabled(e.Env, postgrest.Service, true)
	if err := e.Env.Write(config.Path(c.Dir)); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the up hooks set the roles up, idempotently
		if err := e.Up(ctx, engine.UpOptions{Services: []string{postgis.Service}}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := e.Project(ctx, postgrest.Service)
	if err != nil {
		t.Fatal(err)
	}
	uri := p.Environment["OSGS_RENDERED_SECRET_POSTGREST_DB_URI"]
	const ca = "/run/secrets/postgis_ca.crt"
	if !strings.HasPrefix(uri, "postgres://authenticator:") || !strings.Contains(uri, "@postgis:5432/gis?sslmode=verify-full&sslrootcert="+ca) {
		t.Fatalf("rendered URI has the wrong shape (%d bytes)", len(uri))
	}
	// The same URI from the host: 127.0.0.1 is one of the certificate's
	// names, and the authority is the one PostgREST gets as a secret; so
	// this login verifies the live server's certificate as PostgREST would.
	local := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(local, []byte(p.Environment[engine.DatabaseCAEnv]), 0o600); err != nil {
		t.Fatal(err)
	}
	uri = strings.Replace(strings.TrimSpace(uri), "@postgis:5432/", "@127.0.0.1:"+e.Env.Value("POSTGIS_PORT")+"/", 1)
	uri = strings.Replace(uri, ca, local, 1)
	conn, err := pgx.Connect(ctx, uri)
	if err != nil {
		t.Fatalf("authenticator cannot log in with the rendered URI: %v", err)
	}
	defer conn.Close(ctx)
	var user string
	if _, err := conn.Exec(ctx, "SET ROLE anon"); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT current_user").Scan(&user); err != nil {
		t.Fatal(err)
	}
	if user != "anon" {
		t.Fatalf("current_user %q", user)
	}
	var usage bool
	if err := conn.QueryRow(ctx, "SELECT has_schema_privilege('anon', 'api', 'USAGE')").Scan(&usage); err != nil || !usage {
		t.Fatalf("anon lacks USAGE on api: %v", err)
	}
	if _, err := postgrest.SetupSQL("api;drop", "anon", "x"); err == nil {
		t.Fatal("an SQL injection in the schema name was accepted")
	}
}
