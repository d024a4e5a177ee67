package gisdata

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/osgs/osgs/internal/tools"
)

// TileSize is the raster tile edge, in pixels.
const TileSize = 256

// OverviewFactors are the overview levels of a raster: powers of two, as
// long as the overview is at least one tile wide.
func OverviewFactors(width, height int) []int {
	var out []int
	for f := 2; max(width, height)/f >= TileSize && f <= 256; f *= 2 {
		out = append(out, f)
	}
	return out
}

// overviewName is raster2pgsql's name for a table's overview.
func overviewName(table string, f int) string {
	n := fmt.Sprintf("o_%d_%s", f, table)
	if len(n) > 63 {
		n = n[:63]
	}
	return n
}

// Raster2pgsqlArgs is the argv that writes the SQL loading a raster: tiled,
// with overviews, constraints (raster_columns) and a spatial index, as COPY
// and without its own transaction (psql -1 makes it one).
func Raster2pgsqlArgs(file, schema, table string, srid int, factors []int) []string {
	argv := []string{"raster2pgsql", "-s", strconv.Itoa(srid), "-t", fmt.Sprintf("%dx%d", TileSize, TileSize), "-I", "-C", "-Y", "-e"}
	if len(factors) > 0 {
		var fs []string
		for _, f := range factors {
			fs = append(fs, strconv.Itoa(f))
		}
		argv = append(argv, "-l", strings.Join(fs, ","))
	}
	return append(argv, file, schema+"."+table)
}

// RasterFinalizeSQL puts a loaded raster and its overviews in place in one
// transaction; for replace it first drops the old raster and its overviews.
func RasterFinalizeSQL(schema, staging, table string, factors []int, mode Mode, comment string) string {
	var b strings.Builder
	if mode == ModeReplace {
		fmt.Fprintf(&b, `DO $osgs$
DECLARE r record;
BEGIN
  FOR r IN SELECT o_table_schema, o_table_name FROM raster_overviews WHERE r_table_schema = %s AND r_table_name = %s LOOP
    EXECUTE format('DROP TABLE %%I.%%I', r.o_table_schema, r.o_table_name);
  END LOOP;
END $osgs$;
`, Literal(schema), Literal(table))
	}
	for _, f := range factors {
		fmt.Fprintf(&b, "SELECT DropOverviewConstraints(%s, %s, 'rast');\n", Literal(schema), Literal(overviewName(staging, f)))
	}
	loads := []LayerLoad{{Schema: schema, Staging: staging, Table: table}}
	for _, f := range factors {
		loads = append(loads, LayerLoad{Schema: schema, Staging: overviewName(staging, f), Table: overviewName(table, f)})
	}
	for i, l := range loads {
		c := comment
		if i > 0 {
			c = fmt.Sprintf("overview (factor %d) of %s.%s", factors[i-1], schema, table)
		}
		b.WriteString(FinalizeSQL([]LayerLoad{l}, mode, c))
	}
	for _, f := range factors {
		fmt.Fprintf(&b, "SELECT AddOverviewConstraints(%s, %s, 'rast', %s, %s, 'rast', %d);\n",
			Literal(schema), Literal(overviewName(table, f)), Literal(schema), Literal(table), f)
	}
	return b.String()
}

