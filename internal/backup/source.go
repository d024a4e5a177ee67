package backup

import (
	"context"
	"errors"
	"io"

	"github.com/osgs/osgs/internal/catalog"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/postgis"
)

// The backup pipeline: sources stream a service's data into a Set, whose
// writer applies the transforms (compress, encrypt, hash: writeStored) on
// the way to the sinks (the set's folder, and the mirror of backup:all
// -push, offsite's Push for S3 and SFTP later). A source knows nothing of
// what happens to its bytes; the set knows nothing of where they came from.

// DataSource is one thing a set saves: a PostgreSQL dump, a service's
// volumes, the configuration. (Source is what a restore reads.)
type DataSource interface {
	// Name labels the source in messages.
	Name() string
	// Save streams the source's data into set.
	Save(ctx context.Context, set *Set) error
}

// dumpSource dumps PostGIS's databases (pg_dump custom format, plus the
// globals and the stats verify compares).
type dumpSource struct {
	e        *engine.Engine
	database string // only this one; every database when ""
	noStats  bool
	progress func(label string) io.Writer
}

func (dumpSource) Name() string { return postgis.Service }
func (s dumpSource) Save(ctx context.Context, set *Set) error {
	return BackupPostGIS(ctx, s.e, set, s.database, s.noStats, s.progress)
}

// volumeSource tars a service's volumes through the archive API. With a
// quiesce mode (catalog: x-osgs.quiesce), the service is held still while
// all of them are copied, one after the other, and let go again even when
// ctx ends.
type volumeSource struct {
	e        *engine.Engine
	service  string
	volumes  []catalog.Volume
	quiesce  string
	progress func(label string) io.Writer
}

func (s volumeSource) Name() string { return s.service + " volumes" }
func (s volumeSource) Save(ctx context.Context, set *Set) (err error) {
	if s.quiesce != "" {
		resume, err := Quiesce(ctx, s.e, s.service, s.quiesce)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, resume()) }()
	}
	for _, v := range s.volumes {
		if err := BackupVolume(ctx, s.e, set, s.service, v, s.progress(s.service+"/"+v.Name)); err != nil {
			return err
		}
	}
	return nil
}

// configSource copies .env, the override files and config/.
type configSource struct{ e *engine.Engine }

func (configSource) Name() string                             { return "configuration" }
func (s configSource) Save(_ context.Context, set *Set) error { return addConfig(s.e, set) }

// plan lists the sources of a set of services: PostGIS's dump for the
// database service, and each service's backed-up volumes, one source per
// volume (they copy in parallel) unless the service must be held still,
// then one for all of them. Services with nothing to save are returned in
// empty.
func plan(e *engine.Engine, services []string, o Options) (sources []DataSource, empty []string) {
	for _, name := range services {
		svc, _ := e.Catalog.Get(name)
		n := len(sources)
		if svc.Database {
			sources = append(sources, dumpSource{e: e, database: o.Database, noStats: o.NoStats, progress: o.Progress})
		}
		var vols []catalog.Volume
		for _, v := range svc.Volumes {
			if v.Backup {
				vols = append(vols, v)
			}
		}
		switch {
		case len(vols) == 0:
		case svc.Quiesce != "":
			sources = append(sources, volumeSource{e: e, service: name, volumes: vols, quiesce: svc.Quiesce, progress: o.Progress})
		default:
			for _, v := range vols {
				sources = append(sources, volumeSource{e: e, service: name, volumes: []catalog.Volume{v}, progress: o.Progress})
			}
		}
		if len(sources) == n {
			empty = append(empty, name)
		}
	}
	return sources, empty
}
