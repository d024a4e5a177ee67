package gisdata

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Mode says what a load does with an existing table.
type Mode string

const (
	// ModeCreate makes a new table and refuses an existing one.
	ModeCreate Mode = "create"
	// ModeAppend adds the features to an existing table (made if missing),
	// in one transaction.
	ModeAppend Mode = "append"
	// ModeReplace builds a new table beside the old one and swaps them in
	// one transaction; it needs -yes.
	ModeReplace Mode = "replace"
)

// ParseMode reads -mode; empty is create.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "", ModeCreate:
		return ModeCreate, nil
	case ModeAppend, ModeReplace:
		return Mode(s), nil
	}
	return "", refuse("-mode=%s: must be create, append or replace", s)
}

// CSVOpenOptions let GDAL find a CSV's geometry in a WKT column or in X/Y
// (longitude/latitude) columns, under their usual names, and type the
// other columns by their content.
var CSVOpenOptions = []string{
	"GEOM_POSSIBLE_NAMES=wkt,geom,geometry,the_geom,wkb_geometry,shape",
	"X_POSSIBLE_NAMES=x,lon,lng,long,longitude,easting",
	"Y_POSSIBLE_NAMES=y,lat,latitude,northing",
	"Z_POSSIBLE_NAMES=z,elevation,height,altitude",
	"KEEP_GEOM_COLUMNS=NO",
	"AUTODETECT_TYPE=YES",
}

// CSVXYOpenOptions are those for a CSV whose points are in X/Y columns:
// GDAL 3.6 loses such a geometry on its way into PostgreSQL when it also
// detects the column types (ogr2ogr made a table without geometry here),
// so the other columns stay text.
var CSVXYOpenOptions = CSVOpenOptions[:len(CSVOpenOptions)-1]

// openOptions are the GDAL open options for a source.
func openOptions(s *Source) []string {
	if s.Format == "CSV" {
		if s.CSVWKT != "" {
			return CSVOpenOptions
		}
		return CSVXYOpenOptions
	}
	return nil
}

// untrustedType lists drivers whose declared geometry type does not bound
// what the features hold (a "Polygon" shapefile may hold MultiPolygons), so
// the layer is scanned for its real types before the table is made.
// (GeoJSON's reader already reads every feature to declare the type, and
// declares Unknown for a mix.)
var untrustedType = map[string]bool{
	"ESRI Shapefile": true, "CSV": true, "KML": true, "LIBKML": true, "GML": true,
}

// needsScan says whether a layer's geometry types must be read feature by
// feature to choose its column type.
func needsScan(driver string, l Layer) bool {
	if l.Flat == "None" {
		return false
	}
	return untrustedType[driver] || geomName(l.Flat) == "GEOMETRY" || geomName(l.Flat) == "GEOMETRYCOLLECTION"
}

// geomName turns OGR's type name ("Multi Polygon") into the SQL/ogr2ogr
// one ("MULTIPOLYGON").
func geomName(ogr string) string {
	switch s := strings.ToUpper(strings.ReplaceAll(ogr, " ", "")); s {
	case "UNKNOWN(ANY)", "UNKNOWN", "":
		return "GEOMETRY"
	default:
		return s
	}
}

// families are the Multi type that holds each set of types, in order of
// preference: the smallest that covers every type a layer holds.
var families = []struct {
	multi string
	holds []string
}{
	{"MULTIPOINT", []string{"POINT", "MULTIPOINT"}},
	{"MULTILINESTRING", []string{"LINESTRING", "MULTILINESTRING"}},
	{"MULTIPOLYGON", []string{"POLYGON", "MULTIPOLYGON"}},
	{"MULTICURVE", []string{"LINESTRING", "MULTILINESTRING", "CIRCULARSTRING", "COMPOUNDCURVE", "MULTICURVE"}},
	{"MULTISURFACE", []string{"POLYGON", "MULTIPOLYGON", "CURVEPOLYGON", "MULTISURFACE"}},
}

