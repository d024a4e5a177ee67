package backup

import (
	"context"
	"time"
)

type traceKey struct{}

// WithTrace returns a context in which a backup reports how long each of
// its stages took (the benchmark prints where the time goes).
func WithTrace(ctx context.Context, f func(stage string, d time.Duration)) context.Context {
	return context.WithValue(ctx, traceKey{}, f)
}

// since reports stage as having run from start until now, when traced.
func since(ctx context.Context, stage string, start time.Time) {
	if f, ok := ctx.Value(traceKey{}).(func(string, time.Duration)); ok {
		f(stage, time.Since(start))
	}
}
