package gisdata_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/gisdata"
	"github.com/osgs/osgs/internal/tools"
)

// bigSeq writes n points as GeoJSONSeq on this host: enough for a load that
// takes seconds, to be killed or replaced while it runs.
func bigSeq(t *testing.T, dir string, n int) string {
	t.Helper()
	p := filepath.Join(dir, "big.geojsonl")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := 0; i < n; i++ {
		fmt.Fprintf(w, `{"type":"Feature","properties":{"i":%d,"label":"point %d"},"geometry":{"type":"Point","coordinates":[%.6f,%.6f]}}`+"\n",
			i, i, -180+math.Mod(float64(i)*0.0137, 360), -80+math.Mod(float64(i)*0.0071, 160))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

// waitForCopy waits until a helper's COPY into the database runs.
func waitForCopy(ctx context.Context, h *tools.Helper) error {
	for ctx.Err() == nil {
		rows, err := h.Query(ctx, db, "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'COPY %_osgs_load_%' AND state = 'active'")
		if err == nil && len(rows) > 0 && rows[0][0] != "0" {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return ctx.Err()
}

func helpersLeft(t *testing.T, ctx context.Context, h *tools.Helper) int {
	t.Helper()
	// This test's project only: a user's own load may run beside the tests.
	f := client.Filters{}
	f.Add("label", tools.HelperLabel+"="+tools.Image)
	f.Add("label", tools.ProjectLabel+"="+h.Engine().ProjectName())
	list, err := h.Engine().Docker().ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	return len(list.Items) - 1 // the test's own helper
}

// TestLoadAllOrNothing: a killed load leaves no table; a failed or killed
// replace keeps the old table and its rows; readers see the old table until
// the swap; append adds in one transaction.
func TestLoadAllOrNothing(t *testing.T) {
	ctx, e, h := startPostGIS(t)
	dir := t.TempDir()
	big := bigSeq(t, dir, 600000)

	t.Run("killed mid-stream", func(t *testing.T) {
		before := tables(t, ctx, h)
		lctx, cancel := context.WithCancel(ctx)
		go func() {
			waitForCopy(lctx, h)
			time.Sleep(500 * time.Millisecond)
			cancel()
		}()
		_, err := load(lctx, e, gisdata.LoadOptions{Path: big, Table: "killed"})
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("load: %v, want canceled", err)
		}
		if after := tables(t, ctx, h); after != before {
			t.Fatalf("tables before %q, after %q", before, after)
		}
		if n := helpersLeft(t, ctx, h); n != 0 {
			t.Errorf("%d helpers left", n)
		}
	})

	// The table to replace: 3 rows.
	if err := h.Exec(ctx, db, "CREATE TABLE keep (id int PRIMARY KEY, geom geometry(Point, 4326)); INSERT INTO keep SELECT i, ST_Point(i, i, 4326) FROM generate_series(1, 3) i"); err != nil {
		t.Fatal(err)
	}
	keep := func(t *testing.T) {
		t.Helper()
		if n := one(t, ctx, h, "SELECT count(*) FROM keep"); n != "3" {
			t.Fatalf("keep has %s rows, want the old 3", n)
		}
		if s := one(t, ctx, h, "SELECT count(*) FROM pg_tables WHERE tablename LIKE '\\_osgs\\_load\\_%'"); s != "0" {
			t.Fatalf("%s hidden load tables left", s)
		}
	}

	t.Run("killed replace keeps the old table", func(t *testing.T) {
		lctx, cancel := context.WithCancel(ctx)
		go func() {
			waitForCopy(lctx, h)
			time.Sleep(500 * time.Millisecond)
			cancel()
		}()
		_, err := load(lctx, e, gisdata.LoadOptions{Path: big, Table: "keep", Mode: gisdata.ModeReplace, Yes: true})
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("load: %v, want canceled", err)
		}
		keep(t)
	})

	t.Run("failed replace keeps the old table", func(t *testing.T) {
		// A view on the old table makes the swap fail after the new table
		// loaded completely.
		if err := h.Exec(ctx, db, "CREATE VIEW keep_view AS SELECT * FROM keep"); err != nil {
			t.Fatal(err)
		}
		cities := filepath.Join(fixtures(t), "naturalearth", "naturalearth_cities")
		_, err := load(ctx, e, gisdata.LoadOptions{Path: cities, Table: "keep", Mode: gisdata.ModeReplace, Yes: true})
		if err == nil || !strings.Contains(err.Error(), "nothing changed") || !strings.Contains(err.Error(), "keep_view") {
			t.Fatalf("load: %v, want the swap refused because of keep_view", err)
		}
		keep(t)
		if err := h.Exec(ctx, db, "DROP VIEW keep_view"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("readers see the old table until the swap", func(t *testing.T) {
		var (
			mu   sync.Mutex
			seen = map[string]int{}
		)
		done := make(chan struct{})
		go func() {
			defer close(done)
			r, err := tools.Start(ctx, e)
			if err != nil {
				return
			}
			defer r.Close()
			for {
				rows, err := r.Query(ctx, db, "SELECT count(*) FROM keep")
				mu.Lock()
				if err != nil {
					seen["error: "+err.Error()]++
				} else {
					seen[rows[0][0]]++
				}
				n := len(rows) > 0 && rows[0][0] == "600000"
				mu.Unlock()
				if n || ctx.Err() != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
		res, err := load(ctx, e, gisdata.LoadOptions{Path: big, Table: "keep", Mode: gisdata.ModeReplace, Yes: true})
		if err != nil {
			t.Fatal(err)
		}
		<-done
		if res.Tables[0].Features != 600000 {
			t.Errorf("replaced with %d features", res.Tables[0].Features)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 2 || seen["3"] == 0 || seen["600000"] == 0 {
			t.Errorf("a reader saw %v; want only the old 3 rows, then the new 600000", seen)
		}
	})

	t.Run("append adds in one transaction", func(t *testing.T) {
		cities := filepath.Join(fixtures(t), "naturalearth", "naturalearth_cities")
		if _, err := load(ctx, e, gisdata.LoadOptions{Path: cities, Table: "cities"}); err != nil {
			t.Fatal(err)
		}
		res, err := load(ctx, e, gisdata.LoadOptions{Path: cities, Table: "cities", Mode: gisdata.ModeAppend})
		if err != nil {
			t.Fatal(err)
		}
		if res.Tables[0].Features != 486 {
			t.Errorf("after append: %d features, want 486", res.Tables[0].Features)
		}
	})
}

// TestLoadCRSAndRaster: a projected source keeps its SRID; a CRS-less
// projected shapefile gets -srid; a custom SRID is kept, and reprojected
// to; mixed types are promoted; a GeoTIFF and a COG load with their pixels.
func TestLoadCRSAndRaster(t *testing.T) {
	data := fixtures(t)
	ctx, e, h := startPostGIS(t)
	dir := t.TempDir()
	const customProj = "+proj=tmerc +lat_0=0 +lon_0=10.3333333333333 +k=0.9996 +x_0=500000 +y_0=0 +ellps=GRS80 +units=m +no_defs"
	if err := h.Exec(ctx, db, fmt.Sprintf("INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, proj4text, srtext) VALUES (990001, 'osgs-test', 990001, %s, '')", gisdata.Literal(customProj))); err != nil {
		t.Fatal(err)
	}
	ne := filepath.Join(data, "naturalearth", "naturalearth_cities")
	putFiles(t, ctx, h, ne, "naturalearth_cities.shp", "naturalearth_cities.shx", "naturalearth_cities.dbf", "naturalearth_cities.prj", "naturalearth_cities.cpg")
	gdalRun(t, ctx, e, h, fmt.Sprintf(`
ogr2ogr -f GPKG cities_3857.gpkg naturalearth_cities.shp -t_srs EPSG:3857 -nln cities
ogr2ogr -f GPKG cities_custom.gpkg naturalearth_cities.shp -t_srs '%s' -nln cities -spat 5 40 16 60
ogr2ogr -f GPKG cities_eu.gpkg naturalearth_cities.shp -nln cities -spat 5 40 16 60
python3 - <<'PY'
from osgeo import gdal, osr
import numpy as np
def make(path, driver, opts):
    ds = gdal.GetDriverByName("MEM").Create("", 700, 500, 1, gdal.GDT_Byte)
    ds.SetGeoTransform([400000, 10, 0, 5500000, 0, -10])
    s = osr.SpatialReference(); s.ImportFromEPSG(32633); ds.SetProjection(s.ExportToWkt())
    r, c = np.mgrid[0:500, 0:700]
    ds.GetRasterBand(1).WriteArray(((r * 7 + c) %% 251).astype(np.uint8))
    gdal.GetDriverByName(driver).CreateCopy(path, ds, options=opts)
make("dem.tif", "GTiff", ["TILED=YES"])
make("dem_cog.tif", "COG", [])
PY
`, customProj), dir, "cities_3857.gpkg", "cities_custom.gpkg", "cities_eu.gpkg", "dem.tif", "dem_cog.tif")

	t.Run("projected source keeps its SRID", func(t *testing.T) {
		res, err := load(ctx, e, gisdata.LoadOptions{Path: filepath.Join(dir, "cities_3857.gpkg"), Table: "cities_3857"})
		if err != nil {
			t.Fatal(err)
		}
		src := sourceDigest(t, ctx, h, "/work/cities_3857.gpkg", "cities", false)
		if got := res.Tables[0]; got.SRID != 3857 || got.Features != 243 || !sameExtent(src.Extent, got.Extent) {
			t.Errorf("loaded %+v", got)
		}
		if _, d := tableDigest(t, ctx, h, db, "cities_3857"); d != src.Digest {
			t.Error("geometries differ from the source's")
		}
	})
	t.Run("a CRS-less projected shapefile gets -srid", func(t *testing.T) {
		res, err := load(ctx, e, gisdata.LoadOptions{Path: filepath.Join(data, "mapnik", "roads.shp"), SRID: 3978})
		if err != nil {
			t.Fatal(err)
		}
		got := res.Tables[0]
		if got.SRID != 3978 || !strings.HasPrefix(got.Geometry, "MULTILINESTRING") && !strings.HasPrefix(got.Geometry, "LINESTRING") {
			t.Errorf("loaded %+v", got)
		}
		// The mapnik demo's roads are in Canada.
		if lonlat := one(t, ctx, h, "SELECT round(ST_X(ST_Transform(ST_SetSRID(ST_Centroid(ST_Extent(geom)::geometry), 3978), 4326))::numeric) || ' ' || round(ST_Y(ST_Transform(ST_SetSRID(ST_Centroid(ST_Extent(geom)::geometry), 3978), 4326))::numeric) FROM roads"); lonlat == "" || !strings.HasPrefix(lonlat, "-7") {
			t.Errorf("roads centre at %s (lon lat), want eastern Canada", lonlat)
		}
	})
	t.Run("custom SRID kept", func(t *testing.T) {
		res, err := load(ctx, e, gisdata.LoadOptions{Path: filepath.Join(dir, "cities_custom.gpkg"), Table: "cities_custom"})
		if err != nil {
			t.Fatal(err)
		}
		if res.Tables[0].SRID != 990001 {
			t.Errorf("SRID %d, want the custom 990001", res.Tables[0].SRID)
		}
	})
	t.Run("reprojected to a custom SRID", func(t *testing.T) {
		eu := filepath.Join(dir, "cities_eu.gpkg")
		if _, err := load(ctx, e, gisdata.LoadOptions{Path: eu, Table: "cities_4326"}); err != nil {
			t.Fatal(err)
		}
		res, err := load(ctx, e, gisdata.LoadOptions{Path: eu, Table: "cities_to_custom", SRID: 990001})
		if err != nil {
			t.Fatal(err)
		}
		if res.Tables[0].SRID != 990001 {
			t.Fatalf("SRID %d", res.Tables[0].SRID)
		}
		// PROJ in GDAL and in PostGIS agree to the millimetre.
		if far := one(t, ctx, h, "SELECT count(*) FROM cities_4326 a JOIN cities_to_custom b ON a.fid = b.fid WHERE ST_Distance(ST_Transform(a.geom, 990001), b.geom) > 0.001"); far != "0" {
			t.Errorf("%s points differ from PostGIS's own transform", far)
		}
		if n := one(t, ctx, h, "SELECT string_agg(srid || ' ' || coalesce(auth_name, '') || ' ' || coalesce(proj4text, ''), '; ') FROM spatial_ref_sys WHERE srid > 990001"); n != "" {
			t.Errorf("coordinate systems were added to spatial_ref_sys: %s", n)
		}
	})
	for _, name := range []string{"dem", "dem_cog"} {
		t.Run("raster "+name, func(t *testing.T) {
			var prog bytes.Buffer
			res, err := load(ctx, e, gisdata.LoadOptions{Path: filepath.Join(dir, name+".tif"), Progress: gisdata.NewProgress(&prog, false)})
			if err != nil {
				t.Fatal(err)
			}
			got := res.Tables[0]
			if got.Geometry != "raster" || got.SRID != 32633 || got.Features != 3*2 || got.Extent != "400000.000000 5495000.000000 407000.000000 5500000.000000" {
				t.Errorf("loaded %+v", got)
			}
			// Pixel values at pixel centres, by SQL.
			var checks []string
			for _, rc := range [][2]int{{0, 0}, {0, 699}, {499, 0}, {255, 256}, {499, 699}, {123, 456}} {
				r, c := rc[0], rc[1]
				x, y := 400000+10*float64(c)+5, 5500000-10*float64(r)-5
				checks = append(checks, fmt.Sprintf("(SELECT ST_Value(rast, ST_SetSRID(ST_Point(%f, %f), 32633)) = %d FROM %s WHERE ST_Intersects(rast, ST_SetSRID(ST_Point(%f, %f), 32633)) LIMIT 1)", x, y, (r*7+c)%251, name, x, y))
			}
			if ok := one(t, ctx, h, "SELECT "+strings.Join(checks, " AND ")); ok != "t" {
				t.Errorf("pixel values differ from the GeoTIFF's")
			}
			if n := one(t, ctx, h, fmt.Sprintf("SELECT count(*) FROM raster_overviews WHERE r_table_name = '%s'", name)); n != "1" {
				t.Errorf("%s overviews, want 1 (factor 2)", n)
			}
			if idx := one(t, ctx, h, fmt.Sprintf("SELECT count(*) FROM pg_indexes WHERE tablename = '%s' AND indexdef ILIKE '%%gist%%'", name)); idx != "1" {
				t.Errorf("%s GiST indexes", idx)
			}
			if !strings.Contains(prog.String(), "load raster into public."+name+": 6 tiles in") {
				t.Errorf("progress: %q", prog.String())
			}
		})
	}
	t.Run("raster replace", func(t *testing.T) {
		if _, err := load(ctx, e, gisdata.LoadOptions{Path: filepath.Join(dir, "dem_cog.tif"), Table: "dem", Mode: gisdata.ModeReplace, Yes: true}); err != nil {
			t.Fatal(err)
		}
		if n := one(t, ctx, h, "SELECT count(*) FROM raster_overviews WHERE r_table_name = 'dem'"); n != "1" {
			t.Errorf("%s overviews after replace", n)
		}
	})
}

// TestLoadRefusals: each bad input is refused in one line, and nothing in
// the database changes.
func TestLoadRefusals(t *testing.T) {
	data := fixtures(t)
	ctx, e, h := startPostGIS(t)
	dir := t.TempDir()
	cities := filepath.Join(data, "naturalearth", "naturalearth_cities")
	if _, err := load(ctx, e, gisdata.LoadOptions{Path: cities, Table: "there"}); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	junk := make([]byte, 100000)
	for i := range junk {
		junk[i] = byte(i*7919 + i/13)
	}
	corrupt := append([]byte("SQLite format 3\x00"), junk...)
	cases := []struct {
		name string
		o    gisdata.LoadOptions
		want string
	}{
		{"unknown format", gisdata.LoadOptions{Path: write("notes.docx", []byte("x"))}, "unsupported format"},
		{"format GDAL reads but osgs does not", gisdata.LoadOptions{Path: write("t.zip", zipOf(t, "a.txt", "hello"))}, "GDAL cannot read it"},
		{"empty file", gisdata.LoadOptions{Path: write("empty.geojson", nil)}, "is empty"},
		{"corrupt geopackage", gisdata.LoadOptions{Path: write("bad.gpkg", corrupt)}, "GDAL cannot read it"},
		{"corrupt geojson", gisdata.LoadOptions{Path: write("bad.geojson", []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[1,`))}, "GDAL cannot read it"},
		{"table exists", gisdata.LoadOptions{Path: cities, Table: "there"}, "already exists"},
		{"missing layer", gisdata.LoadOptions{Path: cities, Layer: "nope"}, `has no layer "nope"`},
		{"missing path", gisdata.LoadOptions{Path: filepath.Join(dir, "nope.gpkg")}, "no such file"},
		{"replace without -yes", gisdata.LoadOptions{Path: cities, Table: "there", Mode: gisdata.ModeReplace}, "add -yes"},
		{"missing database", gisdata.LoadOptions{Path: cities, DB: "nodb"}, `database "nodb" does not exist`},
		{"bad table name", gisdata.LoadOptions{Path: cities, Table: `x"; drop table there; --`}, "a name of letters"},
		{"unknown -srid", gisdata.LoadOptions{Path: cities, Table: "t2", SRID: 123456}, "not in spatial_ref_sys"},
	}
	before := tables(t, ctx, h)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := load(ctx, e, c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error with %q", err, c.want)
			}
			if !errors.Is(err, gisdata.ErrRefused) {
				t.Errorf("%v is not marked as refused input", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("not one line: %q", err)
			}
		})
	}
	if after := tables(t, ctx, h); after != before {
		t.Errorf("tables before %q, after %q", before, after)
	}
	if n := one(t, ctx, h, "SELECT count(*) FROM there"); n != "243" {
		t.Errorf("the existing table has %s rows", n)
	}
	if n := helpersLeft(t, ctx, h); n != 0 {
		t.Errorf("%d helpers left", n)
	}
	_ = strconv.Itoa
}

// TestLoadHostileFiles loads what a careless colleague (or an attacker)
// sends: a shapefile whose .dbf is a FIFO (the load used to hang, and
// Ctrl-C never finished) or a link to a system file, a folder with a link,
// a layer named like an ogr2ogr option, a CSV whose WKT is garbage (GDAL
// loads such rows with no geometry and drops the text), invalid
// geometries, and a file name with printf verbs. Each is refused in one
// line with nothing changed, or loaded and reported; no helper is left.
func TestLoadHostileFiles(t *testing.T) {
	data := fixtures(t)
	ctx, e, h := startPostGIS(t)
	ne := filepath.Join(data, "naturalearth", "naturalearth_cities")
	shapefile := func(t *testing.T, dbf func(dir string)) string {
		dir := t.TempDir()
		for _, ext := range []string{".shp", ".shx", ".prj"} {
			b, err := os.ReadFile(filepath.Join(ne, "naturalearth_cities"+ext))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, "cities"+ext), b, 0o644)
		}
		dbf(filepath.Join(dir, "cities.dbf"))
		return filepath.Join(dir, "cities.shp")
	}
	write := func(t *testing.T, name, content string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	before := tables(t, ctx, h)
	refused := []struct {
		name string
		path func(t *testing.T) string
		o    gisdata.LoadOptions
		want string
	}{
		{"a FIFO as the .dbf", func(t *testing.T) string {
			return shapefile(t, func(p string) { syscall.Mkfifo(p, 0o644) })
		}, gisdata.LoadOptions{}, "a FIFO"},
		{"a .dbf linked to a system file", func(t *testing.T) string {
			return shapefile(t, func(p string) { os.Symlink("/etc/passwd", p) })
		}, gisdata.LoadOptions{}, "a symbolic link"},
		{"a linked source", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "x.geojson")
			os.Symlink("/etc/passwd", p)
			return p
		}, gisdata.LoadOptions{}, "a symbolic link"},
		{"a folder with a link", func(t *testing.T) string {
			dir := filepath.Join(t.TempDir(), "shapes")
			os.MkdirAll(dir, 0o755)
			for _, ext := range []string{".shp", ".shx", ".dbf"} {
				b, _ := os.ReadFile(filepath.Join(ne, "naturalearth_cities"+ext))
				os.WriteFile(filepath.Join(dir, "c"+ext), b, 0o644)
			}
			os.Symlink("/etc/shadow", filepath.Join(dir, "d.dbf"))
			return dir
		}, gisdata.LoadOptions{}, "a symbolic link"},
		{"a layer named like an option", func(t *testing.T) string {
			return write(t, "-explodecollections.geojson", `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"MultiPoint","coordinates":[[1,2],[3,4],[5,6]]}}]}`)
		}, gisdata.LoadOptions{Table: "opt"}, "starts with '-'"},
		{"-layer like an option", func(t *testing.T) string { return ne }, gisdata.LoadOptions{Layer: "-where"}, `has no layer "-where"`},
		{"garbage WKT", func(t *testing.T) string {
			return write(t, "pts.csv", "id,name,wkt\n1,a,POINT(1 2)\n2,b,garbage\n3,c,\n4,d,POINT(1\n")
		}, gisdata.LoadOptions{}, "2 rows have text in column wkt that GDAL cannot read"},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			o := c.o
			o.Path = c.path(t)
			lctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			_, err := load(lctx, e, o)
			if !errors.Is(err, gisdata.ErrRefused) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want a one-line refusal with %q", err, c.want)
			}
		})
	}
	if after := tables(t, ctx, h); after != before {
		t.Fatalf("tables before %q, after %q", before, after)
	}

	t.Run("garbage WKT kept with -keepinvalid", func(t *testing.T) {
		p := write(t, "keep.csv", "id,name,WKT\n1,a,POINT(1 2)\n2,b,garbage\n3,c,\n")
		res, err := load(ctx, e, gisdata.LoadOptions{Path: p, KeepInvalid: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := one(t, ctx, h, "SELECT string_agg(id || ':' || coalesce(ST_AsText(geom), '-') || ':' || coalesce(wkt, ''), ',' ORDER BY id) FROM keep"); got != "1:POINT(1 2):POINT(1 2),2:-:garbage,3:-:" {
			t.Errorf("loaded %q", got)
		}
		if len(res.Tables) != 1 || !strings.Contains(res.Tables[0].Note, "2 rows have no geometry") {
			t.Errorf("report %+v", res.Tables)
		}
	})
	t.Run("invalid geometries are reported", func(t *testing.T) {
		p := write(t, "bowtie.csv", "id,wkt\n1,\"POLYGON((0 0,1 1,1 0,0 1,0 0))\"\n2,\"POLYGON((0 0,1 0,1 1,0 0))\"\n")
		res, err := load(ctx, e, gisdata.LoadOptions{Path: p})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		res.Print(&out)
		if !strings.Contains(out.String(), "1 geometries are invalid") || one(t, ctx, h, "SELECT count(*) FROM bowtie") != "2" {
			t.Errorf("report %q", out.String())
		}
	})
	t.Run("a file name with printf verbs", func(t *testing.T) {
		p := write(t, "pct%d%s.geojson", `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"a":1},"geometry":{"type":"Point","coordinates":[1,2]}}]}`)
		if _, err := load(ctx, e, gisdata.LoadOptions{Path: p, Table: "pct"}); err != nil {
			t.Fatal(err)
		}
		if c := one(t, ctx, h, "SELECT obj_description('public.pct'::regclass)"); !strings.Contains(c, "pct%d%s.geojson (layer pct%d%s)") {
			t.Errorf("comment %q", c)
		}
	})
	if n := helpersLeft(t, ctx, h); n != 0 {
		t.Errorf("%d helpers left", n)
	}
}
