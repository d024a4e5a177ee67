package gisdata

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/tools"
)

// LoadOptions are postgis:load's arguments.
type LoadOptions struct {
	Path   string
	DB     string // default: the first of POSTGRES_DBS
	Schema string // default: public
	Table  string // default: the layer's name, made a plain identifier
	Layer  string // default: every layer
	SRID   int    // reproject to (or assign, when the source has none); 0 keeps the source's
	Mode   Mode
	Yes    bool
	// KeepInvalid loads rows whose geometry text GDAL cannot read (a CSV's
	// WKT) with no geometry and keeps their text in its column, instead of
	// refusing the load.
	KeepInvalid bool
	// Progress shows the upload and each layer's load; nil shows nothing.
	Progress *Progress
}

// Loaded is one table a load made or changed.
type Loaded struct {
	Schema, Table string
	Geometry      string // the column's type as geometry_columns says, or "raster"
	Features      int64  // rows (raster tiles for a raster)
	SRID          int
	Extent        string // "minx miny maxx maxy", empty for no geometry
	Note          string
}

// LoadResult is what a load did.
type LoadResult struct {
	DB      string
	Tables  []Loaded
	Elapsed time.Duration
}

// Print writes the result as the target shows it.
func (r *LoadResult) Print(w io.Writer) {
	for _, t := range r.Tables {
		unit := "features"
		if t.Geometry == "raster" {
			unit = "tiles"
		}
		fmt.Fprintf(w, "loaded %s.%s.%s: %d %s, %s, SRID %d", r.DB, t.Schema, t.Table, t.Features, unit, t.Geometry, t.SRID)
		if t.Extent != "" {
			fmt.Fprintf(w, ", extent %s", t.Extent)
		}
		fmt.Fprintln(w)
		if t.Note != "" {
			fmt.Fprintf(w, "  note: %s\n", t.Note)
		}
	}
	fmt.Fprintf(w, "took %s\n", r.Elapsed.Round(time.Millisecond))
}