func loadRaster(ctx context.Context, h *tools.Helper, src *Source, in *Inspection, o LoadOptions) (*Loaded, error) {
	if o.Mode == ModeAppend {
		return nil, refuse("%s is a raster: -mode=append is for vector layers (use replace)", o.Path)
	}
	if o.Layer != "" {
		return nil, refuse("%s is a raster: it has no layers (-layer)", o.Path)
	}
	rs := in.Raster
	table := o.Table
	if table == "" {
		base := src.Files[0]
		if i := strings.IndexByte(base, '.'); i > 0 {
			base = base[:i]
		}
		table = TableName(base)
	}
	factors := OverviewFactors(rs.Width, rs.Height)
	names := []string{table}
	for _, f := range factors {
		names = append(names, overviewName(table, f))
	}
	exists, schemaExists, err := existing(ctx, h, o.DB, o.Schema, names)
	if err != nil {
		return nil, err
	}
	if exists[table] && o.Mode == ModeCreate {
		return nil, refuse("table %s.%s already exists: -mode=replace -yes replaces it", o.Schema, table)
	}
	// The SRID: the source's EPSG code, a matching custom SRID, or -srid
	// (assigned to a raster without a CRS, or warped to).
	file, srid := src.Open, 0
	if code, err := strconv.Atoi(rs.SRS.EPSG()); err == nil {
		srid = code
	} else {
		srid = matchSRID(ctx, h, o.DB, rs.SRS)
	}
	if o.SRID != 0 && o.SRID != srid {
		if rs.SRS != nil {
			t, err := targetSRS(ctx, h, o.DB, o.SRID)
			if err != nil {
				return nil, err
			}
			o.Progress.Step("reproject to SRID " + strconv.Itoa(o.SRID))
			warped := tools.Work + "/osgs-warped.tif"
			var errb bytes.Buffer
			argv := []string{"gdalwarp", "-q", "-t_srs", t.Definition(), "-r", "bilinear", "-of", "GTiff", "-co", "TILED=YES", file, warped}
			if err := h.Run(ctx, argv, nil, nil, &errb); err != nil {
				return nil, fmt.Errorf("reproject the raster: %s", gdalError(errb.String(), err))
			}
			o.Progress.Done("reprojected")
			file = warped
		}
		srid = o.SRID
	}
	if srid == 0 {
		return nil, refuse("%s: the raster's coordinate system has no EPSG code or matching SRID: give -srid=N", o.Path)
	}
	staging := stagingPrefix + strconv.FormatInt(time.Now().UnixNano(), 36)
	createdSchema, done := false, false
	defer func() {
		if done {
			return
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		sql := fmt.Sprintf("DROP TABLE IF EXISTS %s.%s;\n", Ident(o.Schema), Ident(staging))
		for _, f := range factors {
			sql += fmt.Sprintf("DROP TABLE IF EXISTS %s.%s;\n", Ident(o.Schema), Ident(overviewName(staging, f)))
		}
		if createdSchema {
			sql += fmt.Sprintf("DROP SCHEMA IF EXISTS %s;\n", Ident(o.Schema))
		}
		_ = h.Exec(cctx, o.DB, sql)
	}()
	if !schemaExists {
		if err := h.Exec(ctx, o.DB, "CREATE SCHEMA "+Ident(o.Schema)); err != nil {
			return nil, fmt.Errorf("create schema %s: %w", o.Schema, err)
		}
		createdSchema = true
	}
	tiles := int64((rs.Width+TileSize-1)/TileSize) * int64((rs.Height+TileSize-1)/TileSize)
	o.Progress.Step(fmt.Sprintf("load raster into %s.%s", o.Schema, table))
	script := `set -eu -o pipefail; db=$1; shift; "$@" | psql -X -q -v ON_ERROR_STOP=1 -1 -d "$db" -f - >/dev/null`
	argv := append([]string{"bash", "-c", script, "load", tools.Conninfo(o.DB)}, Raster2pgsqlArgs(file, o.Schema, staging, srid, factors)...)
	var errb bytes.Buffer
	if err := h.Run(ctx, argv, nil, nil, &errb); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("load the raster: %s", rasterError(errb.String(), err))
	}
	o.Progress.Done(fmt.Sprintf("%d tiles", tiles))
	comment := fmt.Sprintf("loaded by osgs postgis:load from %s at %s", src.Path, time.Now().UTC().Format(time.RFC3339))
	if err := h.Exec(ctx, o.DB, RasterFinalizeSQL(o.Schema, staging, table, factors, o.Mode, comment)); err != nil {
		return nil, fmt.Errorf("put the loaded raster in place (nothing changed): %w", err)
	}
	done = true
	rows, err := h.Query(ctx, o.DB, fmt.Sprintf(`SELECT count(*), (SELECT srid FROM raster_columns WHERE r_table_schema = %[3]s AND r_table_name = %[4]s),
  (SELECT concat_ws(' ', round(ST_XMin(e)::numeric, 6), round(ST_YMin(e)::numeric, 6), round(ST_XMax(e)::numeric, 6), round(ST_YMax(e)::numeric, 6)) FROM (SELECT ST_Extent(ST_Envelope(rast))::box2d AS e FROM %[1]s.%[2]s) x)
  FROM %[1]s.%[2]s`, Ident(o.Schema), Ident(table), Literal(o.Schema), Literal(table)))
	if err != nil || len(rows) == 0 {
		return nil, fmt.Errorf("describe %s.%s: %v", o.Schema, table, err)
	}
	t := &Loaded{Schema: o.Schema, Table: table, Geometry: "raster"}
	t.Features, _ = strconv.ParseInt(rows[0][0], 10, 64)
	t.SRID, _ = strconv.Atoi(rows[0][1])
	if len(rows[0]) > 2 {
		t.Extent = rows[0][2]
	}
	if len(factors) > 0 {
		t.Note = fmt.Sprintf("overviews at factors %v (raster_overviews)", factors)
	}
	return t, nil
}

// rasterError is the first error line of raster2pgsql or psql.
func rasterError(stderr string, err error) string {
	for _, l := range strings.Split(stderr, "\n") {
		if i := strings.Index(l, "ERROR:"); i >= 0 {
			return strings.TrimSpace(l[i+len("ERROR:"):])
		}
		if strings.HasPrefix(l, "ERROR") {
			return strings.TrimSpace(l)
		}
	}
	return gdalError(stderr, err)
}
