package backup

import (
	"io"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/pgdump"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/testenv"
)

// awkwardData is what the archive scan must read right: quoted names,
// escaped text before the geometry, NULLs, mixed and curved geometries, a
// row larger than the scan's buffer, a generated geometry column (not in
// COPY), partitions, an unlogged table, a view, a large object, and an
// extension configuration table holding a custom SRID.
const awkwardData = `
INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, proj4text) VALUES (990002, 'osgs-test', 990002, '+proj=longlat +datum=WGS84 +no_defs');
CREATE TABLE "Odd Table" (id int, note text, "The Geom" geometry(MultiPolygon, 990002),
  centre geometry GENERATED ALWAYS AS (ST_Centroid("The Geom")) STORED);
INSERT INTO "Odd Table" (id, note, "The Geom") SELECT i, E'tab\there\nnewline \\ back\\slash "quoted" ' || i,
  CASE WHEN i % 10 = 0 THEN NULL ELSE ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(i, i / 2.0), 990002), 0.3 + i % 3, 2)) END
  FROM generate_series(1, 2000) i;
CREATE TABLE shapes (id int, geom geometry);
INSERT INTO shapes VALUES
  (1, 'SRID=4326;LINESTRING M (0 0 1, 1 1 2, 2 0 3)'),
  (2, 'GEOMETRYCOLLECTION(POINT(1 2), LINESTRING(0 0, 1 1))'),
  (3, 'POINT EMPTY'),
  (4, 'SRID=3857;POLYGON Z ((0 0 1, 10 0 2, 10 10 3, 0 0 1))'),
  (5, 'CIRCULARSTRING(0 0, 1 1, 2 0)'),
  (6, NULL),
  (7, 'SRID=990002;MULTIPOINT ZM ((1 2 3 4), (5 6 7 8))');
CREATE TABLE big (id int, geom geometry(Polygon, 3857));
INSERT INTO big SELECT 1, ST_Buffer(ST_SetSRID(ST_MakePoint(0, 0), 3857), 1000, 25000);
CREATE TABLE parted (id int, geom geometry(Point, 4326)) PARTITION BY RANGE (id);
CREATE TABLE parted_low PARTITION OF parted FOR VALUES FROM (0) TO (500);
CREATE TABLE parted_high PARTITION OF parted FOR VALUES FROM (500) TO (1000);
INSERT INTO parted SELECT i, ST_SetSRID(ST_MakePoint(i / 10.0, -i / 20.0), 4326) FROM generate_series(0, 999) i;
CREATE UNLOGGED TABLE scratchpad (geom geometry(Point, 4326));
INSERT INTO scratchpad SELECT ST_SetSRID(ST_MakePoint(i, i), 4326) FROM generate_series(1, 50) i;
CREATE TABLE "we""ird" ("ge""om" geometry);
INSERT INTO "we""ird" VALUES ('POINT(7 7)'), ('POINT(8 8)');
CREATE VIEW centres AS SELECT id, ST_Centroid(geom) AS c FROM shapes;
SELECT lo_from_bytea(0, 'a large object between the tables');
`

