// Package hooks is the orchestration above the engine: it maps catalog
// services to the Go code that runs around the generic verbs (after up, after
// an enable or disable), and opens engines that run it (Open). A service
// without an entry only gets the generic behaviour.
package hooks

import (
	"context"
	"fmt"
	"slices"

	"github.com/osgs/osgs/internal/dbroles"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/nginx"
	"github.com/osgs/osgs/internal/pitr"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/postgrest"
)

// Hooks are a service's extra steps.
type Hooks struct {
	// AfterUp runs once the service is up and healthy.
	AfterUp func(ctx context.Context, e *engine.Engine) error
}

var registry = map[string]Hooks{
	postgis.Service: {AfterUp: func(ctx context.Context, e *engine.Engine) error {
		if err := postgis.AfterUp(ctx, e); err != nil {
			return err
		}
		if err := pitr.Setup(ctx, e); err != nil { // WAL archiving's stanza and first base backup
			return err
		}
		if err := postgrest.Setup(ctx, e); err != nil { // when PostgREST is enabled
			return err
		}
		return dbroles.Setup(ctx, e) // every enabled service's own role
	}},
	postgrest.Service: {AfterUp: postgrest.Setup},
	nginx.Service:     {AfterUp: nginx.Apply},
}

// Open opens the checkout's engine with the hooks: the one way every caller,
// mage target or test, gets an engine whose Up, Enable and Disable run them.
func Open(opts engine.Options) (*engine.Engine, error) {
	opts.Hooks = engine.Hooks{BeforeStart: BeforeStart, AfterUp: AfterUp, AfterChange: AfterChange}
	return engine.Open(opts)
}

// For returns the hooks of service (zero Hooks when it has none).
func For(service string) Hooks { return registry[service] }

// BeforeStart makes the database roles of the services about to start,
// when PostGIS runs (when it does not, its own up makes them): services such
// as pg_featureserv log in as theirs as they start.
func BeforeStart(ctx context.Context, e *engine.Engine, services []string) error {
	for _, s := range services {
		if svc, err := e.Catalog.Get(s); err == nil && svc.DBRole != nil {
			return dbroles.Setup(ctx, e)
		}
	}
	return nil
}

// AfterUp runs the AfterUp hooks of services, in order, then brings the
// front door up to date and says where each web service answers.
func AfterUp(ctx context.Context, e *engine.Engine, services []string) error {
	// Database roles were made before the services started (BeforeStart,
	// or PostGIS's own hook when it came up first).
	for _, s := range services {
		if h := For(s).AfterUp; h != nil {
			if err := h(ctx, e); err != nil {
				return err
			}
		}
	}
	if !slices.Contains(services, nginx.Service) {
		if err := nginx.Sync(ctx, e); err != nil {
			return err
		}
	}
	for _, s := range services {
		if u := nginx.URL(e, s); u != "" {
			fmt.Fprintf(e.Out, "%s: %s\n", s, u)
		}
	}
	return nil
}

// AfterChange brings the front door up to date after a service was enabled
// or disabled.
func AfterChange(ctx context.Context, e *engine.Engine) error { return nginx.Sync(ctx, e) }
