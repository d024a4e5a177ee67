package gisdata

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/tools"
)

// ExportFormat is one format postgis:export writes.
type ExportFormat struct {
	Name   string   // -format value
	Driver string   // GDAL driver
	Ext    string   // file name ending in the helper
	LCO    []string // layer creation options
	Config []string // GDAL configuration options, as pairs
}

// ExportFormats are the formats postgis:export writes, by -format name.
var ExportFormats = []ExportFormat{
	{"gpkg", "GPKG", ".gpkg", nil, nil},
	// GeoJSON is written by PostGIS (geoJSONScript): GDAL's writer rounds
	// 17-digit coordinates ("-122.84000000000003" became "-122.84" here),
	// PostGIS prints the shortest text that reads back to the same double.
	{"geojson", "GeoJSON", ".geojson", nil, nil},
	{"fgb", "FlatGeobuf", ".fgb", nil, nil},
	{"shp", "ESRI Shapefile", ".shp.zip", []string{"ENCODING=UTF-8"}, nil},
	// CSV is written by PostgreSQL's COPY with PostGIS's WKT (csvScript),
	// for the same reason: every digit of every coordinate.
	{"csv", "CSV", ".csv", nil, nil},
}

// ChooseExportFormat picks the format from -format, or from the file name.
func ChooseExportFormat(file, name string) (ExportFormat, error) {
	if name != "" {
		for _, f := range ExportFormats {
			if f.Name == strings.ToLower(name) {
				return f, nil
			}
		}
		return ExportFormat{}, refuse("-format=%s: osgs exports gpkg, geojson, fgb, shp (a zipped shapefile) and csv", name)
	}
	lower := strings.ToLower(file)
	switch {
	case strings.HasSuffix(lower, ".gpkg"):
		return ExportFormats[0], nil
	case strings.HasSuffix(lower, ".geojson"), strings.HasSuffix(lower, ".json"):
		return ExportFormats[1], nil
	case strings.HasSuffix(lower, ".fgb"):
		return ExportFormats[2], nil
	case strings.HasSuffix(lower, ".zip"), strings.HasSuffix(lower, ".shz"):
		return ExportFormats[3], nil
	case strings.HasSuffix(lower, ".csv"):
		return ExportFormats[4], nil
	}
	return ExportFormat{}, refuse("%s: can't tell the format from the name: end it in .gpkg, .geojson, .fgb, .shp.zip or .csv, or give -format", file)
}

// ExportOptions are postgis:export's arguments.
type ExportOptions struct {
	Table  string // schema.table (or table, in public)
	SQL    string // or a query
	File   string // host file to write
	Format string
	DB     string
	Yes    bool // overwrite an existing file
}

// ExportResult is what an export wrote.
type ExportResult struct {
	File     string
	Format   string
	Features int64
	Bytes    int64
	Elapsed  time.Duration
}

// Export writes a table or a query's result to a file on this host, made in
// the helper and streamed out; the file appears whole or not at all.
func Export(ctx context.Context, e *engine.Engine, o ExportOptions) (*ExportResult, error) {
	start := time.Now()
	if (o.Table == "") == (o.SQL == "") {
		return nil, refuse("export needs a table (schema.table) or -sql=QUERY, not both")
	}
	f, err := ChooseExportFormat(o.File, o.Format)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(o.File); err == nil && !o.Yes {
		return nil, refuse("%s already exists: add -yes to overwrite it", o.File)
	}
	dir := filepath.Dir(o.File)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, refuse("%s: no such folder", dir)
	}
	lo := LoadOptions{DB: o.DB, Schema: "public", Mode: ModeCreate}
	if err := lo.defaults(e); err != nil {
		return nil, err
	}
	var schema, table string
	if o.Table != "" {
		schema, table = "public", o.Table
		if i := strings.IndexByte(o.Table, '.'); i >= 0 {
			schema, table = o.Table[:i], o.Table[i+1:]
		}
	}
	h, err := tools.Start(ctx, e)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	if err := checkDatabase(ctx, h, lo.DB); err != nil {
		return nil, err
	}
	query := o.SQL
	layer := strings.TrimSuffix(filepath.Base(o.File), filepath.Ext(o.File))
	layer = strings.TrimSuffix(layer, ".shp")
	if table != "" {
		rows, err := h.Query(ctx, lo.DB, fmt.Sprintf("SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r','p','v','m','f')", Literal(schema), Literal(table)))
		if err != nil {
			return nil, err
		}
		if len(rows) == 0 {
			return nil, refuse("table %s.%s does not exist in database %s", schema, table, lo.DB)
		}
		query = fmt.Sprintf("SELECT * FROM %s.%s", Ident(schema), Ident(table))
		layer = table
	}
	out := tools.Work + "/" + TableName(layer) + f.Ext
	argv := []string{"ogr2ogr", "-f", f.Driver, out, "PG:" + tools.Conninfo(lo.DB), "-sql", query, "-nln", TableName(layer)}
	if table != "" {
		// The table's own layer keeps its primary key as the features' IDs.
		argv = []string{"ogr2ogr", "-f", f.Driver, out, "PG:" + tools.Conninfo(lo.DB), schema + "." + table, "-nln", TableName(layer)}
	}
	for _, l := range f.LCO {
		argv = append(argv, "-lco", l)
	}
	for i := 0; i+1 < len(f.Config); i += 2 {
		argv = append(argv, "--config", f.Config[i], f.Config[i+1])
	}
	switch f.Name {
	case "geojson", "csv":
		cols, geom, srid, err := describeQuery(ctx, h, lo.DB, query)
		if err != nil {
			return nil, err
		}
		if f.Name == "csv" {
			argv = []string{"bash", "-c", csvScript, "csv", tools.Conninfo(lo.DB), csvQuery(query, cols, geom), out}
			break
		}
		crs := ""
		if srid != 0 && srid != 4326 {
			crs = fmt.Sprintf(`"crs":{"type":"name","properties":{"name":"urn:ogc:def:crs:EPSG::%d"}},`, srid)
		}
		argv = []string{"bash", "-c", geoJSONScript, "geojson", tools.Conninfo(lo.DB), query, TableName(layer), out, crs}
	}
	var errb bytes.Buffer
	if err := h.Run(ctx, argv, nil, nil, &errb); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("export: %s", gdalError(errb.String(), err))
	}
	if msg := gdalFailure(errb.String()); msg != "" {
		return nil, fmt.Errorf("export: %s", msg)
	}
	count, err := h.Output(ctx, "ogrinfo", "-ro", "-so", "-al", out)
	if err != nil {
		return nil, fmt.Errorf("export: read back %s: %w", out, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(o.File)+".tmp-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	n, err := h.Get(ctx, strings.TrimPrefix(out, tools.Work+"/"), tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", o.File, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp.Name(), o.File); err != nil {
		return nil, err
	}
	return &ExportResult{File: o.File, Format: f.Name, Features: featureCount(string(count)), Bytes: n, Elapsed: time.Since(start)}, nil
}

