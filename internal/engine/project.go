package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v5/pkg/api"

	"github.com/osgs/osgs/internal/config"
)

// ErrModel marks a compose model (compose.yaml, a fragment or an override)
// that does not load: bad input, reported before anything changes.
var ErrModel = errors.New("invalid compose model")

// OverrideFiles are the optional local override files compose picks up, in order.
var OverrideFiles = []string{"compose.override.yaml", "compose.override.yml", "docker-compose.override.yaml", "docker-compose.override.yml"}

// ComposeFiles lists compose.yaml plus the first override file present.
func (e *Engine) ComposeFiles() []string {
	files := []string{filepath.Join(e.Dir, RootCompose)}
	for _, o := range OverrideFiles {
		p := filepath.Join(e.Dir, o)
		if _, err := os.Stat(p); err == nil {
			files = append(files, p)
			break
		}
	}
	return files
}

// Project loads the compose model narrowed to services (all enabled services
// when none are named). Naming a service activates its profile.
func (e *Engine) Project(ctx context.Context, services ...string) (*types.Project, error) {
	if err := e.CheckServices(services...); err != nil {
		return nil, err
	}
	opts := api.ProjectLoadOptions{
		ProjectName: e.ProjectName(),
		ConfigPaths: e.ComposeFiles(),
		WorkingDir:  e.Dir,
		Profiles:    e.Enabled(),
		Services:    services,
		Offline:     true,
	}
	if _, err := os.Stat(config.Path(e.Dir)); err == nil {
		opts.EnvFiles = []string{config.Path(e.Dir)}
	}
	p, err := e.compose.LoadProject(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("%w (%s): %s", ErrModel, strings.Join(relAll(e.Dir, opts.ConfigPaths), ", "), oneLine(err.Error()))
	}
	if err := e.resolveFiles(p); err != nil {
		return nil, err
	}
	if err := e.segment(p); err != nil {
		return nil, err
	}
	return p, nil
}

func relAll(dir string, paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		if r, err := filepath.Rel(dir, p); err == nil {
			p = r
		}
		out[i] = p
	}
	return out
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// targets returns the services a verb acts on: the named ones, or every
// enabled service.
func (e *Engine) targets(services []string) []string {
	if len(services) > 0 {
		return services
	}
	return e.Enabled()
}

// prepare is the common start of every verb that acts on services: check
// the names against the catalog, connect to the daemon, complete .env, and
// load the model narrowed to the named (or enabled) services. It changes
// nothing when any step fails.
func (e *Engine) prepare(ctx context.Context, services []string) (*types.Project, error) {
	if err := e.CheckServices(services...); err != nil {
		return nil, err
	}
	if err := e.Ready(ctx); err != nil {
		return nil, err
	}
	return e.Project(ctx, e.targets(services)...)
}