// plainName is what -db, -schema and -table accept.
var plainName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,62}$`)

// stagingPrefix names the hidden tables a load writes before it renames them.
const stagingPrefix = "_osgs_load_"

func (o *LoadOptions) defaults(e *engine.Engine) error {
	if o.DB == "" {
		dbs := postgis.Load(e).Databases
		if len(dbs) == 0 {
			return refuse("no database: set POSTGRES_DBS or give -db")
		}
		o.DB = dbs[0]
	}
	if o.Schema == "" {
		o.Schema = "public"
	}
	if o.Mode == "" {
		o.Mode = ModeCreate
	}
	if o.Mode == ModeReplace && !o.Yes {
		return refuse("-mode=replace drops the table it replaces: add -yes")
	}
	for flag, v := range map[string]string{"-schema": o.Schema, "-table": o.Table, "-db": o.DB} {
		if v != "" && !plainName.MatchString(v) {
			return refuse("%s=%q: a name of letters, digits, _ and - (at most 63 bytes, no dots or quotes)", flag, v)
		}
	}
	if o.SRID < 0 {
		return refuse("-srid=%d: must be positive", o.SRID)
	}
	return nil
}

// Load loads a vector or raster file into PostGIS, all or nothing.
func Load(ctx context.Context, e *engine.Engine, o LoadOptions) (*LoadResult, error) {
	start := time.Now()
	src, err := ResolveSource(o.Path)
	if err != nil {
		return nil, err
	}
	if err := o.defaults(e); err != nil {
		return nil, err
	}
	h, err := tools.Start(ctx, e)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	if err := checkDatabase(ctx, h, o.DB); err != nil {
		return nil, err
	}
	if err := upload(ctx, h, src, o.Progress); err != nil {
		return nil, err
	}
	in, err := inspect(ctx, h, src.Open, openOptions(src))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.Path, err)
	}
	if !Drivers[in.Driver] {
		return nil, refuse("%s: GDAL reads it as %s, which osgs does not load (it loads %s)", o.Path, in.Driver, Extensions())
	}
	r := &LoadResult{DB: o.DB}
	if in.Raster != nil && len(in.Layers) == 0 {
		t, err := loadRaster(ctx, h, src, in, o)
		if err != nil {
			return nil, err
		}
		r.Tables = []Loaded{*t}
	} else {
		if r.Tables, err = loadVector(ctx, h, src, in, o); err != nil {
			return nil, err
		}
	}
	r.Elapsed = time.Since(start)
	return r, nil
}

// checkDatabase refuses a database that does not exist or lacks PostGIS.
func checkDatabase(ctx context.Context, h *tools.Helper, db string) error {
	rows, err := h.Query(ctx, "postgres", "SELECT datname FROM pg_database WHERE datname = "+Literal(db)+" AND datallowconn")
	if err != nil {
		return fmt.Errorf("connect to PostGIS: %w", err)
	}
	if len(rows) == 0 {
		return refuse("database %q does not exist (POSTGRES_DBS in .env lists the databases osgs creates)", db)
	}
	rows, err = h.Query(ctx, db, "SELECT 1 FROM pg_extension WHERE extname = 'postgis'")
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return refuse("database %q has no PostGIS extension", db)
	}
	return nil
}

// selectLayers picks the layers to load and their table names.
func selectLayers(in *Inspection, o LoadOptions) ([]Layer, []string, error) {
	layers := in.Layers
	if o.Layer != "" {
		layers = nil
		var names []string
		for _, l := range in.Layers {
			names = append(names, l.Name)
			if l.Name == o.Layer {
				layers = []Layer{l}
			}
		}
		if layers == nil {
			return nil, nil, refuse("%s has no layer %q (its layers: %s)", o.Path, o.Layer, strings.Join(names, ", "))
		}
	}
	if len(layers) == 0 {
		return nil, nil, refuse("%s holds no layers", o.Path)
	}
	for _, l := range layers {
		// GDAL 3.6's ogr2ogr and ogrinfo read a layer named "-x" as an
		// option and have no "--" to stop them.
		if strings.HasPrefix(l.Name, "-") {
			return nil, nil, refuse("%s: layer %q starts with '-', which GDAL's tools would read as an option; rename the layer", o.Path, l.Name)
		}
	}
	if len(layers) > 1 && o.Table != "" {
		return nil, nil, refuse("%s has %d layers: -table names one table, so pick one with -layer", o.Path, len(layers))
	}
	if len(layers) > 1 && o.Mode == ModeAppend {
		return nil, nil, refuse("%s has %d layers: -mode=append adds one layer to one table, so pick one with -layer", o.Path, len(layers))
	}
	tables := make([]string, len(layers))
	seen := map[string]string{}
	for i, l := range layers {
		tables[i] = TableName(l.Name)
		if o.Table != "" {
			tables[i] = o.Table
		}
		if prev, ok := seen[tables[i]]; ok {
			return nil, nil, refuse("layers %q and %q would both load into table %s: load them one at a time with -layer and -table", prev, l.Name, tables[i])
		}
		seen[tables[i]] = l.Name
	}
	return layers, tables, nil
}

// existing reports which of the tables exist in the schema, and the schema.
func existing(ctx context.Context, h *tools.Helper, db, schema string, tables []string) (map[string]bool, bool, error) {
	var lits []string
	for _, t := range tables {
		lits = append(lits, Literal(t))
	}
	rows, err := h.Query(ctx, db, fmt.Sprintf(`SELECT 's', nspname FROM pg_namespace WHERE nspname = %s
UNION ALL SELECT 't', c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname IN (%s) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')`, Literal(schema), Literal(schema), strings.Join(lits, ", ")))
	if err != nil {
		return nil, false, err
	}
	out, schemaExists := map[string]bool{}, false
	for _, r := range rows {
		if r[0] == "s" {
			schemaExists = true
		} else {
			out[r[1]] = true
		}
	}
	return out, schemaExists, nil
}

// targetSRS reads -srid's row from spatial_ref_sys.
func targetSRS(ctx context.Context, h *tools.Helper, db string, srid int) (*TargetSRS, error) {
	if srid == 0 {
		return nil, nil
	}
	rows, err := h.Query(ctx, db, fmt.Sprintf("SELECT srid, coalesce(auth_name, ''), coalesce(auth_srid, 0), coalesce(replace(replace(srtext, E'\\n', ' '), E'\\t', ' '), ''), coalesce(replace(proj4text, E'\\t', ' '), '') FROM spatial_ref_sys WHERE srid = %d", srid))
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 || len(rows[0]) < 5 {
		return nil, refuse("-srid=%d: SRID %d is not in spatial_ref_sys of the database", srid, srid)
	}
	t := &TargetSRS{SRID: srid, AuthName: rows[0][1], SRText: rows[0][3], Proj4: rows[0][4]}
	t.AuthSRID, _ = strconv.Atoi(rows[0][2])
	return t, nil
}

