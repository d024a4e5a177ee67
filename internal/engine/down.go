package engine

import (
	"context"
	"fmt"

	"github.com/docker/compose/v5/pkg/api"
)

// Stop stops services gracefully: their stop signal, then up to their own
// stop_grace_period (the engine reads it from each container; osgs passes no
// override). Containers and volumes are kept.
func (e *Engine) Stop(ctx context.Context, services ...string) error {
	p, err := e.prepare(ctx, services)
	if err != nil {
		return err
	}
	if err := e.compose.Stop(ctx, p.Name, api.StopOptions{Project: p, Services: p.ServiceNames()}); err != nil {
		return fmt.Errorf("stop %v: %w", p.ServiceNames(), err)
	}
	return nil
}

// Down stops every service of the project gracefully and removes its
// containers and network. Volumes are kept.
func (e *Engine) Down(ctx context.Context) error {
	if err := e.Ready(ctx); err != nil {
		return err
	}
	p, err := e.Project(ctx, e.Catalog.Names()...)
	if err != nil {
		return err
	}
	if err := e.removeHelpers(ctx); err != nil {
		return err
	}
	if err := e.compose.Down(ctx, p.Name, api.DownOptions{Project: p, RemoveOrphans: true}); err != nil {
		return fmt.Errorf("down: %w", err)
	}
	return nil
}

// Restart restarts services gracefully (every enabled one when none is named).
func (e *Engine) Restart(ctx context.Context, services ...string) error {
	p, err := e.prepare(ctx, services)
	if err != nil {
		return err
	}
	if err := e.compose.Restart(ctx, p.Name, api.RestartOptions{Project: p, Services: p.ServiceNames()}); err != nil {
		return fmt.Errorf("restart %v: %w", p.ServiceNames(), err)
	}
	return nil
}
