package targets

import (
	"context"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/postgis"
)

// Psql opens psql as the superuser in the running PostGIS container; -db=NAME picks the database (default: the first configured).
//
// With a terminal attached psql gets a real TTY; otherwise SQL is read from
// piped stdin, e.g.: echo 'select 1' | go tool mage postgis:psql -db=gis
func (Postgis) Psql(ctx context.Context, db *string) error {
	return run(ctx, func(e *engine.Engine) error {
		s := postgis.Load(e)
		name := deref(db)
		if name == "" && len(s.Databases) > 0 {
			name = s.Databases[0]
		}
		return e.Interactive(ctx, postgis.Service, postgis.OSUser, postgis.PsqlArgs(s, name, "-v", "ON_ERROR_STOP=1")...)
	})
}

// Sizes lists the size of every database, largest first.
func (Postgis) Sizes(ctx context.Context) error {
	return run(ctx, func(e *engine.Engine) error {
		if err := e.Connect(ctx); err != nil {
			return err
		}
		sizes, err := postgis.Sizes(ctx, e)
		if err != nil {
			return err
		}
		postgis.PrintSizes(e.Out, sizes)
		return nil
	})
}
