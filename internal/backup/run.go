package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/docker/compose/v5/pkg/api"
	"github.com/moby/moby/client"
	"golang.org/x/sync/errgroup"

	"github.com/osgs/osgs/internal/config"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/site"
)

// Parallel is how many archives are written at once. Each already uses
// several zstd goroutines, so two keep these 2-core machines busy.
const Parallel = 2

// DirEnv overrides where sets are written.
const DirEnv = "OSGS_BACKUP_DIR"

// Root is the backups folder of e's checkout.
func Root(e *engine.Engine) string {
	if d := os.Getenv(DirEnv); d != "" {
		return d
	}
	return filepath.Join(e.Dir, "backups")
}

// Options configure Run.
type Options struct {
	Root     string
	Services []string // services to back up; every enabled one when empty
	Database string   // PostGIS: only this database
	Config   bool     // include .env and the other configuration
	NoStats  bool     // PostGIS: skip the content stats that verify compares
	Now      time.Time
	Progress func(label string) io.Writer
	// Mirror, when set, opens a copy of the set named set that receives
	// every file as it is written (backup:all -push).
	Mirror func(set string) (Mirror, error)
}

// Run makes one backup set and returns its folder. On any error, or when ctx
// ends, the unfinished set is removed and no set appears.
func Run(ctx context.Context, e *engine.Engine, o Options) (dir string, err error) {
	if err := e.Connect(ctx); err != nil {
		return "", err
	}
	if o.Root == "" {
		o.Root = Root(e)
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Progress == nil {
		o.Progress = func(string) io.Writer { return nil }
	}
	services := o.Services
	if len(services) == 0 {
		services = e.Enabled()
	}
	if err := e.CheckServices(services...); err != nil {
		return "", err
	}
	rs, err := localRecipients(e)
	if err != nil {
		return "", err
	}
	signer, err := Signer(e)
	if err != nil {
		return "", err
	}
	start := time.Now()
	set, err := NewSet(o.Root, o.Now)
	if err != nil {
		return "", err
	}
	set.recipients, set.signer = rs, signer
	removeStaleHelpers(ctx, e)
	since(ctx, "open the set, remove stale helpers", start)
	if o.Mirror != nil {
		m, err := o.Mirror(set.Name)
		if err != nil {
			set.Abort()
			return "", err
		}
		set.mirror = m
	}
	defer func() {
		if err != nil {
			set.Abort()
			if set.mirror != nil {
				set.mirror.Abort()
			}
		}
	}()
	// Sources are independent and each writes its own files, so they run
	// in parallel; the first failure cancels the others. The configuration
	// goes last, as it is.
	sources, empty := plan(e, services, o)
	for _, name := range empty {
		fmt.Fprintf(e.Err, "osgs: %s holds no data to back up\n", name)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(Parallel)
	for _, src := range sources {
		g.Go(func() error { return src.Save(gctx, set) })
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	if o.Config {
		if err := (configSource{e}).Save(ctx, set); err != nil {
			return "", err
		}
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	start = time.Now()
	dir, err = set.Commit(e.ProjectName(), o.Now)
	since(ctx, "commit the set (manifest, fsync, rename)", start)
	if err != nil || set.mirror == nil {
		return dir, err
	}
	// The local set is complete: the copy's failure no longer undoes it.
	if set.mirrorErr != nil {
		set.mirror.Abort()
		return dir, &MirrorError{Dir: dir, Err: set.mirrorErr}
	}
	if merr := set.mirror.Commit(ctx, dir); merr != nil {
		set.mirror.Abort()
		return dir, &MirrorError{Dir: dir, Err: merr}
	}
	return dir, nil
}

// addConfig copies .env, the override file, and the site configuration
// (certificate, key, basic-auth users: everything under config/) into the set.
func addConfig(e *engine.Engine, set *Set) error {
	files := []string{config.EnvFileName}
	files = append(files, engine.OverrideFiles...)
	err := filepath.WalkDir(filepath.Join(e.Dir, site.ConfigDir), func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(e.Dir, p)
		files = append(files, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		return err
	}
	for _, f := range files {
		src := filepath.Join(e.Dir, f)
		if _, err := os.Stat(src); err != nil {
			continue
		}
		if err := set.AddFile("config/"+f, src, Entry{Service: "osgs", Kind: KindConfig}); err != nil {
			return err
		}
	}
	return nil
}

// BackupVolume is defined in volume.go.

// Quiesce holds service still for a consistent copy of its volumes: "pause"
// freezes its container, "stop" stops it gracefully. The returned resume
// undoes that; it runs even when ctx was cancelled (Ctrl-C, SIGTERM), so a
// backup never leaves a service stopped. A service that is not running
// needs nothing.
func Quiesce(ctx context.Context, e *engine.Engine, service, how string) (resume func() error, err error) {
	nothing := func() error { return nil }
	id, err := e.ContainerOf(ctx, service)
	var nr *engine.NotRunningError
	if errors.As(err, &nr) {
		return nothing, nil
	}
	if err != nil {
		return nil, err
	}
	bg := context.WithoutCancel(ctx)
	if how == "stop" && e.Routed(id) {
		// A swarm task: swarm replaces a stopped task at once, so it is
		// frozen instead, which holds its files as still.
		how = "pause"
	}
	switch how {
	case "pause":
		if _, err := e.DockerFor(id).ContainerPause(ctx, id, client.ContainerPauseOptions{}); err != nil {
			return nil, fmt.Errorf("pause %s for its backup: %w", service, err)
		}
		fmt.Fprintf(e.Err, "osgs: %s paused while its volumes are copied\n", service)
		return func() error {
			if _, err := e.DockerFor(id).ContainerUnpause(bg, id, client.ContainerUnpauseOptions{}); err != nil {
				return fmt.Errorf("unpause %s after its backup: %w", service, err)
			}
			return nil
		}, nil
	case "stop":
		if err := e.Stop(ctx, service); err != nil {
			return nil, fmt.Errorf("stop %s for its backup: %w", service, err)
		}
		fmt.Fprintf(e.Err, "osgs: %s stopped while its volumes are copied\n", service)
		return func() error {
			if err := e.Up(bg, engine.UpOptions{Services: []string{service}}); err != nil {
				return fmt.Errorf("start %s after its backup: %w", service, err)
			}
			return nil
		}, nil
	}
	return nothing, nil
}

// hasPostGIS reports whether the set restores PostGIS.
func hasPostGIS(m *Manifest) bool {
	return slices.ContainsFunc(m.Files, func(f Entry) bool { return f.Service == postgis.Service && f.Kind != KindConfig })
}

// HelperLabel marks the short-lived containers backups and restores start.
const HelperLabel = "org.osgs.helper"

// removeStaleHelpers removes helpers of this project that a killed osgs left
// behind, with their anonymous volumes: every helper that has stopped, and
// every dump helper, since only the holder of the backups lock (this
// process, now) starts those. Running restore helpers are left alone.
func removeStaleHelpers(ctx context.Context, e *engine.Engine) {
	f := client.Filters{}
	f.Add("label", api.ProjectLabel+"="+e.ProjectName())
	f.Add("label", HelperLabel)
	left, err := e.Docker().ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return
	}
	for _, c := range left.Items {
		if c.State == "running" && c.Labels[HelperLabel] != "dump" {
			continue
		}
		_, _ = e.Docker().ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	}
}
