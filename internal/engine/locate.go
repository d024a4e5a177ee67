package engine

import (
	"context"
	"errors"
	"sync"

	"github.com/moby/moby/client"
)

// Located is a service's container on another engine: a swarm task on its
// node.
type Located struct {
	Client client.APIClient // the engine of the node that runs it
	ID     string           // the container, on that engine
}

// A Locator finds the container of a service this engine does not run
// (package swarm provides one). It returns ErrNotDeployed when the service
// is not deployed there either.
type Locator func(ctx context.Context, service string) (Located, error)

// ErrNotDeployed is a Locator's answer for a service it does not run.
var ErrNotDeployed = errors.New("not deployed")

// SetLocator makes ContainerOf ask l for services this engine does not run.
// Close calls closeFn (it may be nil), for the clients l opened.
func (e *Engine) SetLocator(l Locator, closeFn func() error) {
	e.routes.locate, e.routes.closeLocator = l, closeFn
}

// DockerFor is the client of the engine that runs container id: the node
// of a container ContainerOf located elsewhere, or a container created with
// that node's client (Route), else this engine's.
func (e *Engine) DockerFor(id string) client.APIClient {
	if c := e.routes.get(id); c != nil {
		return c
	}
	return e.docker
}

// Routed reports whether container id runs on another engine than this
// one, so that paths needing this host's file system (a FIFO) are not used.
func (e *Engine) Routed(id string) bool { return e.routes.get(id) != nil }

// Route records that container id (say, a helper created beside a routed
// service) lives on the engine of c.
func (e *Engine) Route(id string, c client.APIClient) {
	if c != e.docker {
		e.routes.add(id, c)
	}
}

// routes maps container IDs to the engines that run them.
type routes struct {
	locate       Locator
	closeLocator func() error
	mirror       Mirrorer
	mu           sync.Mutex
	by           map[string]client.APIClient
}

func (r *routes) add(id string, c client.APIClient) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.by == nil {
		r.by = map[string]client.APIClient{}
	}
	r.by[id] = c
}

func (r *routes) get(id string) client.APIClient {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.by[id]
}

// Hooks are the steps the engine runs around its verbs; swarm:deploy runs
// the same ones around a deploy.
func (e *Engine) Hooks() Hooks { return e.hooks }

// A Mirrorer brings a verb's write to the other copies of a service's
// mirrored volumes (all of them, or those named): the copies a swarm keeps
// on every node of the service's role. Package swarm provides it.
type Mirrorer func(ctx context.Context, service string, volumes []string) error

// SetMirror makes Mirror call m for services this engine does not run.
func (e *Engine) SetMirror(m Mirrorer) { e.routes.mirror = m }

// Mirror is called by the verbs that write into a service's mirrored
// volumes (qgis:publish, files:put, a volume restore) once the write is
// done: a swarm deployment copies the written volume to the other nodes
// that keep one. It does nothing for a service this engine runs itself.
func (e *Engine) Mirror(ctx context.Context, service string, volumes ...string) error {
	if e.routes.mirror == nil {
		return nil
	}
	if _, err := e.localContainerOf(ctx, service); err == nil {
		return nil
	}
	return e.routes.mirror(ctx, service, volumes)
}
