package targets

import (
	"context"

	"github.com/magefile/mage/mg"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/gisdata"
	"github.com/osgs/osgs/internal/osm"
)

// Osm keeps an OpenStreetMap mirror in PostGIS (osm2pgsql's flex output with osgs's style; see the README).
type Osm mg.Namespace

// Import loads an extract (.osm.pbf, .osm, .osm.bz2) into the mirror's database (-db, default OSM_DB or osm); -clip=polygon.geojson|.poly cuts it first.
//
// The new data is built in a schema of its own and swapped for the mirror
// in one transaction: a failed import leaves the previous mirror as it was.
// With OSM_REPLICATION_URL in .env (or a file that names its replication
// server) osm:update can follow the server's diffs afterwards.
func (Osm) Import(ctx context.Context, file string, clip, db *string) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		res, err := osm.Import(ctx, e, osm.Options{File: file, Clip: deref(clip), DB: deref(db), Progress: gisdata.NewProgress(e.Err, engine.IsTerminal(e.Err))})
		if err != nil {
			return err
		}
		res.Print(e.Out, "imported")
		return nil
	})
}

// Update applies the replication server's new diffs (OSM_REPLICATION_URL), or -file=change.osc[.gz] to the mirror.
//
// A change file is read to its end before anything changes. If osm2pgsql
// fails halfway, the tables stay readable and the replication state is not
// advanced: running the update again applies the same changes again, safely.
func (Osm) Update(ctx context.Context, file, db *string) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		res, err := osm.Update(ctx, e, osm.Options{File: deref(file), DB: deref(db), Progress: gisdata.NewProgress(e.Err, engine.IsTerminal(e.Err))})
		if err != nil {
			return err
		}
		res.Print(e.Out, "updated")
		return nil
	})
}

// Status shows the mirror's data timestamp, its replication sequence, and the rows of each table.
func (Osm) Status(ctx context.Context, db *string) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		s, err := osm.ReadStatus(ctx, e, deref(db))
		if err != nil {
			return err
		}
		s.Print(e.Out)
		return nil
	})
}
