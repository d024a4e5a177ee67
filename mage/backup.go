package targets

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/magefile/mage/mg"
	"golang.org/x/term"

	"github.com/osgs/osgs/internal/backup"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/offsite"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/schedule"
	"github.com/osgs/osgs/internal/watch"
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

// All makes one backup set of every enabled service, plus .env and the other configuration; -push also sends it, encrypted, to BACKUP_REMOTE (-to=NAME) in the same pass.
//
// The set is backups/<UTC timestamp>/ with a manifest.json recording each
// file's service, kind, size and sha256; it appears only when complete.
func (Backup) All(ctx context.Context, push *bool, to *string) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		o := backupOpts(e, backup.Options{Config: true})
		var r *offsite.Remote
		if deref(push) {
			var err error
			if r, err = offsite.Open(ctx, e, deref(to)); err != nil {
				return err
			}
			defer r.Close()
			o.Mirror = func(set string) (backup.Mirror, error) { return r.Mirror(ctx, set) }
		}
		dir, err := backup.Run(ctx, e, o)
		if dir != "" {
			fmt.Fprintln(e.Out, dir)
		}
		if err == nil && r != nil {
			fmt.Fprintf(e.Out, "pushed %s to %s\n", filepath.Base(dir), r)
			return watch.RecordPush(backup.Root(e), r.Name, r.String(), filepath.Base(dir), time.Now())
		}
		return err
	})
}

// Push encrypts a local set (-set=NAME, default the newest) with age and uploads it to BACKUP_REMOTE (-to=NAME: BACKUP_REMOTE_<NAME>).
//
// Only the public keys of BACKUP_AGE_RECIPIENTS are needed. The index that
// makes the remote set complete is uploaded last; a push that was killed
// is redone by the next one, and a set already there is not sent twice.
func (Backup) Push(ctx context.Context, set, to *string) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		return pushSet(ctx, e, deref(set), deref(to))
	})
}

func pushSet(ctx context.Context, e *engine.Engine, set, to string) error {
	res, err := offsite.PushSet(ctx, e, backup.Root(e), set, to)
	if err != nil {
		return err
	}
	what := "already there"
	if res.Uploaded {
		what = fmt.Sprintf("%d files, %s encrypted", res.Files, postgis.HumanBytes(res.Bytes))
	}
	if res.Verified {
		what += ", verified"
	}
	fmt.Fprintf(e.Out, "pushed %s (%s)\n", res.Set, what)
	return nil
}

// Pull downloads a remote set into backups/ (-from=NAME), decrypting it with -identity=FILE (or BACKUP_AGE_IDENTITY) and checking every checksum.
func (Backup) Pull(ctx context.Context, set string, from, identity *string) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		dir, err := offsite.PullSet(ctx, e, backup.Root(e), set, deref(from), deref(identity))
		if err != nil {
			return err
		}
		fmt.Fprintln(e.Out, dir)
		return nil
	})
}

// Remote lists the sets at BACKUP_REMOTE (-from=NAME) with the columns of backup:list.
func (Backup) Remote(ctx context.Context, from *string) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		sets, where, err := offsite.ListSets(ctx, e, deref(from))
		if err != nil {
			return err
		}
		fmt.Fprintln(e.Err, "osgs: sets at", where)
		backup.PrintList(e.Out, sets, time.Now())
		return nil
	})
}

// Keygen makes an age key pair for off-site backups: it writes the identity (mode 0600), adds the public key to BACKUP_AGE_RECIPIENTS and prints only the public key.
//
// Move the identity file off the server: the server needs only the public
// key to push, and the identity to pull. -out=FILE names the file.
func (Backup) Keygen(ctx context.Context, out *string) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		path, pub, err := offsite.Keygen(e, deref(out))
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Err, "osgs: identity written to %s (mode 0600): move it off this server and keep it safe; without it no pushed set can be read\n", path)
		fmt.Fprintf(e.Err, "osgs: public key added to %s in .env\n", "BACKUP_AGE_RECIPIENTS")
		fmt.Fprintf(e.Err, "osgs: the identity file also names this site's backup signing key: a server that pulls with it trusts this site's sets\n")
		fmt.Fprintln(e.Out, pub)
		return nil
	})
}

// Sign signs a local set made before sets were signed, once its files match its manifest: restores, verify and push refuse unsigned sets.
func (Backup) Sign(ctx context.Context, set string) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		src, err := backup.Resolve(backup.Root(e), set)
		if err != nil {
			return err
		}
		if src.SetDir == "" {
			return fmt.Errorf("%s is a file, not a set", src.File)
		}
		if err := backup.SignSet(e, src.SetDir); err != nil {
			return err
		}
		fmt.Fprintf(e.Err, "osgs: signed %s with this site's key (%s)\n", src.SetDir, backup.SigningKeyFile)
		return nil
	})
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

// Prune deletes old sets, locally and at every destination: -keep=N newest and/or -daily=N, -weekly=N, -monthly=N; the newest verified set is never deleted, nor a set under an S3 Object Lock retention.
func (Backup) Prune(ctx context.Context, keep, daily, weekly, monthly *int, dryrun *bool) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		p := backup.Policy{Last: deref(keep), Daily: deref(daily), Weekly: deref(weekly), Monthly: deref(monthly)}
		return offsite.PruneEverywhere(ctx, e, backup.Root(e), p, deref(dryrun), e.Out, "")
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

