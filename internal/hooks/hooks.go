// Package hooks maps catalog services to the Go code that runs around the
// generic verbs (after up, backup, restore). A service without an entry only
// gets the generic behaviour.
package hooks

import (
	"context"
	"fmt"
	"slices"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/nginx"
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
		return postgrest.Setup(ctx, e) // when PostgREST is enabled
	}},
	postgrest.Service: {AfterUp: postgrest.Setup},
	nginx.Service:     {AfterUp: nginx.Apply},
}

// For returns the hooks of service (zero Hooks when it has none).
func For(service string) Hooks { return registry[service] }

// AfterUp runs the AfterUp hooks of services, in order, then brings the
// front door up to date and says where each web service answers.
func AfterUp(ctx context.Context, e *engine.Engine, services []string) error {
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
