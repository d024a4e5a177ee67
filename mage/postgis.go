package targets

import (
	"context"
	"fmt"
	"time"

	"github.com/osgs/osgs/internal/backup"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/gisdata"
	"github.com/osgs/osgs/internal/pitr"
	"github.com/osgs/osgs/internal/postgis"
)

// Psql opens psql as the superuser in the running PostGIS container; -db=NAME picks the database (default: the first configured).
//
// With a terminal attached psql gets a real TTY; otherwise SQL is read from
// piped stdin, e.g.: echo 'select 1' | go tool mage postgis:psql -db=gis
func (Postgis) Psql(ctx context.Context, db *string) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
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
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
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

// Backup dumps the roles and every database (or -db=NAME) into a new backup set, compressed with zstd.
//
// Each dump runs in an exported snapshot. Its content stats go into the
// manifest for backup:verify: extensions and geometry_columns from that
// snapshot, and row counts and geometry digests read from the dump as it
// streams. -nostats leaves them out; verify then only proves that the dump restores.
func (Postgis) Backup(ctx context.Context, db *string, nostats *bool) error {
	return newSet(ctx, backup.Options{Services: []string{postgis.Service}, Database: deref(db), NoStats: deref(nostats)})
}

// Restore restores roles and databases from a set, a .dump.zst, or an original OSGS .sql dump; it needs -yes.
//
// SRC is a set name in backups/, a set folder, or a file. -db=NAME restores
// one database (for a single file: the database to restore into). Every
// checksum is checked before anything is touched.
func (Postgis) Restore(ctx context.Context, src string, db *string, yes *bool) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		s, err := resolve(ctx, e, src)
		if err != nil {
			return err
		}
		return backup.RestorePostGIS(ctx, e, backup.RestorePostGISOptions{Source: s, Database: deref(db), Yes: deref(yes)})
	})
}

// Load loads a vector or raster file into PostGIS, all or nothing, through the tools helper (nothing to install on the host).
//
// PATH is a GeoPackage, Shapefile (.shp with its sidecars, a folder of
// them, or a .zip), GeoJSON, GeoJSONSeq, FlatGeobuf, CSV (a WKT column, or
// X/Y), KML, GML, File Geodatabase (.gdb folder), or a GeoTIFF/COG. Every
// layer is loaded, or -layer=NAME; each into -schema (default public) in
// -db (default the first of POSTGRES_DBS), as a table named after the layer
// or -table=NAME. -srid=N reprojects. An existing table is refused unless
// -mode=append (adds in one transaction) or -mode=replace -yes (swapped in
// one transaction once the new one is complete). A CSV row whose WKT GDAL
// cannot read refuses the load, unless -keepinvalid (loaded with no
// geometry, its text kept); rows without geometry and invalid geometries
// are counted in the report.
func (Postgis) Load(ctx context.Context, path string, db, schema, table, layer *string, srid *int, mode *string, yes, keepinvalid *bool) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		m, err := gisdata.ParseMode(deref(mode))
		if err != nil {
			return err
		}
		res, err := gisdata.Load(ctx, e, gisdata.LoadOptions{
			Path: path, DB: deref(db), Schema: deref(schema), Table: deref(table), Layer: deref(layer),
			SRID: deref(srid), Mode: m, Yes: deref(yes), KeepInvalid: deref(keepinvalid),
			Progress: gisdata.NewProgress(e.Err, engine.IsTerminal(e.Err)),
		})
		if err != nil {
			return err
		}
		res.Print(e.Out)
		return nil
	})
}

// Export writes a table (schema.table) or -sql=QUERY to FILE: GeoPackage, GeoJSON, FlatGeobuf, zipped Shapefile or CSV.
//
// The format comes from FILE's name (.gpkg, .geojson, .fgb, .shp.zip, .csv)
// or -format=gpkg|geojson|fgb|shp|csv. For -sql, give "-" as the table. The
// file is made in the tools helper and streamed out; an existing FILE needs
// -yes.
func (Postgis) Export(ctx context.Context, table, file string, sql, format, db *string, yes *bool) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		o := gisdata.ExportOptions{Table: table, SQL: deref(sql), File: file, Format: deref(format), DB: deref(db), Yes: deref(yes)}
		if o.Table == "-" {
			o.Table = ""
		}
		res, err := gisdata.Export(ctx, e, o)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Out, "exported %d features to %s (%s, %s) in %s\n", res.Features, res.File, res.Format,
			postgis.HumanBytes(res.Bytes), res.Elapsed.Round(time.Millisecond))
		return nil
	})
}

// Basebackup takes a pgBackRest base backup of the cluster into every repository (the postgis-wal volume, and the S3 destination, encrypted): -type=full, diff, incr or auto (the default: full weekly, else diff).
func (Postgis) Basebackup(ctx context.Context, typ *string) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		return pitr.Basebackup(ctx, e, deref(typ))
	})
}

// Recover rewinds every database to -to="2026-11-29 14:05:00+00" from the base backups and archived WAL; it checks the time lies in the recoverable range before it touches anything, and needs -yes (-repo=2 restores from the S3 destination).
func (Postgis) Recover(ctx context.Context, to *string, repo *int, yes *bool) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		t, err := pitr.ParseTarget(deref(to))
		if err != nil {
			return fmt.Errorf("%w: %w", engine.ErrModel, err)
		}
		return pitr.Recover(ctx, e, pitr.RecoverOptions{Target: t, Repo: deref(repo), Yes: deref(yes)})
	})
}

// Wal shows WAL archiving's status, the recoverable range, pgBackRest's repositories and the base backups.
func (Postgis) Wal(ctx context.Context) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error { return pitr.Status(ctx, e, e.Out) })
}