func TestStatsFromTheDumpMatchSQL(t *testing.T) {
	ctx, _, e := testenv.Start(t, 15*time.Minute, nil, postgis.Service)
	if err := postgis.EnsureDatabases(ctx, e); err != nil {
		t.Fatal(err)
	}
	id, err := e.ContainerOf(ctx, postgis.Service)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Exec(ctx, id, postgis.PsqlArgs(postgis.Load(e), "gis", "-v", "ON_ERROR_STOP=1", "-qAt", "-c", awkwardData), engine.ExecOptions{User: postgis.OSUser}); err != nil {
		t.Fatal(err)
	}

	// In one snapshot: the scan of a real dump, the same plan read wholly in
	// SQL (the fallback), and statsSQL, which verify runs.
	sess, snap, err := snapshotSession(ctx, e, id, "gis")
	if err != nil {
		t.Fatal(err)
	}
	defer sess.close()
	plan, err := readPlan(sess)
	if err != nil {
		t.Fatal(err)
	}
	d, err := newDumper(ctx, e, id)
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := d.streamZstd(ctx, []string{"pg_dump", "-h", postgis.Socket, "-U", postgis.Load(e).User, "-Fc", "-Z0", "--snapshot=" + snap, "-d", "gis"})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := zstd.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	scan, err := pgdump.ScanArchive(dec, plan.scanGeometry())
	io.Copy(io.Discard, dec)
	dec.Close()
	r.Close()
	if err != nil {
		t.Fatalf("scan of a real pg_dump archive: %v", err)
	}
	fromDump, err := plan.stats(sess, scan)
	if err != nil {
		t.Fatal(err)
	}
	inSQL, err := plan.stats(sess, nil)
	if err != nil {
		t.Fatal(err)
	}
	full, err := readStats(sess)
	if err != nil {
		t.Fatal(err)
	}

	// The scan, not SQL, read the tables pg_dump copies whole; SQL read the
	// extension's configuration tables and the generated column.
	for _, k := range []string{"public.Odd Table", "public.shapes", "public.big", "public.parted_low", "public.parted_high", "public.scratchpad", `public.we"ird`} {
		if _, ok := scan.Rows[k]; !ok {
			t.Errorf("the scan did not count %s: %v", k, scan.Rows)
		}
	}
	for _, k := range []string{"public.Odd Table.The Geom", "public.shapes.geom", "public.big.geom", "public.parted_low.geom", `public.we"ird.ge"om`} {
		if _, ok := scan.Geom[k]; !ok {
			t.Errorf("the scan did not digest %s", k)
		}
	}
	if _, ok := scan.Geom["public.Odd Table.centre"]; ok {
		t.Error("the scan digested a generated column, which COPY leaves out")
	}
	if fromDump.Tables["public.spatial_ref_sys"] < 8000 || fromDump.GeometryDigest["public.Odd Table.centre"] == "" {
		t.Errorf("SQL did not fill in the rest: %d spatial_ref_sys rows, centre %q",
			fromDump.Tables["public.spatial_ref_sys"], fromDump.GeometryDigest["public.Odd Table.centre"])
	}

	// All three agree, on everything the backup records.
	if !maps.Equal(fromDump.Tables, inSQL.Tables) || !maps.Equal(fromDump.GeometryDigest, inSQL.GeometryDigest) {
		t.Fatalf("from the dump:\n%v\n%v\nin SQL:\n%v\n%v", fromDump.Tables, fromDump.GeometryDigest, inSQL.Tables, inSQL.GeometryDigest)
	}
	if d := fromDump.Diff(full); len(d) > 0 {
		t.Fatalf("the dump's stats differ from statsSQL: %v", d)
	}
	if !maps.Equal(fromDump.Extensions, full.Extensions) || !slices.Equal(fromDump.GeometryColumn, full.GeometryColumn) {
		t.Fatal("extensions or geometry_columns differ")
	}
	if fromDump.Tables["public.Odd Table"] != 2000 || fromDump.Tables["public.parted_low"] != 500 {
		t.Fatalf("rows %v", fromDump.Tables)
	}
	if _, ok := fromDump.Tables["public.parted"]; ok {
		t.Error("a partitioned table is counted besides its partitions")
	}
	if _, ok := fromDump.GeometryDigest["public.centres.c"]; ok {
		t.Error("a view's geometry is digested")
	}
	sess.exec("COMMIT")

	t.Run("a backup beside another session's temporary table verifies", func(t *testing.T) {
		other := openSession(ctx, e, id, "gis")
		defer other.close()
		if _, err := other.line("CREATE TEMP TABLE mine (g geometry); SELECT 1"); err != nil {
			t.Fatal(err)
		}
		root := t.TempDir()
		set, err := Run(ctx, e, Options{Root: root, Services: []string{postgis.Service}, Database: "gis"})
		if err != nil {
			t.Fatal(err)
		}
		if err := Verify(ctx, e, root, filepath.Base(set)); err != nil {
			t.Fatal(err)
		}
	})
}
