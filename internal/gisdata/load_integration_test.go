package gisdata_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/gisdata"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/testenv"
	"github.com/osgs/osgs/internal/tools"
)

const db = "gis"

// startPostGIS brings PostGIS up in a fresh checkout and a tools helper the
// test uses as its own GDAL.
func startPostGIS(t *testing.T) (context.Context, *engine.Engine, *tools.Helper) {
	ctx, _, e := testenv.Start(t, 40*time.Minute, nil, postgis.Service)
	if err := postgis.EnsureDatabases(ctx, e); err != nil {
		t.Fatal(err)
	}
	h, err := tools.Start(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return ctx, e, h
}

func load(ctx context.Context, e *engine.Engine, o gisdata.LoadOptions) (*gisdata.LoadResult, error) {
	if o.DB == "" {
		o.DB = db
	}
	return gisdata.Load(ctx, e, o)
}

func query(t *testing.T, ctx context.Context, h *tools.Helper, sql string) [][]string {
	t.Helper()
	rows, err := h.Query(ctx, db, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return rows
}

func one(t *testing.T, ctx context.Context, h *tools.Helper, sql string) string {
	t.Helper()
	rows := query(t, ctx, h, sql)
	if len(rows) == 0 {
		return ""
	}
	return rows[0][0]
}

// tables lists every table in the database outside the system schemas.
func tables(t *testing.T, ctx context.Context, h *tools.Helper) string {
	t.Helper()
	var out []string
	for _, r := range query(t, ctx, h, "SELECT schemaname || '.' || tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND tablename <> 'spatial_ref_sys' ORDER BY 1") {
		out = append(out, r[0])
	}
	return strings.Join(out, ",")
}

func sameExtent(a []float64, b string) bool {
	f := strings.Fields(b)
	if len(a) != 4 || len(f) != 4 {
		return false
	}
	for i := range a {
		v, _ := strconv.ParseFloat(f[i], 64)
		if math.Abs(v-a[i]) > 1e-5*math.Max(1, math.Abs(a[i])) {
			return false
		}
	}
	return true
}

// TestLoadRoundTrips loads real data in every vector format and checks the
// table against the source as GDAL reads it: feature count, SRID, extent and
// a digest of every geometry.
func TestLoadRoundTrips(t *testing.T) {
	data := fixtures(t)
	ctx, e, h := startPostGIS(t)
	dir := t.TempDir()

	// Natural Earth countries (Polygon and MultiPolygon mixed) and cities
	// (points), in every format, made with GDAL from the shapefiles.
	ne := filepath.Join(data, "naturalearth")
	putFiles(t, ctx, h, ne, "naturalearth_lowres/naturalearth_lowres.shp", "naturalearth_lowres/naturalearth_lowres.shx",
		"naturalearth_lowres/naturalearth_lowres.dbf", "naturalearth_lowres/naturalearth_lowres.prj", "naturalearth_lowres/naturalearth_lowres.cpg",
		"naturalearth_cities/naturalearth_cities.shp", "naturalearth_cities/naturalearth_cities.shx",
		"naturalearth_cities/naturalearth_cities.dbf", "naturalearth_cities/naturalearth_cities.prj", "naturalearth_cities/naturalearth_cities.cpg")
	gdalRun(t, ctx, e, h, `
src=/work/naturalearth_lowres/naturalearth_lowres.shp
ogr2ogr -f GPKG countries.gpkg $src -nln countries -nlt PROMOTE_TO_MULTI
ogr2ogr -update -f GPKG countries.gpkg /work/naturalearth_cities/naturalearth_cities.shp -nln cities
ogr2ogr -f GeoJSON countries.geojson $src
ogr2ogr -f GeoJSONSeq countries.geojsonl $src
ogr2ogr -f FlatGeobuf countries.fgb $src -nlt PROMOTE_TO_MULTI
ogr2ogr -f CSV countries.csv $src -lco GEOMETRY=AS_WKT
ogr2ogr -f CSV cities_xy.csv /work/naturalearth_cities/naturalearth_cities.shp -lco GEOMETRY=AS_XY
ogr2ogr -f KML countries.kml $src
ogr2ogr -f GML countries.gml $src -nlt PROMOTE_TO_MULTI
ogr2ogr -f OpenFileGDB countries.gdb $src -nln countries -nlt PROMOTE_TO_MULTI
(cd countries.gdb && tar cf ../countries.gdb.tar .)
mkdir -p zip && cp /work/naturalearth_lowres/* zip/ && (cd zip && python3 -c "import zipfile,glob; z=zipfile.ZipFile('/work/countries_shp.zip','w'); [z.write(f) for f in glob.glob('*')]")
`, dir, "countries.gpkg", "countries.geojson", "countries.geojsonl", "countries.fgb", "countries.csv", "cities_xy.csv",
		"countries.kml", "countries.gml", "countries.xsd", "countries.gdb.tar", "countries_shp.zip")
	gdb := filepath.Join(dir, "countries.gdb")
	if err := os.MkdirAll(gdb, 0o755); err != nil {
		t.Fatal(err)
	}
	untar(t, filepath.Join(dir, "countries.gdb.tar"), gdb)

	cases := []struct {
		name, path, layer, table string
		open                     string // what the helper's GDAL reads for the source digest
		oo                       []string
		srid                     int
		typ                      string
	}{
		{"shapefile", filepath.Join(ne, "naturalearth_lowres", "naturalearth_lowres.shp"), "", "ne_shp", "/work/naturalearth_lowres/naturalearth_lowres.shp", nil, 4326, "MULTIPOLYGON"},
		{"shapefile folder", filepath.Join(ne, "naturalearth_cities"), "", "ne_cities_dir", "/work/naturalearth_cities", nil, 4326, "POINT"},
		{"zipped shapefile", filepath.Join(dir, "countries_shp.zip"), "", "ne_zip", "/vsizip//work/countries_shp.zip", nil, 4326, "MULTIPOLYGON"},
		{"geopackage layer", filepath.Join(dir, "countries.gpkg"), "countries", "ne_gpkg", "/work/countries.gpkg", nil, 4326, "MULTIPOLYGON"},
		{"geojson", filepath.Join(dir, "countries.geojson"), "", "ne_geojson", "/work/countries.geojson", nil, 4326, "MULTIPOLYGON"},
		{"geojsonseq", filepath.Join(dir, "countries.geojsonl"), "", "ne_geojsonl", "/work/countries.geojsonl", nil, 4326, "MULTIPOLYGON"},
		{"flatgeobuf", filepath.Join(dir, "countries.fgb"), "", "ne_fgb", "/work/countries.fgb", nil, 4326, "MULTIPOLYGON"},
		{"csv wkt", filepath.Join(dir, "countries.csv"), "", "ne_csv", "/work/countries.csv", gisdata.CSVOpenOptions, 4326, "MULTIPOLYGON"},
		{"csv xy", filepath.Join(dir, "cities_xy.csv"), "", "ne_csv_xy", "/work/cities_xy.csv", gisdata.CSVXYOpenOptions, 4326, "POINT"},
		{"kml", filepath.Join(dir, "countries.kml"), "", "ne_kml", "/work/countries.kml", nil, 4326, "MULTIPOLYGON"},
		{"gml", filepath.Join(dir, "countries.gml"), "", "ne_gml", "/work/countries.gml", nil, 4326, "MULTIPOLYGON"},
		{"file geodatabase", gdb, "", "ne_gdb", "/work/countries.gdb", nil, 4326, "MULTIPOLYGON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := load(ctx, e, gisdata.LoadOptions{Path: c.path, Layer: c.layer, Table: c.table})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Tables) != 1 {
				t.Fatalf("loaded %d tables, want 1", len(res.Tables))
			}
			got := res.Tables[0]
			src := sourceDigest(t, ctx, h, c.open, c.layer, strings.HasPrefix(c.typ, "MULTI"), c.oo...)
			if got.Features != src.Count {
				t.Errorf("features = %d, source has %d", got.Features, src.Count)
			}
			if got.SRID != c.srid {
				t.Errorf("SRID = %d, want %d", got.SRID, c.srid)
			}
			if !sameExtent(src.Extent, got.Extent) {
				t.Errorf("extent = %s, source %v", got.Extent, src.Extent)
			}
			if !strings.HasPrefix(strings.ToUpper(got.Geometry), c.typ) {
				t.Errorf("geometry type = %s, want %s", got.Geometry, c.typ)
			}
			_, digest := tableDigest(t, ctx, h, db, "public."+c.table)
			if digest != src.Digest {
				t.Errorf("geometry digests differ from the source's")
			}
			// A proper table: a primary key, a GiST index, analyzed.
			pk := one(t, ctx, h, fmt.Sprintf("SELECT count(*) FROM pg_index WHERE indrelid = 'public.%s'::regclass AND indisprimary", c.table))
			gist := one(t, ctx, h, fmt.Sprintf("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid = 'public.%s'::regclass AND a.amname = 'gist'", c.table))
			analyzed := one(t, ctx, h, fmt.Sprintf("SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relid = 'public.%s'::regclass", c.table))
			if pk != "1" || gist != "1" || analyzed != "t" {
				t.Errorf("primary key %s, GiST indexes %s, analyzed %s; want 1, 1, t", pk, gist, analyzed)
			}
		})
	}
	if t.Failed() {
		return
	}

	t.Run("every layer of a geopackage", func(t *testing.T) {
		res, err := load(ctx, e, gisdata.LoadOptions{Path: filepath.Join(dir, "countries.gpkg"), Schema: "allofit"})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, r := range res.Tables {
			names = append(names, r.Table+":"+strconv.FormatInt(r.Features, 10))
		}
		if got := strings.Join(names, ","); got != "countries:177,cities:243" {
			t.Fatalf("loaded %s", got)
		}
	})

	t.Run("export and load again", func(t *testing.T) {
		_, want := tableDigest(t, ctx, h, db, "public.ne_gpkg")
		for _, f := range []string{"gpkg", "geojson", "fgb", "shp.zip", "csv"} {
			out := filepath.Join(dir, "export."+f)
			res, err := gisdata.Export(ctx, e, gisdata.ExportOptions{Table: "public.ne_gpkg", File: out, DB: db})
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if res.Features != 177 {
				t.Errorf("%s: exported %d features, want 177", f, res.Features)
			}
			table := "again_" + strings.ReplaceAll(f, ".", "_")
			if _, err := load(ctx, e, gisdata.LoadOptions{Path: out, Table: table}); err != nil {
				t.Fatalf("load the %s export: %v", f, err)
			}
			if _, got := tableDigest(t, ctx, h, db, "public."+table); got != want {
				t.Errorf("%s: the geometries loaded from the export differ from the table's", f)
			}
		}
		// A query.
		out := filepath.Join(dir, "big.geojson")
		res, err := gisdata.Export(ctx, e, gisdata.ExportOptions{SQL: "SELECT name, geom FROM public.ne_gpkg WHERE pop_est > 100000000", File: out, DB: db})
		if err != nil {
			t.Fatal(err)
		}
		if want := one(t, ctx, h, "SELECT count(*) FROM public.ne_gpkg WHERE pop_est > 100000000"); strconv.FormatInt(res.Features, 10) != want {
			t.Errorf("query exported %d features, want %s", res.Features, want)
		}
		if _, err := gisdata.Export(ctx, e, gisdata.ExportOptions{Table: "public.ne_gpkg", File: out, DB: db}); !errors.Is(err, gisdata.ErrRefused) {
			t.Errorf("export over an existing file: %v, want refused", err)
		}
	})
}

func untar(t *testing.T, file, dir string) {
	t.Helper()
	if err := untarFile(file, dir); err != nil {
		t.Fatal(err)
	}
}
