package engine

import (
	"context"
	"fmt"

	"github.com/docker/compose/v5/pkg/api"
)

// Pull pulls the pinned upstream images of the named (or enabled) services.
// Images we build ourselves are skipped with a message: they come from
// services/<name>/Dockerfile (use images:build).
func (e *Engine) Pull(ctx context.Context, services ...string) error {
	p, err := e.prepare(ctx, services)
	if err != nil {
		return err
	}
	var upstream []string
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		if s.Build != nil {
			fmt.Fprintf(e.Err, "osgs: %s is built locally from %s/Dockerfile; not pulled (rebuild with `mage images:build`)\n", name, s.Build.Context)
			continue
		}
		upstream = append(upstream, name)
	}
	if len(upstream) == 0 {
		return nil
	}
	pp, err := p.WithSelectedServices(upstream)
	if err != nil {
		return err
	}
	if err := e.compose.Pull(ctx, pp, api.PullOptions{IgnoreBuildable: true}); err != nil {
		return fmt.Errorf("pull %v: %w", upstream, err)
	}
	return nil
}
