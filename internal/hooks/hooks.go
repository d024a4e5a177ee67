// Package hooks maps catalog services to the Go code that runs around the
// generic verbs (after up, backup, restore). A service without an entry only
// gets the generic behaviour.
package hooks

import (
	"context"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/postgis"
)

// Hooks are a service's extra steps.
type Hooks struct {
	// AfterUp runs once the service is up and healthy.
	AfterUp func(ctx context.Context, e *engine.Engine) error
}

var registry = map[string]Hooks{
	postgis.Service: {AfterUp: postgis.AfterUp},
}

// For returns the hooks of service (zero Hooks when it has none).
func For(service string) Hooks { return registry[service] }

// AfterUp runs the AfterUp hooks of services, in order.
func AfterUp(ctx context.Context, e *engine.Engine, services []string) error {
	for _, s := range services {
		if h := For(s).AfterUp; h != nil {
			if err := h(ctx, e); err != nil {
				return err
			}
		}
	}
	return nil
}
