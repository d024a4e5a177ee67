// Package engine drives a stack: it owns the Docker client, the Compose SDK
// service, the catalog and the .env of one checkout. One file per verb, as in
// docker/compose's pkg/compose.
//
// Nothing here prompts, prints secrets or imports mage: the mage targets in
// ./mage are thin wrappers over these methods, and tests call them directly.
package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/flags"
	"github.com/docker/compose/v5/pkg/api"
	"github.com/docker/compose/v5/pkg/compose"
	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/catalog"
	"github.com/osgs/osgs/internal/config"
	"github.com/osgs/osgs/internal/envfile"
	"github.com/osgs/osgs/internal/refusal"
)

// Options configure an Engine.
type Options struct {
	// Dir is the project root: the folder holding compose.yaml and services/.
	Dir string
	// Out receives the results a user asked for (tables, connection hints).
	Out io.Writer
	// Err receives progress and notices.
	Err io.Writer
	// In is the standard input for shells and psql.
	In io.Reader
	// Hooks are the steps that run around the generic verbs; internal/hooks
	// opens engines with them, so that every caller, target or internal
	// (a restore, a certificate renewal), goes up the same way.
	Hooks Hooks
}

// Hooks are the steps around the generic verbs that need packages above the
// engine (nginx's configuration, PostGIS roles). The engine runs them itself
// in Up, Enable and Disable.
type Hooks struct {
	// BeforeStart runs before services are created or started (PostGIS
	// roles, which services with a database_role need to start).
	BeforeStart func(ctx context.Context, e *Engine, services []string) error
	// AfterUp runs once services are up and healthy.
	AfterUp func(ctx context.Context, e *Engine, services []string) error
	// AfterChange runs after a service was enabled or disabled.
	AfterChange func(ctx context.Context, e *Engine) error
}

// Engine is one checkout's stack.
type Engine struct {
	Dir     string
	Catalog *catalog.Catalog
	Env     *envfile.File
	Out     io.Writer
	Err     io.Writer
	In      io.Reader

	cli     *command.DockerCli
	docker  client.APIClient
	compose api.Compose
	hooks   Hooks
	routes  routes // containers on other engines (swarm tasks), by ID
}

// Open loads the catalog and the existing .env (if any) without contacting Docker.
func Open(opts Options) (*Engine, error) {
	if opts.Dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		opts.Dir = wd
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, RootCompose)); err != nil {
		return nil, fmt.Errorf("%s is not an osgs checkout: no %s", dir, RootCompose)
	}
	cat, err := catalog.Load(dir)
	if err != nil {
		return nil, err
	}
	e := &Engine{Dir: dir, Catalog: cat, Out: opts.Out, Err: opts.Err, In: opts.In, hooks: opts.Hooks}
	if e.Out == nil {
		e.Out = os.Stdout
	}
	if e.Err == nil {
		e.Err = os.Stderr
	}
	if e.In == nil {
		e.In = os.Stdin
	}
	f, err := config.Load(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		e.Env = &envfile.File{}
	case err != nil:
		return nil, err
	default:
		e.Env = f
	}
	return e, nil
}

// RootCompose is the compose file that includes every service fragment.
const RootCompose = "compose.yaml"

// Configure writes or completes .env (see config.Ensure) and reports what it added.
func (e *Engine) Configure() (*config.Result, error) {
	res, err := config.Ensure(e.Dir, e.Catalog)
	if err != nil {
		return nil, err
	}
	e.Env = res.File
	return res, nil
}

// Configured makes sure .env exists and is complete, quietly unless it had to
// add something; the names of added keys are reported, never their values.
func (e *Engine) Configured() error {
	res, err := e.Configure()
	if err != nil {
		return err
	}
	if len(res.Added) > 0 {
		verb := "completed"
		if res.Created {
			verb = "created"
		}
		fmt.Fprintf(e.Err, "osgs: %s %s (mode 0600) with %s\n", verb, config.Path(e.Dir), strings.Join(res.Added, ", "))
	}
	return nil
}