// ColumnType chooses the geometry column's type and dimension for a layer:
// the one type it holds, or the Multi type that holds a mix (Polygon and
// MultiPolygon become MultiPolygon), or GEOMETRY for unrelated types. NONE
// is a table without geometry.
func ColumnType(l Layer) (nlt, dim string) {
	dim = "XY"
	switch {
	case l.Z && l.M:
		dim = "XYZM"
	case l.Z:
		dim = "XYZ"
	case l.M:
		dim = "XYM"
	}
	if l.Flat == "None" {
		return "NONE", dim
	}
	types := map[string]bool{}
	for _, t := range l.Types {
		types[geomName(t)] = true
	}
	if l.Types == nil {
		types[geomName(l.Flat)] = true
	}
	if len(types) == 0 { // scanned, and every geometry is NULL
		return geomName(l.Flat), dim
	}
	if len(types) == 1 {
		for t := range types {
			return t, dim
		}
	}
	for _, f := range families {
		all := true
		for t := range types {
			if !contains(f.holds, t) {
				all = false
			}
		}
		if all {
			return f.multi, dim
		}
	}
	return "GEOMETRY", dim
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

var nonIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// TableName makes a PostgreSQL table name of a layer name: lower case,
// letters, digits and underscores, not starting with a digit, at most 63
// bytes (what ogr2ogr's laundering would make of it, and easy to type).
func TableName(layer string) string {
	s := strings.Trim(nonIdent.ReplaceAllString(strings.ToLower(layer), "_"), "_")
	if s == "" {
		s = "layer"
	}
	if s[0] >= '0' && s[0] <= '9' {
		s = "t_" + s
	}
	if len(s) > 63 {
		s = s[:63]
	}
	return s
}

// Ident quotes a SQL identifier.
func Ident(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Literal quotes a SQL string literal.
func Literal(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

// SRSChoice is how the loaded geometries get their SRID.
type SRSChoice struct {
	Args []string // ogr2ogr arguments: -t_srs/-a_srs and -lco SRID=
	SRID int      // the table's SRID, 0 when GDAL assigns it
	Note string   // said to the user (an assumed CRS)
}

// TargetSRS is a spatial_ref_sys row a load reprojects to (-srid).
type TargetSRS struct {
	SRID     int
	AuthName string
	AuthSRID int
	SRText   string
	Proj4    string
}

// Definition is what GDAL is given for the target CRS: EPSG:n when the row
// is EPSG's own, else its WKT (or PROJ string), so custom SRIDs work.
func (t TargetSRS) Definition() string {
	if strings.EqualFold(t.AuthName, "EPSG") && t.AuthSRID > 0 {
		return "EPSG:" + strconv.Itoa(t.AuthSRID)
	}
	if t.SRText != "" {
		return t.SRText
	}
	return t.Proj4
}

// ChooseSRS decides the SRID: reproject to target when -srid was given (or
// assign it, for a source without a CRS); keep the source's EPSG code or a
// custom SRID whose definition matches (matchSRID); assume WGS 84 for a CSV
// without one.
func ChooseSRS(driver string, src *SRS, target *TargetSRS, matchSRID int) SRSChoice {
	if target != nil {
		flag := "-t_srs"
		if src == nil {
			flag = "-a_srs"
		}
		return SRSChoice{Args: []string{flag, target.Definition()}, SRID: target.SRID}
	}
	if src == nil {
		if driver == "CSV" {
			return SRSChoice{Args: []string{"-a_srs", "EPSG:4326"}, SRID: 4326,
				Note: "the CSV names no coordinate system: assuming longitude/latitude in WGS 84 (EPSG:4326); give -srid=N for another"}
		}
		return SRSChoice{Note: "the source names no coordinate system: SRID 0; give -srid=N to assign one"}
	}
	if code, err := strconv.Atoi(src.EPSG()); err == nil && code > 0 {
		return SRSChoice{SRID: code}
	}
	if matchSRID > 0 {
		return SRSChoice{SRID: matchSRID}
	}
	return SRSChoice{Note: "the source's coordinate system has no EPSG code: GDAL adds it to spatial_ref_sys"}
}

// LayerLoad is one layer's ogr2ogr run into a hidden table.
type LayerLoad struct {
	Layer   Layer
	Schema  string
	Table   string // the final name
	Staging string // the hidden name it is loaded under
	NLT     string
	Dim     string
	SRS     SRSChoice
	// Append loads into the existing Table itself, in one transaction.
	Append bool
	// FixSRID is the SRID the geometries must get when GDAL chose another
	// (a custom coordinate system, which GDAL matches by its full WKT only
	// and so adds again to spatial_ref_sys). 0: GDAL's is right.
	FixSRID int
}

// Ogr2ogrArgs is the argv of one layer's load. The whole layer is one
// transaction (PRELUDE_STATEMENTS=BEGIN, and COMMIT closing it after the
// spatial index is built), so a failure or a kill leaves nothing.
func Ogr2ogrArgs(oo []string, open, conninfo string, l LayerLoad, preserveFID bool) []string {
	argv := []string{"ogr2ogr", "-f", "PostgreSQL", "PG:" + conninfo, open}
	for _, o := range oo {
		argv = append(argv, "-oo", o)
	}
	// -update opens the database rather than "creating" it, which is what
	// makes ogr2ogr pass the -doo open options on.
	argv = append(argv, l.Layer.Name, "-update", "--config", "PG_USE_COPY", "YES", "-progress",
		"-doo", "PRELUDE_STATEMENTS=BEGIN")
	if l.Append {
		argv = append(argv, "-append", "-lco", "SCHEMA="+l.Schema, "-nln", l.Table,
			"-doo", "CLOSING_STATEMENTS=COMMIT")
	} else {
		argv = append(argv, "-lco", "SCHEMA="+l.Schema, "-nln", l.Staging,
			"-lco", "GEOMETRY_NAME=geom", "-lco", "FID=fid", "-lco", "SPATIAL_INDEX=NONE",
			"-lco", "LAUNDER=YES", "-lco", "PRECISION=NO")
		closing := "COMMIT"
		if l.NLT != "NONE" {
			closing = fmt.Sprintf("CREATE INDEX %s ON %s.%s USING gist (geom); COMMIT",
				Ident(l.Staging+"_geom_idx"), Ident(l.Schema), Ident(l.Staging))
		}
		argv = append(argv, "-doo", "CLOSING_STATEMENTS="+closing)
		if preserveFID {
			argv = append(argv, "-preserve_fid")
		}
	}
	if l.NLT != "" {
		argv = append(argv, "-nlt", l.NLT, "-dim", l.Dim)
	}
	return append(argv, l.SRS.Args...)
}

// FinalizeSQL renames the loaded hidden tables into place, in one
// transaction: for replace it drops the old table first (a view that
// depends on it makes the whole swap fail, changing nothing); the indexes
// and sequences take the table's name; the table is commented with the
// load and analyzed.
func FinalizeSQL(loads []LayerLoad, mode Mode, comment string) string {
	var b strings.Builder
	for _, l := range loads {
		if l.Append {
			fmt.Fprintf(&b, "ANALYZE %s.%s;\n", Ident(l.Schema), Ident(l.Table))
			continue
		}
		if l.FixSRID > 0 {
			fmt.Fprintf(&b, "SELECT UpdateGeometrySRID(%s, %s, 'geom', %d);\n", Literal(l.Schema), Literal(l.Staging), l.FixSRID)
		}
		if mode == ModeReplace {
			fmt.Fprintf(&b, "DROP TABLE IF EXISTS %s.%s;\n", Ident(l.Schema), Ident(l.Table))
		}
		fmt.Fprintf(&b, "ALTER TABLE %s.%s RENAME TO %s;\n", Ident(l.Schema), Ident(l.Staging), Ident(l.Table))
		fmt.Fprintf(&b, `DO $osgs$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.relname, c.relkind FROM pg_class c
    WHERE c.relnamespace = %[1]s::regnamespace AND c.relname LIKE %[2]s AND c.relkind IN ('i', 'S')
      AND (c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = %[3]s::regclass)
        OR c.oid IN (SELECT objid FROM pg_depend WHERE refobjid = %[3]s::regclass AND deptype = 'a'))
  LOOP
    EXECUTE format('ALTER %%s %%I.%%I RENAME TO %%I', CASE r.relkind WHEN 'i' THEN 'INDEX' ELSE 'SEQUENCE' END,
      %[4]s, r.relname, left(%[5]s || substr(r.relname, %[6]d), 63));
  END LOOP;
END $osgs$;
`, Literal(Ident(l.Schema)), Literal(l.Staging+"%"), Literal(Ident(l.Schema)+"."+Ident(l.Table)),
			Literal(l.Schema), Literal(l.Table), len(l.Staging)+1)
		fmt.Fprintf(&b, "COMMENT ON TABLE %s.%s IS %s;\n", Ident(l.Schema), Ident(l.Table), Literal(comment))
		fmt.Fprintf(&b, "ANALYZE %s.%s;\n", Ident(l.Schema), Ident(l.Table))
	}
	return b.String()
}

// DropAddedSRSSQL removes the spatial_ref_sys rows GDAL added during a load
// (above maxBefore) that no geometry or raster column uses any more, once
// the SRIDs were set right.
func DropAddedSRSSQL(maxBefore int) string {
	return fmt.Sprintf(`DELETE FROM spatial_ref_sys s WHERE s.srid > %d
  AND NOT EXISTS (SELECT 1 FROM geometry_columns g WHERE g.srid = s.srid)
  AND NOT EXISTS (SELECT 1 FROM raster_columns r WHERE r.srid = s.srid);
`, maxBefore)
}
