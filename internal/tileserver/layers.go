// Package tileserver serves Mapbox vector tiles (MVT) and a TileJSON per
// layer straight from PostGIS, for the tables and views of one schema. It
// discovers that schema's geometry columns on every index request, so a
// table the admin adds to the schema is served without a restart, and it
// logs in as a role that can read that schema and nothing else. Tiles are
// made by PostGIS itself (ST_TileEnvelope, ST_AsMVTGeom, ST_AsMVT).
//
// The SQL is built by pure functions (tested in layers_test.go); the HTTP
// handlers are in server.go.
package tileserver

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Layer is one geometry column of a published table or view.
type Layer struct {
	ID       string // URL name: the table, or table.column when it has several geometry columns
	Schema   string
	Table    string
	Geometry string // geometry column
	SRID     int    // 0 when the column does not declare one (a view)
	Type     string // declared geometry type, GEOMETRY when mixed
	Key      string // integer primary key used as the MVT feature id; empty when none
	Fields   []Field
}

// Field is one attribute column carried into the tiles.
type Field struct {
	Name   string
	Type   string // "Number", "Boolean" or "String", as TileJSON's vector_layers say
	PGType string // the column's PostgreSQL type
}

// discoverSQL lists the geometry columns of schema $1 that the role may
// read, with their attribute columns and an integer primary key.
const discoverSQL = `
SELECT c.relname, a.attname, coalesce(postgis_typmod_srid(a.atttypmod), 0), coalesce(nullif(postgis_typmod_type(a.atttypmod), ''), 'GEOMETRY'),
  coalesce((SELECT k.attname FROM pg_index i JOIN pg_attribute k ON k.attrelid = i.indrelid AND k.attnum = i.indkey[0]
            WHERE i.indrelid = c.oid AND i.indisprimary AND i.indnatts = 1 AND k.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)), ''),
  coalesce((SELECT json_agg(json_build_array(f.attname, f.atttypid::regtype::text) ORDER BY f.attnum)
            FROM pg_attribute f
            WHERE f.attrelid = c.oid AND f.attnum > 0 AND NOT f.attisdropped
              AND f.atttypid NOT IN ('geometry'::regtype, 'bytea'::regtype)
              AND f.atttypid::regtype::text NOT IN ('geography', 'raster')), '[]')::text
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.atttypid = 'geometry'::regtype
WHERE n.nspname = $1 AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
  AND has_table_privilege(c.oid, 'SELECT')
ORDER BY c.relname, a.attnum`

// Discover lists the layers of schema.
func Discover(ctx context.Context, q Querier, schema string) ([]Layer, error) {
	rows, err := q.Query(ctx, discoverSQL, schema)
	if err != nil {
		return nil, fmt.Errorf("list the layers of schema %s: %w", schema, err)
	}
	type row struct {
		table, geom, typ, key, fields string
		srid                          int
	}
	var found []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.table, &r.geom, &r.srid, &r.typ, &r.key, &r.fields); err != nil {
			return nil, err
		}
		found = append(found, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the layers of schema %s: %w", schema, err)
	}
	geoms := map[string]int{}
	for _, r := range found {
		geoms[r.table]++
	}
	layers := make([]Layer, 0, len(found))
	for _, r := range found {
		l := Layer{ID: r.table, Schema: schema, Table: r.table, Geometry: r.geom, SRID: r.srid, Type: strings.ToUpper(r.typ), Key: r.key}
		if geoms[r.table] > 1 {
			l.ID = r.table + "." + r.geom
		}
		var err error
		if l.Fields, err = parseFields(r.fields); err != nil {
			return nil, fmt.Errorf("layer %s: %w", l.ID, err)
		}
		layers = append(layers, l)
	}
	sort.SliceStable(layers, func(i, j int) bool { return layers[i].ID < layers[j].ID })
	return layers, nil
}

// Querier is what the server needs of a pool or connection.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// fieldType maps a PostgreSQL type to TileJSON's attribute types.
func fieldType(pg string) string {
	switch pg {
	case "smallint", "integer", "bigint", "real", "double precision", "numeric":
		return "Number"
	case "boolean":
		return "Boolean"
	}
	return "String"
}

// tileExpr is the select-list expression that carries a column into a
// tile: integers, floats and booleans as they are, numeric as a double,
// everything else as its text (ST_AsMVT has no MVT value for json, arrays,
// dates and the like).
func tileExpr(f Field) string {
	if f.Type == "String" {
		return fmt.Sprintf("t.%s::text AS %[1]s", quoteIdent(f.Name))
	}
	if f.PGType == "numeric" {
		return fmt.Sprintf("t.%s::float8 AS %[1]s", quoteIdent(f.Name))
	}
	return "t." + quoteIdent(f.Name)
}

