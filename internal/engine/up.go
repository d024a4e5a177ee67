package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v5/pkg/api"

	"github.com/osgs/osgs/internal/config"
	"github.com/osgs/osgs/internal/envfile"
)

// snapshotEnv records .env as it is, and returns what puts it back (or
// removes it, when there was none) and reloads it.
func (e *Engine) snapshotEnv() (undo func() error) {
	path := config.Path(e.Dir)
	before, err := os.ReadFile(path)
	existed := err == nil
	return func() error {
		var err error
		if existed {
			err = envfile.WriteFileAtomic(path, before, envfile.Mode)
		} else if rmErr := os.Remove(path); rmErr != nil && !os.IsNotExist(rmErr) {
			err = rmErr
		}
		if f, rerr := envfile.Read(path); rerr == nil {
			e.Env = f
		} else {
			e.Env = &envfile.File{}
		}
		return err
	}
}

// UpOptions configure Up.
type UpOptions struct {
	// Services to start; every enabled service when empty. Naming a service
	// enables it.
	Services []string
	// WaitTimeout bounds the wait for healthy containers.
	WaitTimeout time.Duration
}

// Up builds missing images, checks that published ports are free, creates or
// keeps containers (a second Up recreates nothing), waits until they are
// running and healthy, and runs the after-up hooks (nginx's configuration,
// PostGIS roles). It is the one way up, for targets and internal callers.
func (e *Engine) Up(ctx context.Context, opts UpOptions) error {
	if err := e.CheckServices(opts.Services...); err != nil {
		return err
	}
	if err := e.Connect(ctx); err != nil {
		return err
	}
	// A refused up changes nothing: .env is written (completed, services
	// enabled) only once the model with those changes loads.
	undo := e.snapshotEnv()
	if err := e.Configured(); err != nil {
		return err
	}
	for _, s := range opts.Services {
		config.SetEnabled(e.Env, s, true)
	}
	project, err := e.Project(ctx, e.targets(opts.Services)...)
	if err != nil {
		return errors.Join(err, undo())
	}
	if err := e.Env.Write(config.Path(e.Dir)); err != nil {
		return err
	}
	if len(project.Services) == 0 {
		fmt.Fprintln(e.Err, "osgs: no service is enabled; enable one with `mage stack:enable <service>`")
		return nil
	}
	if err := e.buildMissing(ctx, project); err != nil {
		return err
	}
	if db := e.databaseFirst(ctx, project); db != "" {
		// Services that log in to PostGIS need their roles to start, and
		// the roles are made once PostGIS runs: it comes up first, through
		// this same path (hooks included).
		first := opts
		first.Services = []string{db}
		if err := e.Up(ctx, first); err != nil {
			return err
		}
	}
	if e.hooks.BeforeStart != nil {
		if err := e.hooks.BeforeStart(ctx, e, project.ServiceNames()); err != nil {
			return err
		}
	}
	if err := e.checkPorts(ctx, project); err != nil {
		return err
	}
	if err := e.prepareOwners(ctx, project); err != nil {
		return err
	}
	if err := e.joinHubs(ctx, project); err != nil {
		return err
	}
	if opts.WaitTimeout == 0 {
		opts.WaitTimeout = 5 * time.Minute
	}
	err = e.compose.Up(ctx, project, api.UpOptions{
		Create: api.CreateOptions{
			Recreate:             api.RecreateDiverged,
			RecreateDependencies: api.RecreateDiverged,
			IgnoreOrphans:        true,
			QuietPull:            true,
		},
		Start: api.StartOptions{Project: project},
	})
	if err != nil {
		return fmt.Errorf("start %v: %w", project.ServiceNames(), err)
	}
	if err := e.waitReady(ctx, project, opts.WaitTimeout); err != nil {
		return err
	}
	if e.hooks.AfterUp != nil {
		return e.hooks.AfterUp(ctx, e, project.ServiceNames())
	}
	return nil
}

// databaseFirst names the database service when p starts it together with
// services that have a database role, and it is not running yet.
func (e *Engine) databaseFirst(ctx context.Context, p *types.Project) string {
	db, roles := "", false
	for _, name := range p.ServiceNames() {
		svc, err := e.Catalog.Get(name)
		if err != nil {
			continue
		}
		if svc.Database {
			db = name
		}
		roles = roles || svc.DBRole != nil
	}
	if db == "" || !roles {
		return ""
	}
	if _, err := e.localContainerOf(ctx, db); err == nil {
		return ""
	}
	return db
}
