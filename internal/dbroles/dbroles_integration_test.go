package dbroles_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/osgs/osgs/internal/config"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/testenv"
)

// TestLeastPrivilege brings PostGIS up with QGIS Server and PostgREST
// enabled (their roles need PostGIS only), then logs in as each role over
// TLS: QGIS Server's reads public and nothing else, writes nowhere unless
// QGIS_SERVER_DB_WRITE says so; PostgREST's roles cannot read public; no
// role but the superuser reads another's schema.
func TestLeastPrivilege(t *testing.T) {
	testenv.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	co := testenv.NewCheckout(t, nil)
	co.Cleanup(t)
	e := co.Engine(t)
	if _, err := e.Configure(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{postgis.Service, "qgis-server", "postgrest"} {
		config.SetEnabled(e.Env, s, true)
	}
	if err := e.Env.Write(config.Path(co.Dir)); err != nil {
		t.Fatal(err)
	}
	if err := e.Up(ctx, engine.UpOptions{Services: []string{postgis.Service}}); err != nil {
		t.Fatal(err)
	}
	s := postgis.Load(e)
	login := func(user, password string) *pgx.Conn {
		t.Helper()
		c, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%s dbname=gis user=%s password=%s sslmode=require", s.Host, s.Port, user, password))
		if err != nil {
			t.Fatalf("login as %s: %v", user, err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	super := login(s.User, e.Env.Value("POSTGRES_PASSWORD"))
	for _, q := range []string{
		"CREATE TABLE public.parcels (id serial PRIMARY KEY, geom geometry(Point, 4326))",
		"INSERT INTO public.parcels (geom) SELECT ST_SetSRID(ST_MakePoint(i, i), 4326) FROM generate_series(1, 10) i",
		"CREATE TABLE api.private (secret text)",
		"INSERT INTO api.private VALUES ('s3cret')",
	} {
		if _, err := super.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	denied := func(c *pgx.Conn, who, q string) {
		t.Helper()
		_, err := c.Exec(ctx, q)
		if err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("%s: %s: %v, want permission denied", who, q, err)
		}
	}
	qgis := login("qgis_server", e.Env.Value("QGIS_SERVER_DB_PASSWORD"))
	var n int
	if err := qgis.QueryRow(ctx, "SELECT count(*) FROM public.parcels").Scan(&n); err != nil || n != 10 {
		t.Fatalf("qgis_server reads public.parcels: %d %v", n, err)
	}
	var super1 bool
	qgis.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super1)
	if super1 {
		t.Fatal("qgis_server is a superuser")
	}
	denied(qgis, "qgis_server", "INSERT INTO public.parcels (geom) VALUES (NULL)")
	denied(qgis, "qgis_server", "DELETE FROM public.parcels")
	denied(qgis, "qgis_server", "CREATE TABLE public.mine (x int)")
	denied(qgis, "qgis_server", "SELECT * FROM api.private")
	auth := login("authenticator", e.Env.Value("POSTGREST_AUTHENTICATOR_PASSWORD"))
	denied(auth, "authenticator", "SELECT * FROM public.parcels")
	denied(auth, "authenticator", "SELECT * FROM api.private")
	denied(auth, "authenticator", "INSERT INTO public.parcels (geom) VALUES (NULL)")

	// WFS-T: the setting lets qgis_server write; the next up applies it.
	e.Env.Set("QGIS_SERVER_DB_WRITE", "true")
	if err := e.Env.Write(config.Path(co.Dir)); err != nil {
		t.Fatal(err)
	}
	if err := e.Up(ctx, engine.UpOptions{Services: []string{postgis.Service}}); err != nil {
		t.Fatal(err)
	}
	if _, err := qgis.Exec(ctx, "INSERT INTO public.parcels (geom) VALUES (NULL)"); err != nil {
		t.Fatalf("qgis_server with QGIS_SERVER_DB_WRITE=true: %v", err)
	}
	denied(qgis, "qgis_server", "SELECT * FROM api.private")
	// And back: writes are revoked again.
	e.Env.Set("QGIS_SERVER_DB_WRITE", "false")
	e.Env.Write(config.Path(co.Dir))
	if err := e.Up(ctx, engine.UpOptions{Services: []string{postgis.Service}}); err != nil {
		t.Fatal(err)
	}
	denied(qgis, "qgis_server", "INSERT INTO public.parcels (geom) VALUES (NULL)")
}