// ProjectName is the compose project name in force.
func (e *Engine) ProjectName() string { return config.ProjectName(e.Env) }

// Enabled lists the enabled services.
func (e *Engine) Enabled() []string { return config.Enabled(e.Env) }

// Connect makes sure the Docker daemon answers, negotiating the API version.
// It is called by every verb that needs Docker, before anything is changed.
func (e *Engine) Connect(ctx context.Context) error {
	if e.docker != nil {
		return nil
	}
	in, ok := e.In.(io.ReadCloser)
	if !ok {
		in = io.NopCloser(e.In)
	}
	// The CLI's streams are what compose's Exec attaches to: stdout is the
	// user's output, progress goes to stderr through the event processor.
	cli, err := command.NewDockerCli(command.WithInputStream(in), command.WithOutputStream(e.Out), command.WithErrorStream(e.Err))
	if err != nil {
		return fmt.Errorf("docker client: %w", err)
	}
	if err := cli.Initialize(flags.NewClientOptions()); err != nil {
		return fmt.Errorf("docker client: %w", err)
	}
	// DOCKER_HOST=tcp:// without DOCKER_TLS_VERIFY and DOCKER_CERT_PATH is
	// the engine's API in clear: secrets, dumps and keys would cross it.
	if ep := cli.DockerEndpoint(); strings.HasPrefix(ep.Host, "tcp://") && ep.TLSData == nil {
		return fmt.Errorf("%w: DOCKER_HOST=%s is Docker's API in clear, with no authentication: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem), or use ssh://user@host", refusal.Err, ep.Host)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Client().Ping(pctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return &DaemonError{Host: cli.DockerEndpoint().Host, Err: err}
	}
	svc, err := compose.NewComposeService(cli,
		compose.WithEventProcessor(newProgress(e.Err)),
		compose.WithPrompt(func(string, bool) (bool, error) { return false, nil }),
	)
	if err != nil {
		return err
	}
	e.cli, e.docker, e.compose = cli, cli.Client(), svc
	return nil
}

// Docker returns the connected Docker API client.
func (e *Engine) Docker() client.APIClient { return e.docker }

// Close releases the Docker connection, and the other engines' that the
// locator opened.
func (e *Engine) Close() error {
	var errs []error
	if e.routes.closeLocator != nil {
		errs = append(errs, e.routes.closeLocator())
	}
	if e.docker != nil {
		errs = append(errs, e.docker.Close())
	}
	return errors.Join(errs...)
}

// Ready is Connect followed by Configured: the order every verb that changes
// the stack uses, so that a missing daemon changes nothing (not even .env).
func (e *Engine) Ready(ctx context.Context) error {
	if err := e.Connect(ctx); err != nil {
		return err
	}
	return e.Configured()
}

// DaemonError reports a Docker daemon that does not answer.
type DaemonError struct {
	Host string
	Err  error
}

func (d *DaemonError) Error() string {
	return fmt.Sprintf("no Docker daemon answers at %s: start dockerd or set DOCKER_HOST (%s)", d.Host, firstLine(d.Err.Error()))
}

func (d *DaemonError) Unwrap() error { return d.Err }

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// service returns the catalog entry or an UnknownServiceError.
func (e *Engine) service(name string) (catalog.Service, error) {
	return e.Catalog.Get(name)
}

// CheckServices validates names against the catalog.
func (e *Engine) CheckServices(names ...string) error {
	for _, n := range names {
		if _, err := e.service(n); err != nil {
			return err
		}
	}
	return nil
}

// Setting reads a setting: .env first, then the process environment (where
// AWS_ACCESS_KEY_ID and friends usually live).
func (e *Engine) Setting(key string) string {
	if v := e.Env.Value(key); v != "" {
		return v
	}
	return os.Getenv(key)
}
