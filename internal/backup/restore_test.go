package backup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/osgs/osgs/internal/engine"
)

func TestOSGSSQLFilter(t *testing.T) {
	in := `DROP TABLE public.wells;
DROP SEQUENCE IF EXISTS public.wells_id_seq;
ALTER TABLE ONLY public.parcels DROP CONSTRAINT parcels_pkey;
ALTER TABLE public.wells ALTER COLUMN id DROP DEFAULT;
DROP EXTENSION postgis;
DROP DATABASE gis;
DROP TRIGGER t ON public.x;
CREATE TABLE public.wells (id integer);
ALTER TABLE ONLY public.parcels ADD CONSTRAINT parcels_pkey PRIMARY KEY (id);
`
	want := `DROP TABLE IF EXISTS public.wells;
DROP SEQUENCE IF EXISTS public.wells_id_seq;
ALTER TABLE IF EXISTS ONLY public.parcels DROP CONSTRAINT IF EXISTS parcels_pkey;
ALTER TABLE IF EXISTS public.wells ALTER COLUMN id DROP DEFAULT;
DROP EXTENSION IF EXISTS postgis;
DROP DATABASE IF EXISTS gis;
DROP TRIGGER IF EXISTS t ON public.x;
CREATE TABLE public.wells (id integer);
ALTER TABLE ONLY public.parcels ADD CONSTRAINT parcels_pkey PRIMARY KEY (id);
`
	var out strings.Builder
	if err := osgsSQLFilter(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != want {
		t.Fatalf("got\n%s", out.String())
	}
}

func TestFilterGlobals(t *testing.T) {
	in := `DROP ROLE IF EXISTS osgs;
DROP ROLE osgs;
CREATE ROLE osgs;
ALTER ROLE osgs WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS PASSWORD 'SCRAM-SHA-256$x';
CREATE ROLE gis_reader;
ALTER ROLE gis_reader WITH NOSUPERUSER NOLOGIN;
`
	var out strings.Builder
	if err := filterGlobals(strings.NewReader(in), &out, "osgs"); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if strings.Contains(got, "ROLE osgs") {
		t.Fatalf("the superuser's own lines were kept:\n%s", got)
	}
	if !strings.Contains(got, "DO $osgs$BEGIN CREATE ROLE gis_reader; EXCEPTION WHEN duplicate_object THEN NULL; END$osgs$;") ||
		!strings.Contains(got, "ALTER ROLE gis_reader WITH NOSUPERUSER NOLOGIN;") {
		t.Fatalf("got:\n%s", got)
	}
}

// TestRestoreHoldsTheBackupsLock: a restore takes the backups lock, so a
// backup (which holds it) cannot capture a half-restored state, and a
// restore waits for no backup: it is refused while one runs.
func TestRestoreHoldsTheBackupsLock(t *testing.T) {
	e := &engine.Engine{Dir: t.TempDir()}
	t.Setenv(DirEnv, "")
	lock, err := LockDir(Root(e))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	var locked *LockedError
	src := &Source{File: filepath.Join(e.Dir, "osgisstack-gis-database.sql")}
	if err := RestorePostGIS(context.Background(), e, RestorePostGISOptions{Source: src, Yes: true}); !errors.As(err, &locked) {
		t.Fatalf("a restore while a backup runs: %v", err)
	}
	set := filepath.Join(e.Dir, "set")
	os.MkdirAll(set, 0o700)
	os.WriteFile(filepath.Join(set, ManifestName), []byte(`{"format": "`+Format+`", "files": []}`+"\n"), 0o600)
	if err := SignSet(e, set); err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(set)
	if err != nil {
		t.Fatal(err)
	}
	if err := RestoreSet(context.Background(), e, &Source{SetDir: set, Manifest: m}, true); !errors.As(err, &locked) {
		t.Fatalf("a set restore while a backup runs: %v", err)
	}
}
