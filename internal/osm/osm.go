// Package osm keeps an OpenStreetMap mirror in PostGIS: osm2pgsql's flex
// output with osgs's style (images/tools/osm/osgs.lua), run in the tools
// helper. An import builds a new schema beside the mirror and swaps it in
// one transaction, so a failed import leaves the previous mirror as it was.
// Updates apply a local change file or the diffs of a replication server.
package osm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/gisdata"
	"github.com/osgs/osgs/internal/tools"
)

// Settings in .env.
const (
	KeyDB          = "OSM_DB"              // database of the mirror (default osm)
	KeySRID        = "OSM_SRID"            // 3857 (default) or 4326
	KeyReplication = "OSM_REPLICATION_URL" // replication server for osm:update
)

// Schema is the mirror's schema in its database.
const Schema = "osm"

// Style is osgs's osm2pgsql flex style in the tools image.
const Style = "/usr/share/osgs/osm/osgs.lua"

// MetaTable records what the mirror holds.
const MetaTable = "osgs_osm"

// Tables are the style's tables, in the order status shows them.
var Tables = []string{"roads", "railways", "waterways", "buildings", "landuse", "water", "boundaries", "places", "pois"}

// Options are osm:import's and osm:update's arguments.
type Options struct {
	File     string // .osm.pbf, .osm, .osm.bz2 (import); .osc, .osc.gz, .osc.bz2 (update)
	Clip     string // polygon (GeoJSON or .poly) the import is cut to
	DB       string
	Progress *gisdata.Progress
}

// Result is what an import or update did.
type Result struct {
	DB       string
	Counts   map[string]int64
	DataTime string
	Elapsed  time.Duration
}

// Print writes the result.
func (r *Result) Print(w io.Writer, verb string) {
	fmt.Fprintf(w, "%s OpenStreetMap data into %s.%s (data as of %s) in %s:\n", verb, r.DB, Schema, r.DataTime, r.Elapsed.Round(time.Millisecond))
	for _, t := range Tables {
		fmt.Fprintf(w, "  %-11s %d\n", t, r.Counts[t])
	}
}