// matchSRID finds a custom spatial_ref_sys row whose PROJ definition is the
// source's, so a custom SRID is kept rather than added again.
func matchSRID(ctx context.Context, h *tools.Helper, db string, s *SRS) int {
	if s == nil || s.EPSG() != "" || strings.TrimSpace(s.Proj4) == "" {
		return 0
	}
	rows, err := h.Query(ctx, db, fmt.Sprintf("SELECT srid FROM spatial_ref_sys WHERE regexp_replace(trim(proj4text), '\\s+', ' ', 'g') = regexp_replace(trim(%s), '\\s+', ' ', 'g') ORDER BY srid LIMIT 1", Literal(s.Proj4)))
	if err != nil || len(rows) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(rows[0][0])
	return n
}

// tableGeometry is an existing table's geometry column (for append).
func tableGeometry(ctx context.Context, h *tools.Helper, db, schema, table string) (typ string, dims, srid int, err error) {
	rows, err := h.Query(ctx, db, fmt.Sprintf("SELECT type, coord_dimension, srid FROM geometry_columns WHERE f_table_schema = %s AND f_table_name = %s LIMIT 1", Literal(schema), Literal(table)))
	if err != nil || len(rows) == 0 {
		return "", 0, 0, err
	}
	dims, _ = strconv.Atoi(rows[0][1])
	srid, _ = strconv.Atoi(rows[0][2])
	return rows[0][0], dims, srid, nil
}

func loadVector(ctx context.Context, h *tools.Helper, src *Source, in *Inspection, o LoadOptions) ([]Loaded, error) {
	layers, tables, err := selectLayers(in, o)
	if err != nil {
		return nil, err
	}
	if err := checkUnreadable(ctx, h, src, layers, o); err != nil {
		return nil, err
	}
	if err := scanLayers(ctx, h, src, in, layers, o); err != nil {
		return nil, err
	}
	loads, schemaExists, err := planLoads(ctx, h, in, layers, tables, o)
	if err != nil {
		return nil, err
	}
	createdSchema := false
	done := false
	defer func() {
		if done {
			return
		}
		// Whatever was committed before the failure goes: the hidden tables
		// of layers already loaded, and a schema this load made.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		var b strings.Builder
		for _, l := range loads {
			if !l.Append {
				fmt.Fprintf(&b, "DROP TABLE IF EXISTS %s.%s;\n", Ident(l.Schema), Ident(l.Staging))
			}
		}
		if createdSchema {
			fmt.Fprintf(&b, "DROP SCHEMA IF EXISTS %s;\n", Ident(o.Schema))
		}
		_ = h.Exec(cctx, o.DB, b.String())
	}()
	if !schemaExists {
		if err := h.Exec(ctx, o.DB, "CREATE SCHEMA "+Ident(o.Schema)); err != nil {
			return nil, fmt.Errorf("create schema %s: %w", o.Schema, err)
		}
		createdSchema = true
	}
	maxSRID := 0
	if rows, err := h.Query(ctx, o.DB, "SELECT coalesce(max(srid), 0) FROM spatial_ref_sys"); err == nil && len(rows) > 0 {
		maxSRID, _ = strconv.Atoi(rows[0][0])
	}
	fixed, err := runLoads(ctx, h, src, in, loads, o)
	if err != nil {
		return nil, err
	}
	notes, err := geometryNotes(ctx, h, o.DB, loads)
	if err != nil {
		return nil, err
	}
	at := time.Now().UTC().Format(time.RFC3339)
	var sql strings.Builder
	for _, l := range loads {
		sql.WriteString(FinalizeSQL([]LayerLoad{l}, o.Mode, "loaded by osgs postgis:load from "+src.Path+" (layer "+l.Layer.Name+") at "+at))
	}
	if fixed && maxSRID > 0 {
		sql.WriteString(DropAddedSRSSQL(maxSRID))
	}
	if err := h.Exec(ctx, o.DB, sql.String()); err != nil {
		return nil, fmt.Errorf("put the loaded tables in place (nothing changed): %w", err)
	}
	done = true
	var out []Loaded
	for _, l := range loads {
		t, err := describe(ctx, h, o.DB, l.Schema, l.Table)
		if err != nil {
			return nil, err
		}
		t.Note = strings.Join(slices.DeleteFunc([]string{l.SRS.Note, notes[l.Staging]}, func(s string) bool { return s == "" }), "; ")
		out = append(out, *t)
	}
	return out, nil
}

