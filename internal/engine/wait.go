package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// waitReady waits until every service of p is ready: running, and healthy by
// its own healthcheck. Docker runs the first health probe only one interval
// after start (engines before API 1.44 have no start_interval), so osgs also
// runs the healthcheck's command itself every 200 ms and accepts the first
// success: the same test, without the idle wait.
func (e *Engine) waitReady(ctx context.Context, p *types.Project, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, name := range p.ServiceNames() {
		if err := e.waitService(ctx, name, p.Services[name].HealthCheck); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("%s did not become healthy within %s: see `mage %s:logs`", name, timeout, name)
			}
			return err
		}
	}
	return nil
}

func (e *Engine) waitService(ctx context.Context, name string, hc *types.HealthCheckConfig) error {
	probe := probeCommand(hc)
	for {
		id, err := e.localContainerOf(ctx, name)
		if err != nil {
			var nr *NotRunningError
			if !errors.As(err, &nr) {
				return err
			}
		} else {
			insp, err := e.docker.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
			if err != nil {
				return fmt.Errorf("inspect %s: %w", name, err)
			}
			st := insp.Container.State
			switch {
			case st.Status == container.StateExited || st.Status == container.StateDead:
				return fmt.Errorf("%s exited with code %d: see `mage %s:logs`", name, st.ExitCode, name)
			case st.Health == nil:
				if st.Running {
					return nil
				}
			case st.Health.Status == container.Healthy:
				return nil
			case st.Health.Status == container.Unhealthy:
				return fmt.Errorf("%s is unhealthy: see `mage %s:logs`", name, name)
			case probe != nil && st.Running:
				if e.Exec(ctx, id, probe, ExecOptions{}) == nil {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// probeCommand turns a compose healthcheck test into an exec argv.
func probeCommand(hc *types.HealthCheckConfig) []string {
	if hc == nil || hc.Disable || len(hc.Test) == 0 {
		return nil
	}
	switch hc.Test[0] {
	case "CMD":
		return hc.Test[1:]
	case "CMD-SHELL":
		if len(hc.Test) > 1 {
			return []string{"/bin/sh", "-c", hc.Test[1]}
		}
	}
	return nil
}