// featureCount sums ogrinfo -so's "Feature Count:" lines.
func featureCount(ogrinfo string) int64 {
	var n int64
	for _, l := range strings.Split(ogrinfo, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Feature Count:"); ok {
			c, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			n += c
		}
	}
	return n
}

// geoJSONScript writes a FeatureCollection from PostGIS's ST_AsGeoJSON of
// each row (every column a property, the first geometry the geometry, each
// coordinate as the shortest text that reads back to the same double), streamed through a cursor: $1 conninfo, $2 query, $3 name,
// $4 output file, $5 the "crs" member (empty for WGS 84).
const geoJSONScript = `set -euo pipefail
conn=$1 query=$2 name=$3 out=$4 crs=$5
{
  printf '{"type":"FeatureCollection","name":"%s",%s"features":[\n' "$name" "$crs"
  psql -X -qAt -v ON_ERROR_STOP=1 -v FETCH_COUNT=10000 -d "$conn" -v q="$query" <<'SQL' | sed '1!s/^/,/'
SELECT ST_AsGeoJSON(q.*, '', 20) FROM (:q) q
SQL
  printf ']}\n'
} > "$out"
`

// csvScript writes a CSV with a header by COPY: $1 conninfo, $2 query,
// $3 output file.
const csvScript = `set -euo pipefail
psql -X -q -v ON_ERROR_STOP=1 -d "$1" -c "COPY ($2) TO STDOUT WITH (FORMAT csv, HEADER)" > "$3"
`

// csvQuery selects every column of query, with the geometry column as WKT
// (every digit) in a last column named WKT, which postgis:load reads back.
func csvQuery(query string, cols []string, geom string) string {
	var sel []string
	for _, c := range cols {
		if c != geom {
			sel = append(sel, "q."+Ident(c))
		}
	}
	if geom != "" {
		sel = append(sel, fmt.Sprintf("ST_AsText(q.%s, 20) AS %s", Ident(geom), Ident("WKT")))
	}
	return fmt.Sprintf("SELECT %s FROM (%s) q", strings.Join(sel, ", "), query)
}

// describeQuery lists a query's columns, its first geometry column and
// that column's SRID.
func describeQuery(ctx context.Context, h *tools.Helper, db, query string) (cols []string, geom string, srid int, err error) {
	rows, err := h.Query(ctx, db, "SELECT * FROM ("+query+") q LIMIT 0 \\gdesc")
	if err != nil {
		return nil, "", 0, refuse("-sql: %v", err)
	}
	for _, r := range rows {
		if len(r) < 2 || r[0] == "Column" {
			continue
		}
		cols = append(cols, r[0])
		if geom == "" && strings.HasPrefix(r[1], "geometry") {
			geom = r[0]
		}
	}
	if geom == "" {
		return cols, "", 0, nil
	}
	rows, err = h.Query(ctx, db, fmt.Sprintf("SELECT ST_SRID(%s) FROM (%s) q WHERE %s IS NOT NULL LIMIT 1", Ident(geom), query, Ident(geom)))
	if err != nil {
		return nil, "", 0, err
	}
	if len(rows) > 0 {
		srid, _ = strconv.Atoi(rows[0][0])
	}
	return cols, geom, srid, nil
}