// scanLayers replaces, in place, the layers whose driver reports no
// counts or types up front with a full scan of them.
func scanLayers(ctx context.Context, h *tools.Helper, src *Source, in *Inspection, layers []Layer, o LoadOptions) error {
	var scan []string
	for _, l := range layers {
		if needsScan(in.Driver, l) {
			scan = append(scan, l.Name)
		}
	}
	if len(scan) == 0 {
		return nil
	}
	scanned, err := inspect(ctx, h, src.Open, openOptions(src), scan...)
	if err != nil {
		return fmt.Errorf("%s: %w", o.Path, err)
	}
	byName := map[string]Layer{}
	for _, l := range scanned.Layers {
		byName[l.Name] = l
	}
	for i := range layers {
		if l, ok := byName[layers[i].Name]; ok {
			layers[i] = l
		}
	}
	return nil
}

// planLoads works out each layer's load (its staging table, geometry type
// and SRS, or the existing table's when appending), refusing to create a
// table that exists. It changes nothing.
func planLoads(ctx context.Context, h *tools.Helper, in *Inspection, layers []Layer, tables []string, o LoadOptions) (loads []LayerLoad, schemaExists bool, err error) {
	exists, schemaExists, err := existing(ctx, h, o.DB, o.Schema, tables)
	if err != nil {
		return nil, false, err
	}
	for _, t := range tables {
		if exists[t] && o.Mode == ModeCreate {
			return nil, false, refuse("table %s.%s already exists: -mode=append adds to it, -mode=replace -yes replaces it", o.Schema, t)
		}
	}
	target, err := targetSRS(ctx, h, o.DB, o.SRID)
	if err != nil {
		return nil, false, err
	}
	id := strconv.FormatInt(time.Now().UnixNano(), 36)
	for i, l := range layers {
		ll := LayerLoad{Layer: l, Schema: o.Schema, Table: tables[i], Staging: fmt.Sprintf("%s%s_%d", stagingPrefix, id, i)}
		ll.NLT, ll.Dim = ColumnType(l)
		ll.SRS = ChooseSRS(in.Driver, l.SRS, target, matchSRID(ctx, h, o.DB, l.SRS))
		if o.Mode == ModeAppend && exists[tables[i]] {
			if err := planAppend(ctx, h, in, &ll, o); err != nil {
				return nil, false, err
			}
		}
		loads = append(loads, ll)
	}
	return loads, schemaExists, nil
}

// planAppend makes ll an append to its existing table, in that table's
// geometry type and SRID.
func planAppend(ctx context.Context, h *tools.Helper, in *Inspection, ll *LayerLoad, o LoadOptions) error {
	ll.Append = true
	typ, dims, srid, err := tableGeometry(ctx, h, o.DB, o.Schema, ll.Table)
	if err != nil {
		return err
	}
	if typ == "" {
		ll.NLT = ""
		return nil
	}
	ll.NLT, ll.Dim = appendType(typ, dims)
	if srid > 0 && srid != ll.SRS.SRID {
		t, err := targetSRS(ctx, h, o.DB, srid)
		if err != nil {
			return err
		}
		ll.SRS = ChooseSRS(in.Driver, ll.Layer.SRS, t, 0)
	}
	ll.SRS.Args = dropLCO(ll.SRS.Args)
	return nil
}

// runLoads runs ogr2ogr for each load into its staging table (or the
// appended table), and reports whether a layer's SRID needs fixing after
// GDAL added a spatial_ref_sys entry of its own.
func runLoads(ctx context.Context, h *tools.Helper, src *Source, in *Inspection, loads []LayerLoad, o LoadOptions) (fixed bool, err error) {
	preserve := in.Driver == "GPKG" || in.Driver == "OpenFileGDB"
	for i := range loads {
		l := &loads[i]
		argv := Ogr2ogrArgs(loadOpenOptions(src, o), src.Open, tools.Conninfo(o.DB), *l, preserve)
		if o.KeepInvalid && l.Append {
			argv = append(argv, "-addfields") // the kept text's column
		}
		o.Progress.Step(fmt.Sprintf("load %s into %s.%s", l.Layer.Name, l.Schema, l.Table))
		var errb bytes.Buffer
		gp := &gdalProgress{p: o.Progress, total: l.Layer.Count, unit: "features"}
		if err := h.Run(ctx, argv, nil, gp, &errb); err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			return false, fmt.Errorf("load layer %s: %s", l.Layer.Name, gdalError(errb.String(), err))
		}
		if msg := gdalFailure(errb.String()); msg != "" {
			return false, fmt.Errorf("load layer %s: %s", l.Layer.Name, msg)
		}
		o.Progress.Done(fmt.Sprintf("%d features", l.Layer.Count))
		if l.SRS.SRID > 0 && !l.Append && l.NLT != "NONE" {
			rows, err := h.Query(ctx, o.DB, fmt.Sprintf("SELECT srid FROM geometry_columns WHERE f_table_schema = %s AND f_table_name = %s", Literal(l.Schema), Literal(l.Staging)))
			if err != nil {
				return false, err
			}
			if len(rows) > 0 && rows[0][0] != strconv.Itoa(l.SRS.SRID) {
				l.FixSRID, fixed = l.SRS.SRID, true
			}
		}
	}
	return fixed, nil
}