func settings(e *engine.Engine, o *Options) (srid int, url string, err error) {
	if o.DB == "" {
		o.DB = e.Env.Value(KeyDB)
	}
	if o.DB == "" {
		o.DB = "osm"
	}
	if !regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`).MatchString(o.DB) {
		return 0, "", refuse("-db=%q: a lower-case database name", o.DB)
	}
	srid = 3857
	if v := e.Env.Value(KeySRID); v != "" {
		if srid, err = strconv.Atoi(v); err != nil || (srid != 3857 && srid != 4326) {
			return 0, "", refuse("%s=%s in .env: must be 3857 or 4326", KeySRID, v)
		}
	}
	return srid, e.Env.Value(KeyReplication), nil
}

// begin reads the settings and starts the tools helper.
func begin(ctx context.Context, e *engine.Engine, o *Options) (h *tools.Helper, srid int, url string, err error) {
	if srid, url, err = settings(e, o); err != nil {
		return nil, 0, "", err
	}
	h, err = tools.Start(ctx, e)
	return h, srid, url, err
}

var refuse = func(format string, args ...any) error { return gisdata.Refuse(format, args...) }

// checkFile refuses a missing or empty file, or one whose name does not end
// in one of exts.
func checkFile(p string, exts ...string) error {
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return refuse("%s: no such file", p)
	}
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return refuse("%s: not a regular file", p)
	}
	if fi.Size() == 0 {
		return refuse("%s: the file is empty", p)
	}
	lower := strings.ToLower(p)
	for _, e := range exts {
		if strings.HasSuffix(lower, e) {
			return nil
		}
	}
	return refuse("%s: expected a file ending in %s", p, strings.Join(exts, ", "))
}

// fileInfo is what osmium says of an OSM file.
type fileInfo struct {
	Header struct {
		Option map[string]string `json:"option"`
	} `json:"header"`
	Data struct {
		Timestamp struct {
			Last string `json:"last"`
		} `json:"timestamp"`
		Count struct {
			Nodes     int64 `json:"nodes"`
			Ways      int64 `json:"ways"`
			Relations int64 `json:"relations"`
		} `json:"count"`
	} `json:"data"`
}

// osmiumInfo reads a file's header, and with extended its data through to
// the end (a corrupt file is then refused here, before anything changes).
func osmiumInfo(ctx context.Context, h *tools.Helper, file string, extended bool) (*fileInfo, error) {
	var out, errb bytes.Buffer
	argv := []string{"osmium", "fileinfo", "-j", file}
	if extended {
		argv = []string{"osmium", "fileinfo", "-e", "-j", file}
	}
	if err := h.Run(ctx, argv, nil, &out, &errb); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, refuse("%s: osmium cannot read it: %s", filepath.Base(file), lastLine(errb.String(), err))
	}
	var fi fileInfo
	if err := json.Unmarshal(out.Bytes(), &fi); err != nil {
		return nil, fmt.Errorf("osmium fileinfo: %w", err)
	}
	return &fi, nil
}

func lastLine(s string, err error) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
		return strings.Join(strings.Fields(l), " ")
	}
	return err.Error()
}

// put uploads host files into the helper.
func put(ctx context.Context, h *tools.Helper, p *gisdata.Progress, files ...string) error {
	for _, f := range files {
		if err := gisdata.Upload(ctx, h, f, p); err != nil {
			return err
		}
	}
	return nil
}

// osm2pgsql is the argv running osm2pgsql with the style on schema.
func osm2pgsql(conninfo, schema string, srid int, mode string, file string) []string {
	return []string{"env", "OSGS_OSM_SCHEMA=" + schema, "OSGS_OSM_SRID=" + strconv.Itoa(srid),
		"osm2pgsql", mode, "--slim", "--output=flex", "--style=" + Style, "--middle-schema=" + schema,
		"--cache=512", "--number-processes=2", "-d", conninfo, file}
}

// osm2pgsqlProgress reports osm2pgsql's "Processing: Node(12k 6.0k/s)
// Way(...) Relation(...)" lines as objects done of total.
type osm2pgsqlProgress struct {
	p     *gisdata.Progress
	total int64
	buf   []byte
	errs  bytes.Buffer
}

var processingRE = regexp.MustCompile(`Node\((\d+)k[^)]*\)(?: Way\((\d+)k[^)]*\))?(?: Relation\((\d+)[^)]*\))?`)

func (o *osm2pgsqlProgress) Write(b []byte) (int, error) {
	o.errs.Write(b)
	o.buf = append(o.buf, b...)
	for {
		i := bytes.IndexAny(o.buf, "\r\n")
		if i < 0 {
			break
		}
		line := string(o.buf[:i])
		o.buf = o.buf[i+1:]
		if m := processingRE.FindStringSubmatch(line); m != nil {
			var done int64
			for j, mult := range []int64{1000, 1000, 1} {
				v, _ := strconv.ParseInt(m[j+1], 10, 64)
				done += v * mult
			}
			if o.total > 0 {
				done = min(done, o.total)
			}
			o.p.Features(done, o.total, "objects")
		}
	}
	return len(b), nil
}

// failure is osm2pgsql's ERROR line, or the last line of its output.
func (o *osm2pgsqlProgress) failure(err error) string {
	for _, l := range strings.Split(o.errs.String(), "\n") {
		if i := strings.Index(l, "ERROR: "); i >= 0 {
			return strings.Join(strings.Fields(l[i+len("ERROR: "):]), " ")
		}
	}
	return lastLine(o.errs.String(), err)
}

func (o *osm2pgsqlProgress) run(ctx context.Context, h *tools.Helper, argv []string) error {
	if err := h.Run(ctx, argv, nil, o, o); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("osm2pgsql: %s", o.failure(err))
	}
	return nil
}

// counts reads each table's rows in schema.
func counts(ctx context.Context, h *tools.Helper, db, schema string) (map[string]int64, error) {
	var parts []string
	for _, t := range Tables {
		parts = append(parts, fmt.Sprintf("SELECT %s, count(*) FROM %s.%s", gisdata.Literal(t), gisdata.Ident(schema), gisdata.Ident(t)))
	}
	rows, err := h.Query(ctx, db, strings.Join(parts, " UNION ALL "))
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r[0]], _ = strconv.ParseInt(r[1], 10, 64)
	}
	return out, nil
}

// ensureDatabase creates the mirror's database with PostGIS when missing.
func ensureDatabase(ctx context.Context, h *tools.Helper, db string) error {
	rows, err := h.Query(ctx, "postgres", "SELECT 1 FROM pg_database WHERE datname = "+gisdata.Literal(db))
	if err != nil {
		return fmt.Errorf("connect to PostGIS: %w", err)
	}
	if len(rows) == 0 {
		var errb bytes.Buffer
		if err := h.Run(ctx, tools.Psql("postgres", "-c", "CREATE DATABASE "+gisdata.Ident(db)), nil, nil, &errb); err != nil {
			return fmt.Errorf("create database %s: %s", db, lastLine(errb.String(), err))
		}
	}
	return h.Exec(ctx, db, "CREATE EXTENSION IF NOT EXISTS postgis")
}
