package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/compose/v5/pkg/api"
)

// UpOptions configure Up.
type UpOptions struct {
	// Services to start; every enabled service when empty. Naming a service
	// enables it.
	Services []string
	// WaitTimeout bounds the wait for healthy containers.
	WaitTimeout time.Duration
}

// Up builds missing images, checks that published ports are free, creates or
// keeps containers (a second Up recreates nothing), and waits until they are
// running and healthy.
func (e *Engine) Up(ctx context.Context, opts UpOptions) error {
	if err := e.CheckServices(opts.Services...); err != nil {
		return err
	}
	if err := e.Ready(ctx); err != nil {
		return err
	}
	for _, s := range opts.Services {
		if err := e.setEnabled(s, true); err != nil {
			return err
		}
	}
	project, err := e.Project(ctx, e.targets(opts.Services)...)
	if err != nil {
		return err
	}
	if len(project.Services) == 0 {
		fmt.Fprintln(e.Err, "osgs: no service is enabled; enable one with `mage stack:enable <service>`")
		return nil
	}
	if err := e.buildMissing(ctx, project); err != nil {
		return err
	}
	if err := e.checkPorts(ctx, project); err != nil {
		return err
	}
	if err := e.prepareOwners(ctx, project); err != nil {
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
	return e.waitReady(ctx, project, opts.WaitTimeout)
}
