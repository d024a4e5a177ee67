package targets

import (
	"context"
	"fmt"
	"strings"

	"github.com/magefile/mage/mg"

	"github.com/osgs/osgs/internal/engine"
	stackstatus "github.com/osgs/osgs/internal/status"
)

// Stack holds the verbs that act on every enabled service at once.
type Stack mg.Namespace

// Configure writes .env (mode 0600) with random secrets, keeping every existing value.
//
// Settings: the domain (OSGS_DOMAIN), the time zone (TZ), the project name
// (COMPOSE_PROJECT_NAME; the same variable in the environment overrides it),
// the enabled services (COMPOSE_PROFILES), and each service's own settings,
// such as POSTGIS_BIND and POSTGIS_PORT. It never prompts and never prints a secret.
func (Stack) Configure(ctx context.Context) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		res, err := e.Configure()
		if err != nil {
			return err
		}
		if len(res.Added) == 0 {
			fmt.Fprintf(e.Err, "osgs: .env is complete; nothing changed\n")
			return nil
		}
		fmt.Fprintf(e.Err, "osgs: wrote .env (mode 0600); added %s\n", strings.Join(res.Added, ", "))
		return nil
	})
}

// Enable records a service as enabled, so that stack:up starts it.
func (Stack) Enable(ctx context.Context, service string) error { return enable(ctx, service) }

// Disable stops a service gracefully if it runs and records it as disabled; other services are untouched.
func (Stack) Disable(ctx context.Context, service string) error { return disable(ctx, service) }

// Up builds missing images and starts every enabled service, waiting until all are healthy.
func (Stack) Up(ctx context.Context) error { return up(ctx) }

// Down stops every service gracefully and removes the containers and network; volumes are kept.
func (Stack) Down(ctx context.Context) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error { return e.Down(ctx) })
}

// Restart restarts every enabled service gracefully.
func (Stack) Restart(ctx context.Context) error { return restart(ctx) }

// Status shows one table of every service (enabled, state, health, URL) and warns about a certificate due for renewal.
func (Stack) Status(ctx context.Context) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error { return stackstatus.Show(ctx, e) })
}

// Ps shows every service of the catalog: enabled, state, health, container and ports.
func (Stack) Ps(ctx context.Context) error { return status(ctx) }

// Logs prints the logs of every enabled service; -follow keeps streaming, -tail=N limits the lines.
func (Stack) Logs(ctx context.Context, follow *bool, tail *string) error {
	return logs(ctx, follow, tail)
}

// Pull pulls the pinned upstream images of enabled services; images built here are skipped with a message.
func (Stack) Pull(ctx context.Context) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error { return e.Pull(ctx) })
}

// Config prints the resolved compose model of the enabled services, with secrets masked.
func (Stack) Config(ctx context.Context) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error { return e.PrintConfig(ctx) })
}

// Nuke deletes the project's containers, networks, volumes (all data) and .env; it refuses without -yes.
func (Stack) Nuke(ctx context.Context, yes *bool) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error { return e.Nuke(ctx, deref(yes)) })
}
