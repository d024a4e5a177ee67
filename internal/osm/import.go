package osm

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/gisdata"
	"github.com/osgs/osgs/internal/tools"
)

// ImportExts are the files osm:import reads.
var ImportExts = []string{".osm.pbf", ".pbf", ".osm", ".osm.bz2", ".osm.gz"}

// Import loads an OpenStreetMap extract into a new schema and swaps it for
// the mirror in one transaction.
func Import(ctx context.Context, e *engine.Engine, o Options) (*Result, error) {
	start := time.Now()
	if err := checkFile(o.File, ImportExts...); err != nil {
		return nil, err
	}
	if o.Clip != "" {
		if err := checkFile(o.Clip, ".geojson", ".json", ".poly"); err != nil {
			return nil, err
		}
	}
	h, srid, url, err := begin(ctx, e, &o)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	if err := ensureDatabase(ctx, h, o.DB); err != nil {
		return nil, err
	}
	files := []string{o.File}
	if o.Clip != "" {
		files = append(files, o.Clip)
	}
	if err := put(ctx, h, o.Progress, files...); err != nil {
		return nil, err
	}
	file := tools.Work + "/" + filepath.Base(o.File)
	// The header only: reading the whole extract first would cost a fifth
	// of the import (measured on 11 M nodes), and osm2pgsql reads it into a
	// schema of its own anyway, which a corrupt file never replaces the
	// mirror with.
	info, err := osmiumInfo(ctx, h, file, false)
	if err != nil {
		return nil, err
	}
	if o.Clip != "" {
		clipped := tools.Work + "/osgs-clipped.osm.pbf"
		if err := featureClip(ctx, h, tools.Work+"/"+filepath.Base(o.Clip)); err != nil {
			return nil, err
		}
		o.Progress.Step("clip to " + filepath.Base(o.Clip))
		var errb strings.Builder
		argv := []string{"osmium", "extract", "--overwrite", "-s", "smart", "-p", tools.Work + "/" + filepath.Base(o.Clip), file, "-o", clipped}
		if err := h.Run(ctx, argv, nil, nil, &errb); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, refuse("clip to %s: %s", o.Clip, lastLine(errb.String(), err))
		}
		o.Progress.Done("clipped")
		file = clipped
		if info, err = osmiumInfo(ctx, h, file, false); err != nil {
			return nil, err
		}
	}

	staging := fmt.Sprintf("osm_import_%s", strconv.FormatInt(time.Now().UnixNano(), 36))
	done := false
	defer func() {
		if !done {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			_ = h.Exec(cctx, o.DB, "DROP SCHEMA IF EXISTS "+gisdata.Ident(staging)+" CASCADE")
		}
	}()
	if err := h.Exec(ctx, o.DB, "CREATE SCHEMA "+gisdata.Ident(staging)); err != nil {
		return nil, err
	}
	o.Progress.Step("osm2pgsql " + filepath.Base(o.File))
	pr := &osm2pgsqlProgress{p: o.Progress}
	if err := pr.run(ctx, h, osm2pgsql(tools.Conninfo(o.DB), staging, srid, "--create", file)); err != nil {
		return nil, err
	}
	o.Progress.Done("imported")
	dataTime := info.Header.Option["osmosis_replication_timestamp"]
	if dataTime == "" {
		// The newest object's time, for a file that does not say it in
		// its header: osmium reads the file once more.
		if full, err := osmiumInfo(ctx, h, file, true); err == nil {
			dataTime = full.Data.Timestamp.Last
		}
	}
	clip := ""
	if o.Clip != "" {
		clip = filepath.Base(o.Clip)
	}
	meta := fmt.Sprintf(`CREATE TABLE %[1]s.%[2]s (file text, clip text, srid int, imported_at timestamptz, data_timestamp timestamptz,
  replication_url text, last_update timestamptz, last_update_source text);
INSERT INTO %[1]s.%[2]s VALUES (%[3]s, %[4]s, %[5]d, now(), %[6]s, %[7]s, NULL, NULL);
`, gisdata.Ident(staging), MetaTable, gisdata.Literal(filepath.Base(o.File)), nullable(clip), srid, nullable(dataTime), nullable(url))
	if err := h.Exec(ctx, o.DB, meta); err != nil {
		return nil, err
	}
	if err := initReplication(ctx, h, o.DB, staging, file, info, url); err != nil {
		return nil, err
	}
	swap := fmt.Sprintf(`DROP SCHEMA IF EXISTS %[1]s CASCADE;
ALTER SCHEMA %[2]s RENAME TO %[1]s;
`, gisdata.Ident(Schema), gisdata.Ident(staging))
	// The point of no return: a cancel that comes after it would report a
	// failed import with the new mirror in place (the swap commits, then
	// the row counts are cut short). So the swap, one quick transaction,
	// and what follows it are not cancelled; a cancel before it is.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	after, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	if err := h.Exec(after, o.DB, swap); err != nil {
		return nil, fmt.Errorf("swap in the new mirror (the old one stays): %w", err)
	}
	done = true
	c, err := counts(after, h, o.DB, Schema)
	if err != nil {
		return nil, err
	}
	return &Result{DB: o.DB, Counts: c, DataTime: dataTime, Elapsed: time.Since(start)}, nil
}

// initReplication records where updates come from: the file's own
// replication header, or OSM_REPLICATION_URL. Without either the mirror is
// updated from change files only.
func initReplication(ctx context.Context, h *tools.Helper, db, schema, file string, info *fileInfo, url string) error {
	argv := []string{"osm2pgsql-replication", "init", "-d", tools.Conninfo(db), "--middle-schema", schema}
	switch {
	case info.Header.Option["osmosis_replication_base_url"] != "":
		argv = append(argv, "--osm-file", file)
	case url != "":
		argv = append(argv, "--server", url)
	default:
		return nil
	}
	var errb strings.Builder
	if err := h.Run(ctx, argv, nil, nil, &errb); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("set up replication (nothing changed): %s", lastLine(errb.String(), err))
	}
	return nil
}

func nullable(s string) string {
	if s == "" {
		return "NULL"
	}
	return gisdata.Literal(s)
}

// wrapClip makes a GeoJSON clip that is a bare Polygon or MultiPolygon a
// Feature, which is what osmium extract reads.
const wrapClip = `import json, sys
p = sys.argv[1]
if p.lower().endswith(".poly"):
    sys.exit(0)
try:
    d = json.load(open(p))
except Exception as e:
    sys.exit("not GeoJSON: %s" % e)
t = d.get("type") if isinstance(d, dict) else None
if t in ("Polygon", "MultiPolygon"):
    json.dump({"type": "Feature", "properties": {}, "geometry": d}, open(p, "w"))
elif t == "FeatureCollection" and d.get("features"):
    json.dump(d["features"][0], open(p, "w"))
elif t != "Feature":
    sys.exit("a clip is a (Multi)Polygon, a Feature or a FeatureCollection, not %s" % t)
`

func featureClip(ctx context.Context, h *tools.Helper, p string) error {
	var errb strings.Builder
	if err := h.Run(ctx, []string{"python3", "-c", wrapClip, p}, nil, nil, &errb); err != nil {
		return refuse("-clip: %s", lastLine(errb.String(), err))
	}
	return nil
}
