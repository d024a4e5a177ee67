package backup

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"strings"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/pgdump"
	"github.com/osgs/osgs/internal/postgis"
)

// geomDigestSQL is the per-column digest: the sum of the first 60 bits of the
// md5 of each geometry's EWKB, and the count (%1$I: the column, %2$I.%3$I:
// the table). pgdump.ScanArchive computes the same from a dump's COPY data.
const geomDigestSQL = `SELECT coalesce(sum((''x'' || substr(md5(ST_AsEWKB(%1$I)), 1, 15))::bit(60)::bigint), 0)::text || '':'' || count(%1$I) AS c FROM %2$I.%3$I`

// countSQL counts a table's rows (%1$I.%2$I).
const countSQL = `SELECT count(*) AS c FROM %1$I.%2$I`

// geometryColumnsSQL lists geometry_columns; backup and verify must list alike.
const geometryColumnsSQL = `'geometry_columns', (SELECT coalesce(json_agg(f_table_schema || '.' || f_table_name || '.' || f_geometry_column || ' ' || type || ' ' || srid || ' ' || coord_dimension
     ORDER BY f_table_schema, f_table_name, f_geometry_column), '[]') FROM geometry_columns)`

// customSRIDsSQL lists the user's own spatial reference systems.
const customSRIDsSQL = `'custom_srids', (SELECT coalesce(json_agg(srid ORDER BY srid), '[]') FROM spatial_ref_sys
   WHERE auth_name IS DISTINCT FROM 'EPSG' AND auth_name IS DISTINCT FROM 'ESRI')`

// statsSQL returns DBStats as one line of JSON, every figure read in SQL.
// backup:verify reads a restored database with it.
const statsSQL = `SELECT json_build_object(
 'tables', (SELECT coalesce(json_object_agg(schemaname || '.' || tablename,
     (xpath('/row/c/text()', query_to_xml(format('` + countSQL + `', schemaname, tablename), false, true, '')))[1]::text::bigint), '{}')
   FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')),
 'extensions', (SELECT coalesce(json_object_agg(extname, extversion), '{}') FROM pg_extension),
` + geometryColumnsSQL + `,
` + customSRIDsSQL + `,
 'geometry_md5', (SELECT coalesce(json_object_agg(f_table_schema || '.' || f_table_name || '.' || f_geometry_column,
     (xpath('/row/c/text()', query_to_xml(format('` + geomDigestSQL + `',
       f_geometry_column, f_table_schema, f_table_name), false, true, '')))[1]::text), '{}')
   FROM geometry_columns)
)`

// statsSQLNoPostGIS is used where the postgis extension is absent.
const statsSQLNoPostGIS = `SELECT json_build_object(
 'tables', (SELECT coalesce(json_object_agg(schemaname || '.' || tablename,
     (xpath('/row/c/text()', query_to_xml(format('` + countSQL + `', schemaname, tablename), false, true, '')))[1]::text::bigint), '{}')
   FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')),
 'extensions', (SELECT coalesce(json_object_agg(extname, extversion), '{}') FROM pg_extension),
 'geometry_columns', '[]'::json, 'geometry_md5', '{}'::json)`

// session is a psql process held open in the PostGIS container, fed
// statements one at a time; each statement must print exactly one line.
type session struct {
	in   *io.PipeWriter
	out  *bufio.Reader
	done chan error
}

func openSession(ctx context.Context, e *engine.Engine, id, db string) *session {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	s := &session{in: inW, out: bufio.NewReaderSize(outR, 1<<16), done: make(chan error, 1)}
	argv := postgis.PsqlArgs(postgis.Load(e), db, "-v", "ON_ERROR_STOP=1", "-qAt")
	go func() {
		err := e.Exec(ctx, id, argv, engine.ExecOptions{User: postgis.OSUser, Stdin: inR, Stdout: outW})
		outW.CloseWithError(fmt.Errorf("psql session ended: %v", err))
		s.done <- err
	}()
	return s
}

