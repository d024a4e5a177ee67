package engine

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/docker/compose/v5/pkg/api"
)

// LogsOptions configure Logs.
type LogsOptions struct {
	Services []string
	Follow   bool
	Tail     string // number of lines, or "all"
}

// Logs prints service logs, prefixed with the container name.
func (e *Engine) Logs(ctx context.Context, opts LogsOptions) error {
	if err := e.CheckServices(opts.Services...); err != nil {
		return err
	}
	if err := e.Connect(ctx); err != nil {
		return err
	}
	p, err := e.Project(ctx, e.targets(opts.Services)...)
	if err != nil {
		return err
	}
	if opts.Tail == "" {
		opts.Tail = "all"
	}
	err = e.compose.Logs(ctx, p.Name, &logPrinter{out: e.Out, err: e.Err}, api.LogOptions{
		Project: p, Services: p.ServiceNames(), Follow: opts.Follow, Tail: opts.Tail,
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("logs: %w", err)
	}
	return nil
}

type logPrinter struct {
	mu       sync.Mutex
	out, err io.Writer
}

func (l *logPrinter) Log(name, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.out, "%s | %s\n", name, msg)
}

func (l *logPrinter) Err(name, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.err, "%s | %s\n", name, msg)
}

func (l *logPrinter) Status(name, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.err, "%s: %s\n", name, msg)
}
