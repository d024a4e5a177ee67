package osm

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/gisdata"
	"github.com/osgs/osgs/internal/tools"
)

// UpdateExts are the change files osm:update applies.
var UpdateExts = []string{".osc", ".osc.gz", ".osc.bz2"}

// Update applies a change file, or the replication server's new diffs, to
// the mirror. The file is read to its end before anything changes. An
// update that fails while osm2pgsql applies it leaves the tables in place
// and readable, and the replication state where it was: run it again, and
// osm2pgsql applies the same changes again, which is safe.
func Update(ctx context.Context, e *engine.Engine, o Options) (*Result, error) {
	start := time.Now()
	if o.File != "" {
		if err := checkFile(o.File, UpdateExts...); err != nil {
			return nil, err
		}
	}
	h, srid, url, err := begin(ctx, e, &o)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	st, err := readStatus(ctx, h, o.DB)
	if err != nil {
		return nil, err
	}
	if st.SRID != 0 {
		srid = st.SRID
	}
	var source, dataTime string
	if o.File != "" {
		if err := put(ctx, h, o.Progress, o.File); err != nil {
			return nil, err
		}
		file := tools.Work + "/" + filepath.Base(o.File)
		info, err := osmiumInfo(ctx, h, file, true)
		if err != nil {
			return nil, err
		}
		o.Progress.Step("osm2pgsql --append " + filepath.Base(o.File))
		total := info.Data.Count.Nodes + info.Data.Count.Ways + info.Data.Count.Relations
		pr := &osm2pgsqlProgress{p: o.Progress, total: total}
		if err := pr.run(ctx, h, osm2pgsql(tools.Conninfo(o.DB), Schema, srid, "--append", file)); err != nil {
			return nil, err
		}
		o.Progress.Done(fmt.Sprintf("%d changes", total))
		source, dataTime = filepath.Base(o.File), info.Data.Timestamp.Last
	} else {
		if st.Sequence == "" {
			if url == "" {
				return nil, refuse("no replication source: set %s in .env and run osm:import again, or give a change file (.osc)", KeyReplication)
			}
			return nil, refuse("the mirror was imported without replication: run osm:import again now that %s is set", KeyReplication)
		}
		o.Progress.Step("osm2pgsql-replication update")
		pr := &osm2pgsqlProgress{p: o.Progress}
		argv := []string{"env", "OSGS_OSM_SCHEMA=" + Schema, "OSGS_OSM_SRID=" + fmt.Sprint(srid),
			"osm2pgsql-replication", "update", "-d", tools.Conninfo(o.DB), "--middle-schema", Schema,
			"--", "--output=flex", "--style=" + Style, "--middle-schema=" + Schema, "--cache=512"}
		if err := pr.run(ctx, h, argv); err != nil {
			return nil, err
		}
		o.Progress.Done("up to date")
		source = "replication"
		if st2, err := readStatus(ctx, h, o.DB); err == nil {
			dataTime = st2.ReplicationTime
		}
	}
	sql := fmt.Sprintf("UPDATE %s.%s SET last_update = now(), last_update_source = %s", gisdata.Ident(Schema), MetaTable, gisdata.Literal(source))
	if dataTime != "" {
		sql += fmt.Sprintf(", data_timestamp = greatest(data_timestamp, %s::timestamptz)", gisdata.Literal(dataTime))
	}
	if err := h.Exec(ctx, o.DB, sql); err != nil {
		return nil, err
	}
	c, err := counts(ctx, h, o.DB, Schema)
	if err != nil {
		return nil, err
	}
	st, _ = readStatus(ctx, h, o.DB)
	return &Result{DB: o.DB, Counts: c, DataTime: st.DataTime, Elapsed: time.Since(start)}, nil
}
