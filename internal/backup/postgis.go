package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/pgdump"
	"github.com/osgs/osgs/internal/postgis"
)

// dumpStream runs argv in the PostGIS container and returns its stdout as a
// stream. The reader fails with the command's error when it exits non-zero,
// so a dump that fails or is cut short never reads as a clean EOF.
func dumpStream(ctx context.Context, e *engine.Engine, id string, argv []string) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		err := e.Exec(ctx, id, argv, engine.ExecOptions{User: postgis.OSUser, Stdout: pw})
		pw.CloseWithError(err) // nil error: clean EOF
	}()
	return pr
}

// serverFacts reads the server's PostgreSQL and PostGIS versions for db.
func serverFacts(ctx context.Context, e *engine.Engine, db string) (pg, gis string, err error) {
	rows, err := postgis.Query(ctx, e, db,
		"SELECT current_setting('server_version'), coalesce((SELECT extversion FROM pg_extension WHERE extname = 'postgis'), '')")
	if err != nil {
		return "", "", err
	}
	if len(rows) != 1 || len(rows[0]) != 2 {
		return "", "", errors.New("unexpected version query output")
	}
	return rows[0][0], rows[0][1], nil
}

// Databases lists the non-template databases of the running server.
func Databases(ctx context.Context, e *engine.Engine) ([]string, error) {
	rows, err := postgis.Query(ctx, e, "postgres", "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres' ORDER BY 1")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range rows {
		out = append(out, r[0])
	}
	return out, nil
}

// imageOf returns the image name and ID of the service's running container.
func imageOf(ctx context.Context, e *engine.Engine, id string) (string, string) {
	insp, err := e.DockerFor(id).ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil || insp.Container.Config == nil {
		return "", ""
	}
	return insp.Container.Config.Image, insp.Container.Image
}

// BackupPostGIS dumps the globals and each database (or only db) into set.
// With noStats the content stats that backup:verify compares are not read
// (faster on large databases; verify then only proves that the dump restores).
func BackupPostGIS(ctx context.Context, e *engine.Engine, set *Set, db string, noStats bool, progress func(label string) io.Writer) error {
	start := time.Now()
	id, err := e.ContainerOf(ctx, postgis.Service)
	if err != nil {
		return err
	}
	s := postgis.Load(e)
	dbs := []string{db}
	if db == "" {
		if dbs, err = Databases(ctx, e); err != nil {
			return err
		}
	}
	image, digest := imageOf(ctx, e, id)
	pgv, _, err := serverFacts(ctx, e, "postgres")
	if err != nil {
		return err
	}
	base := Entry{Service: postgis.Service, Image: image, ImageDigest: digest, PostgreSQL: pgv}
	d, err := newDumper(ctx, e, id)
	if err != nil {
		return err
	}
	since(ctx, "inspect the server", start)

	start = time.Now()
	globals := base
	globals.Kind = KindGlobals
	// Roles are a few kilobytes: exec is quicker than starting a helper.
	r := dumpStream(ctx, e, id, []string{"pg_dumpall", "-h", postgis.Socket, "-U", s.User, "--globals-only"})
	_, err = set.AddStream("postgis/globals.sql.zst", r, globals, progress("globals"))
	r.Close()
	if err != nil {
		return fmt.Errorf("dump globals: %w", err)
	}
	since(ctx, "dump the globals (exec)", start)
	for _, name := range dbs {
		if err := dumpDatabase(ctx, e, set, d, base, name, noStats, progress(name)); err != nil {
			return err
		}
	}
	return nil
}

// fileSafe maps a database name to a file name.
func fileSafe(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, name)
}

// dumpDatabase dumps one database. Unless noStats, the dump runs in an
// exported snapshot, and that snapshot's stats are recorded next to it: read
// mostly from the dump as it streams (see stats.go).
func dumpDatabase(ctx context.Context, e *engine.Engine, set *Set, d *dumper, ent Entry, name string, noStats bool, progress io.Writer) error {
	if err := dumpOne(ctx, e, set, d, ent, name, noStats, progress); err != nil {
		return fmt.Errorf("dump database %s: %w", name, err)
	}
	return nil
}

func dumpOne(ctx context.Context, e *engine.Engine, set *Set, d *dumper, ent Entry, name string, noStats bool, progress io.Writer) error {
	ent.Kind, ent.Database = KindDatabase, name
	rel := "postgis/" + fileSafe(name) + ".dump.zst"
	argv := []string{"pg_dump", "-h", postgis.Socket, "-U", postgis.Load(e).User, "-Fc", "-Z0", "-d", name}
	var (
		sess *session
		plan *statsPlan
	)
	start := time.Now()
	if noStats {
		_, ent.PostGIS, _ = serverFacts(ctx, e, name)
	} else {
		s, snap, err := snapshotSession(ctx, e, d.id, name)
		if err != nil {
			return err
		}
		defer s.close()
		if plan, err = readPlan(s); err != nil {
			return fmt.Errorf("read stats: %w", err)
		}
		sess, ent.PostGIS = s, plan.Extensions["postgis"]
		argv = append(argv, "--snapshot="+snap)
	}
	since(ctx, "snapshot and plan (psql session)", start)
	start = time.Now()
	r, compressed, err := d.streamZstd(ctx, argv)
	if err != nil {
		return err
	}
	defer r.Close()
	// add stores the stream and passes its dump bytes to raw as well.
	add := func(raw io.Writer) error {
		if compressed {
			_, err := set.AddZstd(rel, r, ent, progress, raw)
			return err
		}
		src := io.Reader(r)
		if raw != nil {
			src = io.TeeReader(r, raw)
		}
		_, err := set.AddStream(rel, src, ent, progress)
		return err
	}
	if plan == nil {
		err := add(nil)
		since(ctx, "dump, compress and write", start)
		return err
	}

	var scan *pgdump.Scan
	t := newTap(func(r io.Reader) (err error) {
		scan, err = pgdump.ScanArchive(r, plan.scanGeometry())
		return err
	})
	err = add(t)
	if scanErr := t.Close(); err == nil && scanErr != nil {
		scan = nil
		fmt.Fprintf(e.Err, "osgs: %s: reading the stats in SQL instead of from the dump (%v)\n", name, scanErr)
	}
	if err != nil {
		return err
	}
	since(ctx, "dump, compress and write, scanning the stream", start)
	start = time.Now()
	defer since(ctx, "stats the scan lacks (SQL), commit the snapshot", start)
	if ent.Stats, err = plan.stats(sess, scan); err == nil {
		err = sess.exec("COMMIT")
	}
	if err != nil {
		set.drop(rel)
		return fmt.Errorf("read stats: %w", err)
	}
	set.update(rel, func(e *Entry) { e.Stats = ent.Stats })
	return nil
}
