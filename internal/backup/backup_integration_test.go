package backup_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/osgs/osgs/internal/backup"
	"github.com/osgs/osgs/internal/backup/setfmt"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/refusal"
	"github.com/osgs/osgs/internal/site"
	"github.com/osgs/osgs/internal/testenv"
)

// spatialData is real-looking data: polygons in a custom SRID added to
// spatial_ref_sys, 3D points, an index and a role with grants.
const spatialData = `
INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, proj4text, srtext) VALUES (990001, 'osgs-test', 990001,
 '+proj=tmerc +lat_0=0 +lon_0=31 +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs',
 'PROJCS["osgs test TM31",GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],PARAMETER["latitude_of_origin",0],PARAMETER["central_meridian",31],PARAMETER["scale_factor",1],PARAMETER["false_easting",0],PARAMETER["false_northing",0],UNIT["metre",1]]');
CREATE TABLE parcels (id serial PRIMARY KEY, name text, geom geometry(Polygon, 990001));
INSERT INTO parcels (name, geom) SELECT 'parcel ' || i,
  ST_Buffer(ST_SetSRID(ST_MakePoint((i % 100) * 50.0, (i / 100) * 50.0), 990001), 20 + (i % 7), 4)
  FROM generate_series(1, 5000) i;
CREATE INDEX parcels_geom ON parcels USING gist (geom);
CREATE TABLE wells (id serial PRIMARY KEY, depth real, geom geometry(PointZ, 4326));
INSERT INTO wells (depth, geom) SELECT (i % 97) * 1.5,
  ST_SetSRID(ST_MakePoint(25 + (i % 1000) / 100.0, -30 + (i / 1000) / 10.0, i % 500), 4326)
  FROM generate_series(1, 8000) i;
CREATE ROLE gis_reader NOLOGIN;
GRANT SELECT ON parcels, wells TO gis_reader;
`

type fixture struct {
	co   *testenv.Checkout
	e    *engine.Engine
	root string
	ctx  context.Context
}

func setup(t *testing.T) *fixture {
	t.Helper()
	testenv.RequireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	t.Cleanup(cancel)
	co := testenv.NewCheckout(t, nil)
	co.Cleanup(t)
	e := co.Engine(t)
	if err := e.Up(ctx, engine.UpOptions{Services: []string{postgis.Service}}); err != nil {
		t.Fatal(err)
	}
	if err := postgis.EnsureDatabases(ctx, e); err != nil {
		t.Fatal(err)
	}
	f := &fixture{co: co, e: e, root: filepath.Join(co.Dir, "backups"), ctx: ctx}
	f.psql(t, "gis", spatialData)
	return f
}