// appendType is the -nlt/-dim that converts features to an existing
// column's type.
func appendType(typ string, dims int) (string, string) {
	base := strings.TrimSuffix(strings.ToUpper(typ), "M")
	dim := "XY"
	switch {
	case dims == 4:
		dim = "XYZM"
	case dims == 3 && strings.HasSuffix(strings.ToUpper(typ), "M") && base != "GEOMETRY":
		dim = "XYM"
	case dims == 3:
		dim = "XYZ"
	}
	return base, dim
}

// dropLCO removes -lco pairs, which an append (no layer creation) ignores.
func dropLCO(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] == "-lco" {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}

// describe reads what a loaded table holds.
func describe(ctx context.Context, h *tools.Helper, db, schema, table string) (*Loaded, error) {
	q := fmt.Sprintf(`WITH g AS (SELECT f_geometry_column AS col, type, coord_dimension, srid FROM geometry_columns WHERE f_table_schema = %[1]s AND f_table_name = %[2]s LIMIT 1)
SELECT coalesce((SELECT type || CASE WHEN coord_dimension = 3 AND type NOT LIKE '%%M' THEN ' Z' WHEN coord_dimension = 4 THEN ' ZM' ELSE '' END FROM g), 'none'),
       coalesce((SELECT srid FROM g), 0), coalesce((SELECT col FROM g), '')`, Literal(schema), Literal(table))
	rows, err := h.Query(ctx, db, q)
	if err != nil || len(rows) == 0 {
		return nil, fmt.Errorf("describe %s.%s: %v", schema, table, err)
	}
	t := &Loaded{Schema: schema, Table: table, Geometry: rows[0][0]}
	t.SRID, _ = strconv.Atoi(rows[0][1])
	col := rows[0][2]
	// One scan for the count and the extent.
	ext := "''"
	if col != "" {
		ext = fmt.Sprintf("coalesce((SELECT concat_ws(' ', round(ST_XMin(e)::numeric, 6), round(ST_YMin(e)::numeric, 6), round(ST_XMax(e)::numeric, 6), round(ST_YMax(e)::numeric, 6)) FROM (SELECT ST_Extent(%s)::box2d AS e) x), '')", Ident(col))
	}
	rows, err = h.Query(ctx, db, fmt.Sprintf("SELECT count(*), %s FROM %s.%s", ext, Ident(schema), Ident(table)))
	if err != nil || len(rows) == 0 {
		return nil, fmt.Errorf("describe %s.%s: %v", schema, table, err)
	}
	t.Features, _ = strconv.ParseInt(rows[0][0], 10, 64)
	if len(rows[0]) > 1 {
		t.Extent = rows[0][1]
	}
	return t, nil
}

// gdalError is the first GDAL ERROR line of stderr, or err.
func gdalError(stderr string, err error) string {
	if msg := gdalFailure(stderr); msg != "" {
		return msg
	}
	var x *engine.ExitError
	if errors.As(err, &x) {
		return fmt.Sprintf("ogr2ogr exited with code %d", x.Code)
	}
	return err.Error()
}

// gdalFailure finds "ERROR n: ..." in GDAL's stderr: ogr2ogr can exit 0
// after a failed closing statement, so stderr is read even on success.
func gdalFailure(stderr string) string {
	var msgs []string
	for _, l := range strings.Split(stderr, "\n") {
		switch {
		case strings.HasPrefix(l, "ERROR:"), strings.HasPrefix(l, "CONTEXT:"):
			// PostgreSQL's own words, passed on by GDAL: the cause.
			msgs = append(msgs, strings.TrimSpace(l))
		case strings.HasPrefix(l, "ERROR "):
			if i := strings.Index(l, ": "); i >= 0 {
				l = l[i+2:]
			}
			l = strings.TrimSpace(l)
			if strings.HasPrefix(l, "ERROR:") && strings.Contains(l, "does not exist") && len(msgs) > 0 {
				continue // the aborted transaction's follow-on
			}
			msgs = append(msgs, l)
		}
	}
	if len(msgs) == 0 {
		return ""
	}
	msgs = slices.Compact(msgs)
	if len(msgs) > 3 {
		msgs = msgs[:3]
	}
	return strings.Join(strings.Fields(strings.Join(msgs, "; ")), " ")
}
