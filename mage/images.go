package targets

import (
	"context"

	"github.com/magefile/mage/mg"

	"github.com/osgs/osgs/internal/engine"
)

// Images builds the service images osgs makes from Debian packages.
type Images mg.Namespace

// Build builds the image of every enabled service that has a Dockerfile (the Debian base first, if missing).
func (Images) Build(ctx context.Context) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error { return e.Build(ctx) })
}

// All builds every image osgs builds (each catalog service's, enabled or not, and the helpers') that is missing or stale: to prepare a machine ahead of time.
func (Images) All(ctx context.Context) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error { return e.BuildAll(ctx) })
}

// Base makes sure the Debian base image exists: pulled if a registry answers, otherwise made from Debian's signed packages in Go (OSGS_DEBIAN_MIRROR names another mirror).
func (Images) Base(ctx context.Context) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		if err := e.Connect(ctx); err != nil {
			return err
		}
		return e.EnsureBaseImage(ctx)
	})
}
