package swarm

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/swarm/convert"
)

// Locate lets the verbs that exec into a service (postgis:psql and sizes,
// backups, restores, files:put and get, nginx's reload and users) reach a
// swarm deployment of e's checkout: a service the local engine does not run
// is looked up among the deployment's tasks, on the manager (SWARM_MANAGER,
// or the local engine when it manages a swarm), and reached through the
// engine of the task's node, the address swarm:join recorded in the node's
// osgs.engine label.
//
// It also keeps the copies of mirrored volumes equal on every node of their
// service's role after a verb wrote to one (see MirrorMarker).
func Locate(e *engine.Engine) { locateFor(e) }

func locateFor(e *engine.Engine) *locator {
	l := &locator{e: e, nodes: map[string]client.APIClient{}}
	e.SetLocator(l.locate, l.close)
	e.SetMirror(l.mirror)
	return l
}

// close closes the node engines' clients it opened (not the local one).
func (l *locator) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for addr, c := range l.nodes {
		errs = append(errs, c.Close())
		delete(l.nodes, addr)
	}
	return errors.Join(errs...)
}

// locator keeps the engines it opened for the life of the process.
type locator struct {
	e     *engine.Engine
	mu    sync.Mutex
	nodes map[string]client.APIClient // by engine address
}

// manager is the swarm manager's client, or nil when there is no swarm to
// look in (the local engine manages none and SWARM_MANAGER is unset).
func (l *locator) manager(ctx context.Context) (client.APIClient, error) {
	if host := l.e.Setting(ManagerKey); host != "" {
		c, err := l.dial(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ManagerKey, err)
		}
		return c, nil
	}
	local := l.e.Docker()
	info, err := local.Info(ctx, client.InfoOptions{})
	if err != nil {
		return nil, err
	}
	if st := info.Info.Swarm; st.LocalNodeState != swarm.LocalNodeStateActive || !st.ControlAvailable {
		return nil, nil
	}
	return local, nil
}

func (l *locator) dial(ctx context.Context, addr string) (client.APIClient, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.nodes[addr]; ok {
		return c, nil
	}
	if addr == l.e.Docker().DaemonHost() {
		return l.e.Docker(), nil
	}
	c, err := Dial(ctx, addr, CertPath(l.e))
	if err != nil {
		return nil, err
	}
	l.nodes[addr] = c
	return c, nil
}

func (l *locator) locate(ctx context.Context, service string) (engine.Located, error) {
	m, err := l.manager(ctx)
	if err != nil || m == nil {
		if err == nil {
			err = engine.ErrNotDeployed
		}
		return engine.Located{}, err
	}
	name := convert.Name(l.e.ProjectName(), service)
	s, err := m.ServiceInspect(ctx, name, client.ServiceInspectOptions{})
	if errdefs.IsNotFound(err) {
		return engine.Located{}, engine.ErrNotDeployed
	}
	if err != nil {
		return engine.Located{}, fmt.Errorf("swarm service %s: %w", name, err)
	}
	f := client.Filters{}
	f.Add("service", s.Service.ID)
	f.Add("desired-state", "running")
	res, err := m.TaskList(ctx, client.TaskListOptions{Filters: f})
	if err != nil {
		return engine.Located{}, fmt.Errorf("tasks of %s: %w", name, err)
	}
	task, ok := pickTask(res.Items)
	if !ok {
		return engine.Located{}, fmt.Errorf("%s is deployed to the swarm but no task of it runs: see `mage swarm:status`", service)
	}
	n, err := m.NodeInspect(ctx, task.NodeID, client.NodeInspectOptions{})
	if err != nil {
		return engine.Located{}, fmt.Errorf("the node of %s: %w", service, err)
	}
	addr := n.Node.Spec.Labels[EngineLabel]
	if addr == "" {
		return engine.Located{}, fmt.Errorf("%s runs on node %s, whose engine osgs does not know: run `mage swarm:join <its engine>` for it once more", service, n.Node.Description.Hostname)
	}
	c, err := l.dial(ctx, addr)
	if err != nil {
		return engine.Located{}, fmt.Errorf("%s runs on node %s: %w", service, n.Node.Description.Hostname, err)
	}
	return engine.Located{Client: c, ID: task.Status.ContainerStatus.ContainerID}, nil
}

// pickTask is the running task that verbs exec into: the lowest slot, so
// that repeated verbs reach the same replica.
func pickTask(tasks []swarm.Task) (swarm.Task, bool) {
	var running []swarm.Task
	for _, t := range tasks {
		if t.Status.State == swarm.TaskStateRunning && t.DesiredState == swarm.TaskStateRunning &&
			t.Status.ContainerStatus != nil && t.Status.ContainerStatus.ContainerID != "" {
			running = append(running, t)
		}
	}
	if len(running) == 0 {
		return swarm.Task{}, false
	}
	sort.Slice(running, func(i, j int) bool {
		if running[i].Slot != running[j].Slot {
			return running[i].Slot < running[j].Slot
		}
		return running[i].ID < running[j].ID
	})
	return running[0], true
}
