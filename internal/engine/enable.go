package engine

import (
	"context"
	"fmt"

	"github.com/osgs/osgs/internal/config"
)

// setEnabled records a service as enabled or not in .env.
func (e *Engine) setEnabled(service string, on bool) error {
	if !config.SetEnabled(e.Env, service, on) {
		return nil
	}
	return e.Env.Write(config.Path(e.Dir))
}

// Enable records service as enabled; stack:up will start it.
func (e *Engine) Enable(ctx context.Context, service string) error {
	if err := e.CheckServices(service); err != nil {
		return err
	}
	if err := e.Configured(); err != nil {
		return err
	}
	if err := e.setEnabled(service, true); err != nil {
		return err
	}
	fmt.Fprintf(e.Err, "osgs: %s enabled (enabled: %v)\n", service, e.Enabled())
	return e.afterChange(ctx)
}

func (e *Engine) afterChange(ctx context.Context) error {
	if e.hooks.AfterChange == nil {
		return nil
	}
	return e.hooks.AfterChange(ctx, e)
}

// Disable stops service gracefully when it runs, then records it as disabled.
// No other service is touched.
func (e *Engine) Disable(ctx context.Context, service string) error {
	if err := e.CheckServices(service); err != nil {
		return err
	}
	if err := e.Ready(ctx); err != nil {
		return err
	}
	if err := e.Stop(ctx, service); err != nil {
		return err
	}
	if err := e.setEnabled(service, false); err != nil {
		return err
	}
	fmt.Fprintf(e.Err, "osgs: %s disabled (enabled: %v)\n", service, e.Enabled())
	return e.afterChange(ctx)
}