func (f *fixture) psql(t *testing.T, db, sql string) string {
	t.Helper()
	out, err := f.e.Output(f.ctx, postgis.Service, postgis.OSUser, postgis.PsqlArgs(postgis.Load(f.e), db, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql)...)
	if err != nil {
		t.Fatalf("psql: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// digest is what must survive a round trip.
func (f *fixture) digest(t *testing.T) string {
	return f.psql(t, "gis", `SELECT (SELECT count(*) FROM parcels) || ' ' || (SELECT count(*) FROM wells) || ' ' ||
	 (SELECT md5(string_agg(md5(ST_AsEWKB(geom)), '' ORDER BY id)) FROM parcels) || ' ' ||
	 (SELECT md5(string_agg(md5(ST_AsEWKB(geom)), '' ORDER BY id)) FROM wells) || ' ' ||
	 (SELECT count(*) FROM spatial_ref_sys WHERE srid = 990001) || ' ' ||
	 (SELECT ST_SRID(geom) FROM parcels LIMIT 1) || ' ' ||
	 (SELECT count(*) FROM pg_roles WHERE rolname = 'gis_reader') || ' ' ||
	 has_table_privilege('gis_reader', 'parcels', 'SELECT')`)
}

func (f *fixture) backup(t *testing.T, db string) string {
	t.Helper()
	dir, err := backup.Run(f.ctx, f.e, backup.Options{Root: f.root, Services: []string{postgis.Service}, Database: db, Config: true})
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	return dir
}

func (f *fixture) dropAll(t *testing.T) {
	f.psql(t, "gis", "DROP TABLE parcels, wells; DELETE FROM spatial_ref_sys WHERE srid = 990001; DROP ROLE gis_reader")
}

func TestBackupRestoreRoundTrip(t *testing.T) {
	f := setup(t)
	want := f.digest(t)
	if !strings.HasPrefix(want, "5000 8000 ") || !strings.HasSuffix(want, " 1 990001 1 true") {
		t.Fatalf("fixture digest %q", want)
	}
	users, _ := site.LoadHtpasswd(f.co.Dir)
	if err := users.Set("gisadmin", "a long password"); err != nil {
		t.Fatal(err)
	}
	if err := users.Store(f.co.Dir); err != nil {
		t.Fatal(err)
	}
	set := f.backup(t, "")

	m, err := backup.ReadManifest(set)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, e := range m.Files {
		kinds[e.Kind]++
		if e.Kind == backup.KindDatabase && e.Database == "gis" {
			if e.Stats == nil || e.Stats.Tables["public.parcels"] != 5000 || e.PostGIS == "" || e.PostgreSQL == "" || e.ImageDigest == "" {
				t.Fatalf("database entry lacks facts: %+v", e)
			}
		}
	}
	// config: .env, the site's htpasswd and digest key, and the database's
	// authority and certificate (config/postgis-tls: ca.crt, ca.key,
	// server.crt, server.key).
	if kinds[backup.KindGlobals] != 1 || kinds[backup.KindDatabase] != 1 || kinds[backup.KindConfig] != 7 {
		t.Fatalf("set holds %v", kinds)
	}
	info, _ := os.Stat(filepath.Join(set, "config", ".env"))
	if info == nil || info.Mode().Perm() != 0o600 {
		t.Fatal(".env copy missing or not 0600")
	}
	if saved, err := site.ParseHtpasswdFile(filepath.Join(set, "config", "config", "htpasswd")); err != nil || !saved.Check("gisadmin", "a long password") {
		t.Fatalf("htpasswd not in the set: %v", err)
	}

	f.dropAll(t)
	src, err := backup.Resolve(f.root, filepath.Base(set))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("refused without -yes", func(t *testing.T) {
		err := backup.RestorePostGIS(f.ctx, f.e, backup.RestorePostGISOptions{Source: src})
		var ce *engine.ConfirmError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), "gis") {
			t.Fatalf("err = %v", err)
		}
		if n := f.psql(t, "gis", "SELECT count(*) FROM pg_tables WHERE tablename = 'parcels'"); n != "0" {
			t.Fatal("restored without confirmation")
		}
	})
	if err := backup.RestorePostGIS(f.ctx, f.e, backup.RestorePostGISOptions{Source: src, Yes: true}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if got := f.digest(t); got != want {
		t.Fatalf("after restore:\n got %s\nwant %s", got, want)
	}

	t.Run("verify restores into a scratch server", func(t *testing.T) {
		if err := backup.Verify(f.ctx, f.e, f.root, filepath.Base(set)); err != nil {
			t.Fatal(err)
		}
		sets, _ := backup.List(f.root)
		if len(sets) != 1 || !sets[0].Verified {
			t.Fatalf("list: %+v", sets)
		}
	})

	t.Run("a -nostats set restores and verifies without comparing", func(t *testing.T) {
		other, err := backup.Run(f.ctx, f.e, backup.Options{Root: t.TempDir(), Services: []string{postgis.Service}, NoStats: true})
		if err != nil {
			t.Fatal(err)
		}
		m, _ := backup.ReadManifest(other)
		for _, e := range m.Files {
			if e.Stats != nil {
				t.Fatal("-nostats recorded stats")
			}
		}
		if err := backup.Verify(f.ctx, f.e, filepath.Dir(other), filepath.Base(other)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("the exec transport makes an equivalent set", func(t *testing.T) {
		t.Setenv(backup.TransportEnv, string(backup.TransportExec))
		other, err := backup.Run(f.ctx, f.e, backup.Options{Root: t.TempDir(), Services: []string{postgis.Service}})
		if err != nil {
			t.Fatal(err)
		}
		if err := backup.Verify(f.ctx, f.e, filepath.Dir(other), filepath.Base(other)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("stock zstd and pg_restore read the dump", func(t *testing.T) {
		for _, tool := range []string{"zstd", "pg_restore"} {
			if _, err := exec.LookPath(tool); err != nil {
				t.Fatalf("%s not installed (.ci/run installs it)", tool)
			}
		}
		f.psql(t, "postgres", "CREATE DATABASE stock")
		s := postgis.Load(f.e)
		cmd := exec.Command("sh", "-c", `zstd -d < "$DUMP" | pg_restore --exit-on-error -d "$DSN"`)
		cmd.Env = append(os.Environ(), "DUMP="+filepath.Join(set, "postgis", "gis.dump.zst"),
			fmt.Sprintf("DSN=host=%s port=%s user=%s dbname=stock sslmode=require", s.Host, s.Port, s.User),
			"PGPASSWORD="+f.e.Env.Value("POSTGRES_PASSWORD"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("stock restore: %v\n%s", err, out)
		}
		if n := f.psql(t, "stock", "SELECT count(*) FROM parcels"); n != "5000" {
			t.Fatalf("stock restore has %s parcels", n)
		}
	})

	t.Run("one flipped byte is refused before anything changes", func(t *testing.T) {
		bad := copySet(t, set)
		dump := filepath.Join(bad, "postgis", "gis.dump.zst")
		data, _ := os.ReadFile(dump)
		data[len(data)/2] ^= 0x01
		os.WriteFile(dump, data, 0o600)
		f.psql(t, "gis", "CREATE TABLE marker (x int)")
		defer f.psql(t, "gis", "DROP TABLE marker")
		src, err := backup.Resolve(f.root, bad)
		if err != nil {
			t.Fatal(err)
		}
		err = backup.RestorePostGIS(f.ctx, f.e, backup.RestorePostGISOptions{Source: src, Yes: true})
		var ce *backup.ChecksumError
		if !errors.As(err, &ce) {
			t.Fatalf("err = %v", err)
		}
		if n := f.psql(t, "gis", "SELECT count(*) FROM pg_tables WHERE tablename = 'marker'"); n != "1" {
			t.Fatal("the database was touched")
		}
	})

	t.Run("a truncated file is refused, in a set and alone", func(t *testing.T) {
		bad := copySet(t, set)
		dump := filepath.Join(bad, "postgis", "gis.dump.zst")
		data, _ := os.ReadFile(dump)
		os.WriteFile(dump, data[:len(data)-100], 0o600)
		src, _ := backup.Resolve(f.root, bad)
		err := backup.RestorePostGIS(f.ctx, f.e, backup.RestorePostGISOptions{Source: src, Yes: true})
		var ce *backup.ChecksumError
		if !errors.As(err, &ce) {
			t.Fatalf("set: err = %v", err)
		}
		src, _ = backup.Resolve(f.root, dump)
		err = backup.RestorePostGIS(f.ctx, f.e, backup.RestorePostGISOptions{Source: src, Yes: true})
		if !errors.As(err, &ce) {
			t.Fatalf("file: err = %v", err)
		}
	})

	t.Run("a foreign manifest is refused", func(t *testing.T) {
		bad := copySet(t, set)
		os.WriteFile(filepath.Join(bad, "manifest.json"), []byte(`{"format":"something-else/2","files":[]}`), 0o600)
		if _, err := backup.Resolve(f.root, bad); err == nil || !strings.Contains(err.Error(), "foreign") {
			t.Fatalf("err = %v", err)
		}
	})
}

func copySet(t *testing.T, set string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(set))
	if out, err := exec.Command("cp", "-a", set, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	return dst
}

func TestFailingDumpLeavesNoSet(t *testing.T) {
	f := setup(t)
	_, err := backup.Run(f.ctx, f.e, backup.Options{Root: f.root, Services: []string{postgis.Service}, Database: "no_such_db"})
	if err == nil || !strings.Contains(err.Error(), "no_such_db") {
		t.Fatalf("err = %v", err)
	}
	sets, _ := backup.List(f.root)
	entries, _ := os.ReadDir(f.root)
	if len(sets) != 0 || len(entries) != 1 { // only .lock
		t.Fatalf("a failed dump left %v", entries)
	}
}

func TestOSGSPlainSQLRestore(t *testing.T) {
	f := setup(t)
	want := f.digest(t)
	// What the original's backup-db-gis wrote: pg_dump --clean, plain SQL.
	sql, err := f.e.Output(f.ctx, postgis.Service, postgis.OSUser, "pg_dump", "-h", postgis.Socket, "-U", postgis.Load(f.e).User, "--clean", "gis")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "osgisstack-gis-database.sql")
	os.WriteFile(file, sql, 0o600)
	f.dropAll(t)
	f.psql(t, "postgres", "CREATE ROLE gis_reader NOLOGIN") // roles live in the all-databases dump, not this one
	src, err := backup.Resolve(f.root, file)
	if err != nil {
		t.Fatal(err)
	}
	if err := backup.RestorePostGIS(f.ctx, f.e, backup.RestorePostGISOptions{Source: src}); err == nil {
		t.Fatal("restored without -yes")
	}
	if err := backup.RestorePostGIS(f.ctx, f.e, backup.RestorePostGISOptions{Source: src, Database: "gis", Yes: true}); err != nil {
		t.Fatal(err)
	}
	if got := f.digest(t); got != want {
		t.Fatalf("after OSGS restore:\n got %s\nwant %s", got, want)
	}
	// A broken but complete script stops at the first error, and leaves
	// nothing: neither the target nor the database it was loaded into.
	os.WriteFile(file, []byte("CREATE TABLE a (x int);\nSELECT no_such_function();\nCREATE TABLE b (x int);\n--\n-- PostgreSQL database dump complete\n--\n"), 0o600)
	src, _ = backup.Resolve(f.root, file)
	if err := backup.RestorePostGIS(f.ctx, f.e, backup.RestorePostGISOptions{Source: src, Database: "scratch", Yes: true}); err == nil {
		t.Fatal("a failing script was accepted")
	}
	if n := f.psql(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname = 'scratch' OR datname LIKE '%_osgs_new_%'"); n != "0" {
		t.Fatalf("a failed restore left %s database(s) behind", n)
	}
}

// TestHostileScriptsAreRefused: a plain-SQL file or a set whose globals or
// dump would run a program as postgres in the container (psql
// meta-commands in every form, COPY with PROGRAM or a server file, ALTER
// SYSTEM, a C function in a dump's table of contents) is refused in one
// line before anything changes, and nothing ran. A set whose globals were
// replaced and its manifest updated is refused by restore and by verify.
func TestHostileScriptsAreRefused(t *testing.T) {
	f := setup(t)
	want := f.digest(t)
	pwned := func(t *testing.T) {
		t.Helper()
		if out, _ := f.e.Output(f.ctx, postgis.Service, "root", "sh", "-c", "ls /tmp/osgs-pwned* 2>/dev/null; true"); strings.TrimSpace(string(out)) != "" {
			t.Fatalf("a command ran: %s", out)
		}
		if got := f.digest(t); got != want {
			t.Fatalf("the database changed:\n got %s\nwant %s", got, want)
		}
	}
	const marker = "\n--\n-- PostgreSQL database dump complete\n--\n"
	for name, script := range map[string]string{
		"shell":                       `\! touch /tmp/osgs-pwned`,
		"shell after a statement":     "CREATE TABLE pwn (x int);\n\\! touch /tmp/osgs-pwned",
		"shell in a line's middle":    "SELECT 1; \\! touch /tmp/osgs-pwned-2",
		"output to a pipe":            "\\o | touch /tmp/osgs-pwned\nSELECT 1;",
		"a query to a pipe":           "SELECT 1 \\g | touch /tmp/osgs-pwned",
		"psql's copy from a program":  `\copy (select 1) to program 'touch /tmp/osgs-pwned'`,
		"an included file":            `\i /etc/passwd`,
		"COPY TO PROGRAM":             "COPY (SELECT 1) TO PROGRAM 'touch /tmp/osgs-pwned';",
		"copy from program":           "create table pwn (x text);\ncopy pwn from program 'touch /tmp/osgs-pwned';",
		"COPY to a server file":       "COPY (SELECT 'x') TO '/tmp/osgs-pwned';",
		"ALTER SYSTEM":                "ALTER SYSTEM SET archive_command = 'touch /tmp/osgs-pwned';",
		"a C function":                "CREATE FUNCTION pwn() RETURNS int LANGUAGE c AS '/tmp/x.so', 'pwn';",
		"a command after COPY data":   "CREATE TABLE pwn (x text);\nCOPY pwn (x) FROM stdin;\na\n\\.\n\\! touch /tmp/osgs-pwned",
		"a command hidden by a quote": "CREATE TABLE pwn (x text);\nCOPY pwn (x) FROM stdin; SELECT\n'\n\\.\n\\! touch /tmp/osgs-pwned\n;",
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "osgisstack-gis-database.sql")
			os.WriteFile(file, []byte(script+marker), 0o600)
			src, err := backup.Resolve(f.root, file)
			if err != nil {
				t.Fatal(err)
			}
			err = backup.RestorePostGIS(f.ctx, f.e, backup.RestorePostGISOptions{Source: src, Database: "gis", Yes: true})
			if !errors.Is(err, refusal.Err) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want a one-line refusal", err)
			}
			pwned(t)
		})
	}

	t.Run("a set with forged globals", func(t *testing.T) {
		set := f.backup(t, "")
		globals := filepath.Join(set, "postgis", "globals.sql.zst")
		orig, err := exec.Command("zstd", "-dc", globals).Output()
		if err != nil {
			t.Fatal(err)
		}
		forged := append([]byte("\\! touch /tmp/osgs-pwned\n"), orig...)
		zst := exec.Command("zstd", "-q", "-c")
		zst.Stdin = strings.NewReader(string(forged))
		out, err := zst.Output()
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(globals, out, 0o644)
		rewriteManifest(t, set, "postgis/globals.sql.zst")
		src, err := backup.Resolve(f.root, filepath.Base(set))
		if err != nil {
			t.Fatal(err)
		}
		// The manifest no longer matches the site's signature.
		if err := backup.RestoreSet(f.ctx, f.e, src, true); !errors.Is(err, refusal.Err) || !strings.Contains(err.Error(), "signature does not match") {
			t.Fatalf("restore of a forged set: %v", err)
		}
		if err := backup.Verify(f.ctx, f.e, f.root, filepath.Base(set)); err == nil {
			t.Fatal("verify passed a forged set")
		}
		os.Remove(filepath.Join(set, backup.SignatureName))
		if err := backup.RestorePostGIS(f.ctx, f.e, backup.RestorePostGISOptions{Source: src, Yes: true}); !errors.Is(err, refusal.Err) || !strings.Contains(err.Error(), "not signed") {
			t.Fatalf("restore of an unsigned set: %v", err)
		}
		// Signed by the site after all (backup:sign, an insider): the
		// script guard still refuses the command.
		if err := backup.SignSet(f.e, set); err != nil {
			t.Fatal(err)
		}
		if err := backup.RestoreSet(f.ctx, f.e, src, true); !errors.Is(err, refusal.Err) || !strings.Contains(err.Error(), "meta-command") {
			t.Fatalf("restore of a signed set with a command: %v", err)
		}
		if err := backup.Verify(f.ctx, f.e, f.root, filepath.Base(set)); err == nil {
			t.Fatal("verify passed a set with a command")
		}
		pwned(t)
		os.RemoveAll(set)
	})

	t.Run("a dump that would load a C library", func(t *testing.T) {
		f.psql(t, "gis", "CREATE FUNCTION public.pwn() RETURNS text LANGUAGE c AS '$libdir/postgis-3', 'postgis_lib_version'")
		set := f.backup(t, "gis")
		f.psql(t, "gis", "DROP FUNCTION public.pwn()")
		src, err := backup.Resolve(f.root, filepath.Base(set))
		if err != nil {
			t.Fatal(err)
		}
		err = backup.RestorePostGIS(f.ctx, f.e, backup.RestorePostGISOptions{Source: src, Yes: true})
		if !errors.Is(err, refusal.Err) || !strings.Contains(err.Error(), "language c") {
			t.Fatalf("got %v", err)
		}
		pwned(t)
	})
}

// rewriteManifest updates the size and sha256 of rel in a set's manifest,
// as someone who can write to the backups would.
func rewriteManifest(t *testing.T, set, rel string) {
	t.Helper()
	path := filepath.Join(set, "manifest.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	sum, size, err := setfmt.FileSHA256(filepath.Join(set, rel))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range m["files"].([]any) {
		e := e.(map[string]any)
		if e["path"] == rel {
			e["sha256"], e["size"] = sum, size
		}
	}
	b, _ = json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCutShortPlainDumpChangesNothing is the case a user hit: a table of
// 200,001 rows dumped with pg_dump --clean, the file cut in half, then
// postgis:restore FILE -yes printed "restored" and left 101,363 rows.
func TestCutShortPlainDumpChangesNothing(t *testing.T) {
	f := setup(t)
	f.psql(t, "gis", "CREATE TABLE big AS SELECT i, md5(i::text) AS label, ST_SetSRID(ST_MakePoint(i % 360 - 180, i % 170 - 85), 4326) AS geom FROM generate_series(1, 200001) i")
	want := f.digest(t)
	sql, err := f.e.Output(f.ctx, postgis.Service, postgis.OSUser, "pg_dump", "-h", postgis.Socket, "-U", postgis.Load(f.e).User, "--clean", "gis")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "osgisstack-gis-database.sql")
	os.WriteFile(file, sql[:len(sql)/2], 0o600)
	src, err := backup.Resolve(f.root, file)
	if err != nil {
		t.Fatal(err)
	}
	err = backup.RestorePostGIS(f.ctx, f.e, backup.RestorePostGISOptions{Source: src, Database: "gis", Yes: true})
	var inc *backup.IncompleteDumpError
	if !errors.As(err, &inc) {
		t.Fatalf("a cut-short dump: %v, want it refused as incomplete", err)
	}
	if n := f.psql(t, "gis", "SELECT count(*) FROM big"); n != "200001" || f.digest(t) != want {
		t.Fatalf("the database changed: %s rows", n)
	}
	// The whole file restores, swapped in while a client is connected; the
	// database keeps its owner, privileges and settings, which the dump
	// does not hold.
	os.WriteFile(file, sql, 0o600)
	f.psql(t, "gis", "DELETE FROM big WHERE i > 100")
	f.psql(t, "postgres", `ALTER DATABASE gis SET work_mem = '7MB'; ALTER DATABASE gis SET search_path = "$user", public, "odd schema"; `+
		`ALTER ROLE gis_reader IN DATABASE gis SET statement_timeout = '5s'; REVOKE TEMP ON DATABASE gis FROM PUBLIC; GRANT CREATE ON DATABASE gis TO gis_reader`)
	props := `SELECT (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(datacl) x) || ' ' || pg_get_userbyid(datdba) || ' ' || (SELECT string_agg(pg_get_userbyid(setrole) || ':' || array_to_string(setconfig, '|'), ' ' ORDER BY setrole)
	  FROM pg_db_role_setting WHERE setdatabase = d.oid) FROM pg_database d WHERE datname = 'gis'`
	before := f.psql(t, "postgres", props)
	if err := backup.RestorePostGIS(f.ctx, f.e, backup.RestorePostGISOptions{Source: src, Database: "gis", Yes: true}); err != nil {
		t.Fatal(err)
	}
	if after := f.psql(t, "postgres", props); after != before {
		t.Fatalf("the restored database lost its properties:\n got %s\nwant %s", after, before)
	}
	if n := f.psql(t, "gis", "SELECT count(*) FROM big"); n != "200001" || f.digest(t) != want {
		t.Fatalf("after the full restore: %s rows", n)
	}
	if n := f.psql(t, "postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE '%_osgs_%'"); n != "0" {
		t.Fatalf("%s temporary databases left", n)
	}
}

func TestOSGSAllDatabasesRestore(t *testing.T) {
	f := setup(t)
	want := f.digest(t)
	// What the original's backup-all-databases wrote: pg_dumpall --clean.
	sql, err := f.e.Output(f.ctx, postgis.Service, postgis.OSUser, "pg_dumpall", "-h", postgis.Socket, "-U", postgis.Load(f.e).User, "--clean")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "osgisstack-all-databases.sql")
	os.WriteFile(file, sql, 0o600)
	f.dropAll(t)
	src, err := backup.Resolve(f.root, file)
	if err != nil {
		t.Fatal(err)
	}
	if err := backup.RestorePostGIS(f.ctx, f.e, backup.RestorePostGISOptions{Source: src, Yes: true}); err != nil {
		t.Fatal(err)
	}
	if got := f.digest(t); got != want {
		t.Fatalf("after the all-databases restore:\n got %s\nwant %s", got, want)
	}
	// The superuser still logs in over TLS with the password in .env.
	s := postgis.Load(f.e)
	cmd := exec.Command("psql", fmt.Sprintf("host=%s port=%s user=%s dbname=gis sslmode=require", s.Host, s.Port, s.User), "-XAtc", "SELECT 1")
	cmd.Env = append(os.Environ(), "PGPASSWORD="+f.e.Env.Value("POSTGRES_PASSWORD"))
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "1" {
		t.Fatalf("superuser login after restore: %v %s", err, out)
	}
}

// TestVerifyFailsWhenTheRestoreDiffers proves that verify can fail: the
// set's recorded facts are changed so that the real restore no longer
// matches them (a changed geometry, a missing row, a missing extension, a
// missing custom SRID), and verify must refuse, naming each difference.
func TestVerifyFailsWhenTheRestoreDiffers(t *testing.T) {
	f := setup(t)
	set := f.backup(t, "gis")
	name := filepath.Base(set)
	if err := backup.Verify(f.ctx, f.e, f.root, name); err != nil {
		t.Fatalf("the untouched set: %v", err)
	}
	manifest := filepath.Join(set, backup.ManifestName)
	original, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	defer os.WriteFile(manifest, original, 0o600)
	for _, tc := range []struct {
		name   string
		change func(st *backup.DBStats)
		want   string
	}{
		{"a changed geometry", func(st *backup.DBStats) { st.GeometryDigest["public.parcels.geom"] = "1:5000" },
			"geometries of public.parcels.geom differ"},
		{"a missing row", func(st *backup.DBStats) { st.Tables["public.wells"]++ },
			"table public.wells has 8000 rows, backup had 8001"},
		{"a missing extension", func(st *backup.DBStats) { st.Extensions["postgis_sfcgal"] = "3.3.2" },
			"extension postgis_sfcgal missing"},
		{"a missing custom SRID", func(st *backup.DBStats) { st.CustomSRIDs = append(st.CustomSRIDs, 990002) },
			"custom SRID 990002 missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m backup.Manifest
			if err := json.Unmarshal(original, &m); err != nil {
				t.Fatal(err)
			}
			found := false
			for i := range m.Files {
				if st := m.Files[i].Stats; st != nil && m.Files[i].Database == "gis" {
					if !slices.Contains(st.CustomSRIDs, 990001) {
						t.Fatalf("the backup did not record the custom SRID: %v", st.CustomSRIDs)
					}
					tc.change(st)
					found = true
				}
			}
			if !found {
				t.Fatal("no stats for gis in the manifest")
			}
			data, _ := json.Marshal(&m)
			os.WriteFile(manifest, data, 0o600)
			// As if the site had recorded these facts: signed by it.
			if err := backup.SignSet(f.e, filepath.Join(f.root, name)); err != nil {
				t.Fatal(err)
			}
			err := backup.Verify(f.ctx, f.e, f.root, name)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("verify: %v, want it to report %q", err, tc.want)
			}
		})
	}
}