// Job runs the scheduled work once: backup:all, backup:verify of the new set, then with -push backup:push, then with a policy (-keep=N, -daily=N, ...) backup:prune; failures are notified.
//
// The run is recorded in backups/.state.json (read by backup:check and
// stack:status) and, with BACKUP_METRICS_DIR, as Prometheus metrics for
// node-exporter's textfile collector.
func (Backup) Job(ctx context.Context, push *bool, to *string, keep, daily, weekly, monthly *int, noverify *bool) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		return schedule.Job(ctx, e, schedule.JobOptions{
			Root: backup.Root(e), Push: deref(push), To: deref(to), NoVerify: deref(noverify),
			Policy: backup.Policy{Last: deref(keep), Daily: deref(daily), Weekly: deref(weekly), Monthly: deref(monthly)},
		})
	})
}

// Check prints one line and fails when the newest verified set, locally or at any destination, is older than -maxage (default 26h) or the last job failed; -local skips the destinations, -notify sends the failure.
func (Backup) Check(ctx context.Context, maxage *string, local, notify *bool) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		age := 26 * time.Hour
		if m := deref(maxage); m != "" {
			d, err := time.ParseDuration(m)
			if err != nil || d <= 0 {
				return fmt.Errorf("-maxage=%q: want a duration such as 26h or 90m: %w", m, engine.ErrModel)
			}
			age = d
		}
		v, err := schedule.Check(ctx, e, backup.Root(e), age, deref(local), deref(notify))
		if err != nil {
			return err
		}
		if !v.OK {
			return errors.New(v.Line)
		}
		fmt.Fprintln(e.Out, v.Line)
		return nil
	})
}

// Notify sends the reason of the last failed job (or -unit's failure) to the configured webhook and e-mail; the schedule's OnFailure unit calls it.
func (Backup) Notify(ctx context.Context, unit *string) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		st, err := watch.Load(backup.Root(e))
		if err != nil {
			return err
		}
		line := "the backup job failed"
		if u := deref(unit); u != "" {
			line = "systemd unit " + u + " failed"
		}
		if st.LastRun != nil && !st.LastRun.OK {
			line += ": " + st.LastRun.Error
		} else {
			line += " before it could record why (see journalctl, or backups/job.log)"
		}
		return schedule.Notify(ctx, e, line)
	})
}

// Schedule installs systemd units that run backup:job for this checkout (-at=CALENDAR, default 02:30 daily; -push; -keep=N, -daily=N, -weekly=N, -monthly=N); without systemd it prints the cron line instead.
func (Backup) Schedule(ctx context.Context, at *string, push *bool, keep, daily, weekly, monthly *int) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		o, err := scheduleOptions(e, deref(at), deref(push), backup.Policy{Last: deref(keep), Daily: deref(daily), Weekly: deref(weekly), Monthly: deref(monthly)})
		if err != nil {
			return err
		}
		if !schedule.SystemdRunning() {
			line, err := schedule.CronLine(o)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.Err, "osgs: systemd is not PID 1 here, so no units were installed; add this line to root's crontab (crontab -e) instead:")
			fmt.Fprintln(e.Out, line)
			return nil
		}
		if err := schedule.Install(ctx, o); err != nil {
			return err
		}
		_, timer, _ := schedule.Names(o.Project)
		fmt.Fprintf(e.Out, "installed %s (%s, Persistent, RandomizedDelaySec=%s) in %s; see systemctl list-timers %s\n", timer, o.At, o.Delay, schedule.UnitDir, timer)
		return nil
	})
}

// Unschedule stops the backup timer of this checkout and removes its units (without systemd: says which cron line to remove).
func (Backup) Unschedule(ctx context.Context) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		if !schedule.SystemdRunning() {
			fmt.Fprintf(e.Err, "osgs: systemd is not PID 1 here: remove the crontab line that runs backup:job in %s (crontab -e)\n", e.Dir)
			return nil
		}
		gone, err := schedule.Uninstall(ctx, e.ProjectName())
		for _, g := range gone {
			fmt.Fprintln(e.Out, "removed", g)
		}
		if len(gone) == 0 && err == nil {
			fmt.Fprintln(e.Out, "no backup units were installed for", e.ProjectName())
		}
		return err
	})
}

// scheduleOptions builds the units' options for e's checkout.
func scheduleOptions(e *engine.Engine, at string, push bool, p backup.Policy) (schedule.Options, error) {
	goBin, err := exec.LookPath("go")
	if err == nil {
		goBin, err = filepath.Abs(goBin)
	}
	if err != nil {
		return schedule.Options{}, fmt.Errorf("the go command is not on PATH: %w", err)
	}
	if at == "" {
		at = schedule.DefaultAt
	}
	var args []string
	if push {
		args = append(args, "-push")
	}
	for flag, n := range map[string]int{"keep": p.Last, "daily": p.Daily, "weekly": p.Weekly, "monthly": p.Monthly} {
		if n > 0 {
			args = append(args, fmt.Sprintf("-%s=%d", flag, n))
		}
	}
	slices.Sort(args)
	owner, err := schedule.CheckoutOwner(e.Dir)
	if err != nil {
		return schedule.Options{}, err
	}
	path := filepath.Dir(goBin) + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	return schedule.Options{Project: e.ProjectName(), Dir: e.Dir, Go: goBin, At: at, Args: args, Delay: "15m", Path: path, User: owner.Name, Home: owner.Home}, nil
}
