package backup

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/postgis"
)

// DBStats describe a database's content: what backup:verify compares after
// restoring a dump into a throwaway server.
type DBStats struct {
	Tables         map[string]int64  `json:"tables"`           // schema.table -> rows
	Extensions     map[string]string `json:"extensions"`       // name -> version
	GeometryColumn []string          `json:"geometry_columns"` // schema.table.column type srid dims
	// GeometryDigest is, per schema.table.column, an order-independent digest
	// of the md5 of every geometry's EWKB: the sum of each md5's first 60 bits.
	GeometryDigest map[string]string `json:"geometry_md5"`
}

// statsSQL returns DBStats as one line of JSON.
const statsSQL = `SELECT json_build_object(
 'tables', (SELECT coalesce(json_object_agg(schemaname || '.' || tablename,
     (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', schemaname, tablename), false, true, '')))[1]::text::bigint), '{}')
   FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')),
 'extensions', (SELECT coalesce(json_object_agg(extname, extversion), '{}') FROM pg_extension),
 'geometry_columns', (SELECT coalesce(json_agg(f_table_schema || '.' || f_table_name || '.' || f_geometry_column || ' ' || type || ' ' || srid || ' ' || coord_dimension ORDER BY 1), '[]')
   FROM geometry_columns),
 'geometry_md5', (SELECT coalesce(json_object_agg(f_table_schema || '.' || f_table_name || '.' || f_geometry_column,
     (xpath('/row/c/text()', query_to_xml(format(
       'SELECT coalesce(sum((''x'' || substr(md5(ST_AsEWKB(%I)), 1, 15))::bit(60)::bigint), 0)::text || '':'' || count(%I) AS c FROM %I.%I',
       f_geometry_column, f_geometry_column, f_table_schema, f_table_name), false, true, '')))[1]::text), '{}')
   FROM geometry_columns)
)`

// statsSQLNoPostGIS is used where the postgis extension is absent.
const statsSQLNoPostGIS = `SELECT json_build_object(
 'tables', (SELECT coalesce(json_object_agg(schemaname || '.' || tablename,
     (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', schemaname, tablename), false, true, '')))[1]::text::bigint), '{}')
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
	has, err := s.line("SELECT count(*) FROM pg_extension WHERE extname = 'postgis'")
	if err != nil {
		return nil, err
	}
	q := statsSQLNoPostGIS
	if has == "1" {
		q = statsSQL
	}
	l, err := s.line(q)
	if err != nil {
		return nil, err
	}
	var st DBStats
	if err := json.Unmarshal([]byte(l), &st); err != nil {
		return nil, fmt.Errorf("stats: %v", err)
	}
	return &st, nil
}

// Diff lists the differences between want (at backup) and got (restored).
func (want *DBStats) Diff(got *DBStats) []string {
	var d []string
	for _, k := range sortedKeys(want.Tables) {
		if g, ok := got.Tables[k]; !ok {
			d = append(d, "table "+k+" missing")
		} else if g != want.Tables[k] {
			d = append(d, fmt.Sprintf("table %s has %d rows, backup had %d", k, g, want.Tables[k]))
		}
	}
	for _, k := range sortedKeys(want.Extensions) {
		if got.Extensions[k] != want.Extensions[k] {
			d = append(d, fmt.Sprintf("extension %s is %q, backup had %q", k, got.Extensions[k], want.Extensions[k]))
		}
	}
	if strings.Join(want.GeometryColumn, "\n") != strings.Join(got.GeometryColumn, "\n") {
		d = append(d, "geometry_columns differ")
	}
	for _, k := range sortedKeys(want.GeometryDigest) {
		if got.GeometryDigest[k] != want.GeometryDigest[k] {
			d = append(d, "geometries of "+k+" differ")
		}
	}
	return d
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
