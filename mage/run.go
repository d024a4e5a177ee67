// Package targets holds osgs's mage targets. Each target is a thin wrapper
// over internal/engine: open the checkout, call one engine method, and turn
// its error into a one-line mage failure with a non-zero exit code.
//
// Per-service namespaces (postgis:up, ...) are generated from the catalog
// into zz_services.go by `go generate ./mage`; hand-written extras for a
// service live in a file named after it.
package targets

import (
	"context"
	"errors"
	"strings"

	"github.com/magefile/mage/mg"

	"github.com/osgs/osgs/internal/catalog"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/envfile"
	"github.com/osgs/osgs/internal/hooks"
)

//go:generate go run ../internal/gen/cmd

// Exit codes.
const (
	exitFailure  = 1 // the work failed
	exitBadInput = 2 // the request was refused before anything changed
)

// run opens the checkout in the working directory, calls f and converts its
// error at the target edge.
func run(ctx context.Context, f func(e *engine.Engine) error) error {
	e, err := engine.Open(engine.Options{})
	if err != nil {
		return fatal(err)
	}
	defer e.Close()
	return fatal(f(e))
}

// fatal turns err into an mg.Fatal carrying one line and an exit code.
func fatal(err error) error {
	if err == nil {
		return nil
	}
	code := exitFailure
	var (
		unknown *catalog.UnknownServiceError
		confirm *engine.ConfirmError
	)
	if errors.As(err, &unknown) || errors.As(err, &confirm) || errors.Is(err, envfile.ErrMalformed) || errors.Is(err, engine.ErrModel) {
		code = exitBadInput
	}
	if errors.Is(err, context.Canceled) {
		return mg.Fatal(130, "interrupted")
	}
	return mg.Fatal(code, strings.Join(strings.Fields(err.Error()), " "))
}

// up starts services and runs their after-up hooks.
func up(ctx context.Context, services ...string) error {
	return run(ctx, func(e *engine.Engine) error {
		if err := e.Up(ctx, engine.UpOptions{Services: services}); err != nil {
			return err
		}
		if len(services) == 0 {
			services = e.Enabled()
		}
		return hooks.AfterUp(ctx, e, services)
	})
}

func stop(ctx context.Context, service string) error {
	return run(ctx, func(e *engine.Engine) error { return e.Stop(ctx, service) })
}

func restart(ctx context.Context, services ...string) error {
	return run(ctx, func(e *engine.Engine) error { return e.Restart(ctx, services...) })
}

func status(ctx context.Context, services ...string) error {
	return run(ctx, func(e *engine.Engine) error { return e.Status(ctx, services...) })
}

func logs(ctx context.Context, follow *bool, tail *string, services ...string) error {
	return run(ctx, func(e *engine.Engine) error {
		return e.Logs(ctx, engine.LogsOptions{Services: services, Follow: deref(follow), Tail: deref(tail)})
	})
}

func shell(ctx context.Context, service string) error {
	return run(ctx, func(e *engine.Engine) error {
		return e.Interactive(ctx, service, "", "sh", "-c", "command -v bash >/dev/null && exec bash || exec sh")
	})
}

func enable(ctx context.Context, service string) error {
	return run(ctx, func(e *engine.Engine) error {
		if err := e.Enable(service); err != nil {
			return err
		}
		return hooks.AfterChange(ctx, e)
	})
}

func disable(ctx context.Context, service string) error {
	return run(ctx, func(e *engine.Engine) error {
		if err := e.Disable(ctx, service); err != nil {
			return err
		}
		return hooks.AfterChange(ctx, e)
	})
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
