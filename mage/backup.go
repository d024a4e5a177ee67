package targets

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/magefile/mage/mg"
	"golang.org/x/term"

	"github.com/osgs/osgs/internal/backup"
	"github.com/osgs/osgs/internal/engine"
)

// Backup makes, lists, checks, restores and prunes backup sets in backups/ (or $OSGS_BACKUP_DIR).
type Backup mg.Namespace

// backupOpts adds progress reporting on stderr: one updating line on a
// terminal, plain log lines when piped.
func backupOpts(e *engine.Engine, o backup.Options) backup.Options {
	p := backup.Progress{W: e.Err, TTY: term.IsTerminal(int(os.Stderr.Fd()))}
	o.Progress = p.For
	return o
}

// All makes one backup set of every enabled service, plus .env and the other configuration.
//
// The set is backups/<UTC timestamp>/ with a manifest.json recording each
// file's service, kind, size and sha256; it appears only when complete.
func (Backup) All(ctx context.Context) error {
	return newSet(ctx, backup.Options{Config: true})
}

// List shows the backup sets with their size, age and whether they were verified.
func (Backup) List(ctx context.Context) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		sets, err := backup.List(backup.Root(e))
		if err != nil {
			return err
		}
		backup.PrintList(e.Out, sets, time.Now())
		return nil
	})
}

// Verify checks every sha256 of a set, restores each database into a throwaway server and compares it; a set that passes is marked verified.
func (Backup) Verify(ctx context.Context, set string) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		return backup.Verify(ctx, e, backup.Root(e), set)
	})
}

// Prune deletes old sets: -keep=N newest and/or -daily=N, -weekly=N, -monthly=N; the newest verified set is never deleted.
func (Backup) Prune(ctx context.Context, keep, daily, weekly, monthly *int, dryrun *bool) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		p := backup.Policy{Last: deref(keep), Daily: deref(daily), Weekly: deref(weekly), Monthly: deref(monthly)}
		gone, err := backup.Prune(backup.Root(e), p, deref(dryrun))
		for _, g := range gone {
			fmt.Fprintln(e.Out, "pruned", g)
		}
		return err
	})
}

// Restore restores a whole set (PostGIS roles and databases, then volumes); it needs -yes and checks every sha256 first.
func (Backup) Restore(ctx context.Context, set string, yes *bool) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		src, err := resolve(ctx, e, set)
		if err != nil {
			return err
		}
		return backup.RestoreSet(ctx, e, src, deref(yes))
	})
}

// resolve connects to Docker and finds a set or file to restore from.
func resolve(ctx context.Context, e *engine.Engine, src string) (*backup.Source, error) {
	if err := e.Connect(ctx); err != nil {
		return nil, err
	}
	return backup.Resolve(backup.Root(e), src)
}

// newSet makes a backup set with opts and prints its folder.
func newSet(ctx context.Context, opts backup.Options) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		dir, err := backup.Run(ctx, e, backupOpts(e, opts))
		if err != nil {
			return err
		}
		fmt.Fprintln(e.Out, dir)
		return nil
	})
}

// backupService backs up one service's volumes into a new set.
func backupService(ctx context.Context, service string) error {
	return newSet(ctx, backup.Options{Services: []string{service}})
}

// restoreService restores one service's volumes from a set.
func restoreService(ctx context.Context, service, set string, yes *bool) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		src, err := resolve(ctx, e, set)
		if err != nil {
			return err
		}
		return backup.RestoreSet(ctx, e, src.Only(service), deref(yes))
	})
}