// line sends one statement and reads its one-line result.
func (s *session) line(sql string) (string, error) {
	if _, err := io.WriteString(s.in, strings.ReplaceAll(sql, "\n", " ")+";\n"); err != nil {
		return "", err
	}
	l, err := s.out.ReadString('\n')
	return strings.TrimSuffix(l, "\n"), err
}

func (s *session) exec(sql string) error {
	_, err := io.WriteString(s.in, sql+";\n")
	return err
}

// close ends the session and waits for psql.
func (s *session) close() error {
	s.in.Close()
	return <-s.done
}

// snapshotSession opens a read-only repeatable-read transaction and exports
// its snapshot, so pg_dump and the stats see the same data.
func snapshotSession(ctx context.Context, e *engine.Engine, id, db string) (*session, string, error) {
	s := openSession(ctx, e, id, db)
	if err := s.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
		s.close()
		return nil, "", err
	}
	snap, err := s.line("SELECT pg_export_snapshot()")
	if err != nil || snap == "" {
		s.close()
		return nil, "", fmt.Errorf("export snapshot of %s: %v", db, err)
	}
	return s, snap, nil
}

// readStats runs the stats query in the session.
func readStats(s *session) (*DBStats, error) {
	var st DBStats
	if err := s.queryJSON(statsSQL, statsSQLNoPostGIS, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// queryJSON decodes into v the one line of JSON that a query prints: q, or
// noPostGIS in a database without the postgis extension.
func (s *session) queryJSON(q, noPostGIS string, v any) error {
	if q != noPostGIS {
		has, err := s.line("SELECT count(*) FROM pg_extension WHERE extname = 'postgis'")
		if err != nil {
			return err
		}
		if has != "1" {
			q = noPostGIS
		}
	}
	l, err := s.line(q)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(l), v); err != nil {
		return fmt.Errorf("stats: %v", err)
	}
	return nil
}

// At backup time the stats are read in three steps, all in the dump's
// snapshot: a catalog query before the dump (statsPlan), a scan of the dump
// as it streams (pgdump.ScanArchive: row counts and geometry digests of every table
// pg_dump copies whole), and SQL after the dump for the rest (extension
// configuration tables, which pg_dump copies only in part; generated
// geometry columns, which COPY leaves out; everything, if the archive could
// not be scanned). Reading every geometry a second time in SQL, as statsSQL
// does, costs more than the dump itself.

// statsPlan is what the catalog says before the dump.
type statsPlan struct {
	Tables         []planTable       `json:"tables"`
	Geometry       []planGeom        `json:"geometry"`
	Extensions     map[string]string `json:"extensions"`
	GeometryColumn []string          `json:"geometry_columns"`
	CustomSRIDs    []int             `json:"custom_srids"`
}

type planTable struct {
	OID    uint32 `json:"oid"`
	Name   string `json:"name"`   // schema.table
	Config bool   `json:"config"` // an extension's configuration table
}

type planGeom struct {
	OID    uint32 `json:"oid"`
	Num    int    `json:"num"`
	Table  string `json:"table"` // schema.table
	Column string `json:"column"`
}

// planTablesSQL lists the ordinary tables whose rows backups count, with
// whether an extension owns them as configuration. Partitioned tables are
// counted through their partitions, and temporary tables belong to other
// sessions.
const planTablesSQL = `'tables', (SELECT coalesce(json_agg(json_build_object('oid', c.oid::bigint, 'name', n.nspname || '.' || c.relname,
     'config', EXISTS (SELECT 1 FROM pg_extension x WHERE c.oid = ANY (x.extconfig))) ORDER BY n.nspname, c.relname), '[]')
   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind = 'r' AND c.relpersistence <> 't' AND n.nspname NOT IN ('pg_catalog', 'information_schema')),
 'extensions', (SELECT coalesce(json_object_agg(extname, extversion), '{}') FROM pg_extension)`

// planSQL is the plan of a database with PostGIS.
const planSQL = `SELECT json_build_object(` + planTablesSQL + `,
` + geometryColumnsSQL + `,
` + customSRIDsSQL + `,
 'geometry', (SELECT coalesce(json_agg(json_build_object('oid', c.oid::bigint, 'num', a.attnum, 'table', n.nspname || '.' || c.relname, 'column', a.attname)
     ORDER BY n.nspname, c.relname, a.attnum), '[]')
   FROM geometry_columns g JOIN pg_namespace n ON n.nspname = g.f_table_schema
   JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = g.f_table_name
   JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = g.f_geometry_column
   WHERE c.relkind = 'r' AND c.relpersistence <> 't'))`

// planSQLNoPostGIS is the plan of a database without PostGIS.
const planSQLNoPostGIS = `SELECT json_build_object(` + planTablesSQL + `, 'geometry_columns', '[]'::json, 'geometry', '[]'::json)`

// readPlan reads the plan in the session.
func readPlan(s *session) (*statsPlan, error) {
	var p statsPlan
	if err := s.queryJSON(planSQL, planSQLNoPostGIS, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// scanGeometry is what pgdump.ScanArchive digests: the geometry columns of tables
// that pg_dump copies whole.
func (p *statsPlan) scanGeometry() map[string][]string {
	config := map[string]bool{}
	for _, t := range p.Tables {
		config[t.Name] = t.Config
	}
	m := map[string][]string{}
	for _, g := range p.Geometry {
		if !config[g.Table] {
			m[g.Table] = append(m[g.Table], g.Column)
		}
	}
	return m
}

// stats completes the plan with a scan of the dump (nil when the dump could
// not be scanned): what the scan lacks is read in SQL in the session.
func (p *statsPlan) stats(s *session, scan *pgdump.Scan) (*DBStats, error) {
	if scan == nil {
		scan = &pgdump.Scan{}
	}
	st := &DBStats{Tables: map[string]int64{}, Extensions: p.Extensions, GeometryColumn: p.GeometryColumn, GeometryDigest: map[string]string{}, CustomSRIDs: p.CustomSRIDs}
	var tables []string
	for _, t := range p.Tables {
		if n, ok := scan.Rows[t.Name]; ok && !t.Config {
			st.Tables[t.Name] = n
		} else {
			tables = append(tables, fmt.Sprint(t.OID))
		}
	}
	var rels, nums []string
	for _, g := range p.Geometry {
		if d, ok := scan.Geom[g.Table+"."+g.Column]; ok {
			st.GeometryDigest[g.Table+"."+g.Column] = d.String()
		} else {
			rels, nums = append(rels, fmt.Sprint(g.OID)), append(nums, fmt.Sprint(g.Num))
		}
	}
	if len(tables) == 0 && len(rels) == 0 {
		return st, nil
	}
	q := leftoverSQL(tables, rels, nums)
	var rest DBStats
	if err := s.queryJSON(q, q, &rest); err != nil {
		return nil, err
	}
	maps.Copy(st.Tables, rest.Tables)
	maps.Copy(st.GeometryDigest, rest.GeometryDigest)
	return st, nil
}

// leftoverSQL reads, in SQL, the row counts of the tables and the digests
// of the geometry columns (rels[i], nums[i]) named by OID.
func leftoverSQL(tables, rels, nums []string) string {
	arr := func(v []string) string { return "'{" + strings.Join(v, ",") + "}'" }
	return `SELECT json_build_object(
 'tables', (SELECT coalesce(json_object_agg(n.nspname || '.' || c.relname,
     (xpath('/row/c/text()', query_to_xml(format('` + countSQL + `', n.nspname, c.relname), false, true, '')))[1]::text::bigint), '{}')
   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ANY (` + arr(tables) + `::oid[])),
 'geometry_md5', (SELECT coalesce(json_object_agg(n.nspname || '.' || c.relname || '.' || a.attname,
     (xpath('/row/c/text()', query_to_xml(format('` + geomDigestSQL + `', a.attname, n.nspname, c.relname), false, true, '')))[1]::text), '{}')
   FROM unnest(` + arr(rels) + `::oid[], ` + arr(nums) + `::int2[]) AS w(rel, num)
   JOIN pg_attribute a ON a.attrelid = w.rel AND a.attnum = w.num
   JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace))`
}
