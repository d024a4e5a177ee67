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
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/magefile/mage/mg"

	"github.com/osgs/osgs/internal/catalog"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/envfile"
	"github.com/osgs/osgs/internal/hooks"
	"github.com/osgs/osgs/internal/offsite"
	"github.com/osgs/osgs/internal/refusal"
	"github.com/osgs/osgs/internal/seal"
	"github.com/osgs/osgs/internal/swarm"
)

//go:generate go run ../internal/gen/cmd

// Exit codes.
const (
	exitFailure  = 1 // the work failed
	exitBadInput = 2 // the request was refused before anything changed
)

// run opens the checkout in the working directory, calls f and converts its
// error at the target edge. SIGINT and SIGTERM cancel ctx, and f's deferred
// clean-up (helpers, temporary folders, services restarted after a backup)
// runs to its end; a second signal forces the exit.
func run(ctx context.Context, f func(ctx context.Context, e *engine.Engine) error) error {
	ctx, stop := interruptible(ctx)
	defer stop()
	e, err := hooks.Open(engine.Options{})
	if err != nil {
		return fatal(err)
	}
	defer e.Close()
	// The verbs that exec into a service reach its swarm task too. (Set
	// here: package hooks sits below swarm's tests, which import testenv.)
	swarm.Locate(e)
	return fatal(f(ctx, e))
}

// interruptible cancels ctx on SIGINT or SIGTERM. mage itself handles only
// SIGINT, and gives a target 5 seconds to clean up before it exits; a
// restore or backup may need longer to restart what it stopped. So osgs
// takes both signals over while a target runs.
func interruptible(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	signal.Reset(syscall.SIGINT, syscall.SIGTERM)
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sig:
			fmt.Fprintf(os.Stderr, "osgs: %v: stopping and cleaning up (send it again to exit at once)\n", s)
			cancel()
		case <-done:
			return
		}
		select {
		case <-sig:
			fmt.Fprintln(os.Stderr, "osgs: exiting without cleaning up")
			os.Exit(130)
		case <-done:
		}
	}()
	return ctx, func() { close(done); signal.Stop(sig); cancel() }
}

// fatal turns err into an mg.Fatal carrying one line and an exit code.
func fatal(err error) error {
	if err == nil {
		return nil
	}
	code := exitFailure
	var (
		unknown  *catalog.UnknownServiceError
		confirm  *engine.ConfirmError
		identity *seal.WrongIdentityError
		missing  *offsite.NotCompleteError
	)
	if errors.As(err, &unknown) || errors.As(err, &confirm) || errors.As(err, &identity) || errors.As(err, &missing) || errors.Is(err, envfile.ErrMalformed) || errors.Is(err, engine.ErrModel) || errors.Is(err, refusal.Err) {
		code = exitBadInput
	}
	if errors.Is(err, context.Canceled) {
		return mg.Fatal(130, "interrupted")
	}
	return mg.Fatal(code, oneLine(err))
}

// oneLine is err's message on one line, without a dangling ": " where a
// wrapped error said nothing.
func oneLine(err error) string {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	for strings.HasSuffix(msg, ":") {
		msg = strings.TrimSpace(strings.TrimSuffix(msg, ":"))
	}
	return strings.ReplaceAll(msg, ": :", ":")
}

// up starts services; the engine runs their after-up hooks.
func up(ctx context.Context, services ...string) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		return e.Up(ctx, engine.UpOptions{Services: services})
	})
}

func stop(ctx context.Context, service string) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error { return e.Stop(ctx, service) })
}

func restart(ctx context.Context, services ...string) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error { return e.Restart(ctx, services...) })
}

func status(ctx context.Context, services ...string) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error { return e.Status(ctx, services...) })
}

func logs(ctx context.Context, follow *bool, tail *string, services ...string) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		return e.Logs(ctx, engine.LogsOptions{Services: services, Follow: deref(follow), Tail: deref(tail)})
	})
}

func shell(ctx context.Context, service string) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		return e.Interactive(ctx, service, "", "sh", "-c", "command -v bash >/dev/null && exec bash || exec sh")
	})
}

func enable(ctx context.Context, service string) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		return e.Enable(ctx, service)
	})
}

func disable(ctx context.Context, service string) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		return e.Disable(ctx, service)
	})
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