// TileSQL is the query that makes one tile of l at z/x/y ($1, $2, $3), in
// Web Mercator with the given extent and buffer (in tile units). Rows are
// found through the geometry's index with the tile's envelope (and buffer)
// in the layer's SRID; they are clipped there first, so a large polygon is
// not transformed whole. srid is the layer's SRID, detected for views.
func TileSQL(l Layer, srid, extent, buffer int) string {
	cols := []string{}
	for _, f := range l.Fields {
		if f.Name == l.Key {
			cols = append(cols, "t."+quoteIdent(f.Name))
			continue
		}
		cols = append(cols, tileExpr(f))
	}
	g := "t." + quoteIdent(l.Geometry)
	env := "m"
	src := g
	if srid != 3857 {
		env = fmt.Sprintf("ST_Transform(m, %d)", srid)
		src = fmt.Sprintf("ST_Transform(ST_ClipByBox2D(%s, e.s), 3857)", g)
	}
	keyArg := ""
	if l.Key != "" {
		keyArg = ", " + quoteLiteral(l.Key)
	}
	sel := strings.Join(append([]string{fmt.Sprintf("ST_AsMVTGeom(%s, e.b, %d, %d, true) AS %s", src, extent, buffer, quoteIdent(mvtGeom))}, cols...), ", ")
	return fmt.Sprintf(`WITH e0 AS (SELECT ST_TileEnvelope($1, $2, $3) AS b, ST_TileEnvelope($1, $2, $3, margin => %g) AS m),
e AS (SELECT b, m, %s AS s FROM e0)
SELECT ST_AsMVT(q, %s, %d, %s%s) FROM (
  SELECT %s
  FROM %s.%s t, e
  WHERE %s && e.s
) q WHERE q.%s IS NOT NULL`,
		float64(buffer)/float64(extent), env, quoteLiteral(l.ID), extent, quoteLiteral(mvtGeom), keyArg,
		sel, quoteIdent(l.Schema), quoteIdent(l.Table), g, quoteIdent(mvtGeom))
}

// mvtGeom names the tile geometry column; it cannot clash with a table's
// own column, which the subquery selects under its own name.
const mvtGeom = "__osgs_mvt_geom"

// SRIDSQL finds the SRID of a layer that does not declare one (a view):
// the SRID of its first row.
func SRIDSQL(l Layer) string {
	return fmt.Sprintf("SELECT ST_SRID(%s) FROM %s.%s WHERE %[1]s IS NOT NULL LIMIT 1", quoteIdent(l.Geometry), quoteIdent(l.Schema), quoteIdent(l.Table))
}

// BoundsSQL is the layer's extent in longitude and latitude: the planner's
// estimate when the table has statistics, else the exact extent.
func BoundsSQL(l Layer) string {
	est := "NULL::box2d"
	if l.SRID != 0 {
		est = fmt.Sprintf("ST_EstimatedExtent(%s, %s, %s)", quoteLiteral(l.Schema), quoteLiteral(l.Table), quoteLiteral(l.Geometry))
	}
	return fmt.Sprintf(`WITH x AS (SELECT coalesce(%s, (SELECT ST_Extent(%s) FROM %s.%s)) AS b, %s AS srid)
SELECT ST_XMin(g), ST_YMin(g), ST_XMax(g), ST_YMax(g) FROM (
  SELECT ST_Transform(ST_SetSRID(b::geometry, srid), 4326) AS g FROM x WHERE b IS NOT NULL AND srid > 0) y`,
		est, quoteIdent(l.Geometry), quoteIdent(l.Schema), quoteIdent(l.Table), sridOf(l))
}

func sridOf(l Layer) string {
	if l.SRID != 0 {
		return fmt.Sprint(l.SRID)
	}
	return fmt.Sprintf("(%s)", SRIDSQL(l))
}

func parseFields(js string) ([]Field, error) {
	var raw [][2]string
	if err := json.Unmarshal([]byte(js), &raw); err != nil {
		return nil, fmt.Errorf("columns %q: %w", js, err)
	}
	out := make([]Field, 0, len(raw))
	for _, r := range raw {
		out = append(out, Field{Name: r[0], Type: fieldType(r[1]), PGType: r[1]})
	}
	return out, nil
}

func quoteIdent(s string) string   { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
