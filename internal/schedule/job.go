package schedule

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/osgs/osgs/internal/backup"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/offsite"
	"github.com/osgs/osgs/internal/pitr"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/watch"
)

// JobOptions configure one run of the job.
type JobOptions struct {
	Root     string
	Push     bool          // push the verified set to every destination (To: only that one)
	To       string        //
	Policy   backup.Policy // prune locally and remotely; empty: no prune
	NoVerify bool
}

// Job runs backup, a pgBackRest base backup (when PITR is on), verify,
// push, then prune, and records the run in
// backups/.state.json (and the metrics file, when BACKUP_METRICS_DIR is
// set). A failure is notified (webhook, e-mail) with its reason, unless
// systemd runs the job: then the unit's OnFailure does it, which also
// covers a job that was killed.
func Job(ctx context.Context, e *engine.Engine, o JobOptions) (err error) {
	run := watch.Run{Started: time.Now().UTC()}
	step := func(name string, f func() error) error {
		if err != nil {
			return err
		}
		run.Step = name
		fmt.Fprintf(e.Err, "osgs: backup job: %s\n", name)
		if err = f(); err != nil {
			err = fmt.Errorf("%s: %w", name, err)
		}
		return err
	}
	lookup := offsite.Lookup(e)
	var dir string
	step("backup", func() error {
		var err error
		dir, err = backup.Run(ctx, e, backup.Options{Root: o.Root, Config: true})
		if err == nil {
			run.Set = filepath.Base(dir)
			m, _ := backup.ReadManifest(dir)
			for _, f := range m.Files {
				run.Size += f.Size
			}
		}
		return err
	})
	if pitr.Enabled(e) && slices.Contains(e.Enabled(), postgis.Service) {
		// pgBackRest's base backups bound its WAL (its retention expires
		// the old ones as it goes).
		step("basebackup", func() error { return pitr.Basebackup(ctx, e, "auto") })
	}
	if !o.NoVerify {
		step("verify", func() error {
			if err := backup.Verify(ctx, e, o.Root, run.Set); err != nil {
				return err
			}
			run.Verified = true
			return nil
		})
	}
	if o.Push {
		step("push", func() error {
			dests, err := offsite.Destinations(e)
			if err != nil {
				return err
			}
			if len(dests) == 0 {
				return errors.New("-push: no destination (set BACKUP_REMOTE in .env)")
			}
			for _, d := range dests {
				if o.To != "" && d.Name != strings.ToLower(o.To) {
					continue
				}
				res, err := offsite.PushSet(ctx, e, o.Root, run.Set, d.Name)
				if err != nil {
					return err
				}
				run.Pushed = append(run.Pushed, d.Name)
				fmt.Fprintf(e.Err, "osgs: pushed %s to %s\n", res.Set, d.Name)
			}
			return nil
		})
	}
	if o.Policy != (backup.Policy{}) {
		step("prune", func() error { return offsite.PruneEverywhere(ctx, e, o.Root, o.Policy, false, e.Err, "osgs: ") })
	}
	run.Finished = time.Now().UTC()
	run.OK = err == nil
	if err != nil {
		run.Error = strings.Join(strings.Fields(err.Error()), " ")
	} else {
		run.Step = ""
	}
	recErr := watch.RecordRun(o.Root, run)
	if metricsDir := lookup(watch.MetricsDirKey); metricsDir != "" {
		st, _ := watch.Load(o.Root)
		local, _ := backup.List(o.Root)
		if _, merr := watch.WriteMetrics(metricsDir, e.ProjectName(), st, local); merr != nil {
			recErr = errors.Join(recErr, merr)
		}
	}
	if err != nil && os.Getenv("INVOCATION_ID") == "" {
		if nerr := Notify(ctx, e, "backup job failed: "+run.Error); nerr != nil {
			fmt.Fprintf(e.Err, "osgs: %v\n", nerr)
		}
	}
	return errors.Join(err, recErr)
}

// Notify sends line on the configured channels; with none it says so on
// stderr only.
func Notify(ctx context.Context, e *engine.Engine, line string) error {
	n, err := watch.NewNotifier(offsite.Lookup(e), e.Dir, e.ProjectName())
	if err != nil {
		return err
	}
	if !n.Configured() {
		fmt.Fprintln(e.Err, "osgs: no notification is configured (BACKUP_NOTIFY_WEBHOOK, BACKUP_NOTIFY_EMAIL)")
		return nil
	}
	return n.Send(ctx, line)
}

// Check is backup:check: the record, the local sets and, unless local is
// set, every destination's sets. A failing verdict is notified.
func Check(ctx context.Context, e *engine.Engine, root string, maxAge time.Duration, localOnly, notify bool) (watch.Verdict, error) {
	st, err := watch.Load(root)
	if err != nil {
		return watch.Verdict{}, err
	}
	local, err := backup.List(root)
	if err != nil {
		return watch.Verdict{}, err
	}
	var remotes []watch.Remote
	if !localOnly {
		dests, err := offsite.Destinations(e)
		if err != nil {
			return watch.Verdict{}, err
		}
		for _, d := range dests {
			sets, _, err := offsite.ListSets(ctx, e, d.Name)
			remotes = append(remotes, watch.Remote{Name: d.Name, Sets: sets, Err: err})
		}
	}
	v := watch.Check(st, local, remotes, maxAge, time.Now())
	if !v.OK && notify {
		if err := Notify(ctx, e, v.Line); err != nil {
			fmt.Fprintf(e.Err, "osgs: %v\n", err)
		}
	}
	return v, nil
}
