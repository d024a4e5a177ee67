package swarm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/swarm/convert"
)

// ServiceRow is one line of swarm:status.
type ServiceRow struct {
	Service           string
	Role              string
	Desired, Running  uint64
	Nodes             []string
	Health            string // healthy, starting, unhealthy: of the running tasks
	Update            string // the update state, when there was one
	LastError         string // the newest task error
	UnavailableReason string // why it does not run, when it does not
}

// Status reports each deployed service: desired and running tasks, their
// nodes and health, the update state, and the last task error.
func (c *Cluster) Status(ctx context.Context) ([]ServiceRow, error) {
	svcs, err := c.services(ctx)
	if err != nil {
		return nil, err
	}
	nodes, err := c.Manager.NodeList(ctx, client.NodeListOptions{})
	if err != nil {
		return nil, err
	}
	host := map[string]swarm.Node{}
	for _, n := range nodes.Items {
		host[n.ID] = n
	}
	tasks, err := c.tasks(ctx, false)
	if err != nil {
		return nil, err
	}
	var rows []ServiceRow
	for _, s := range svcs {
		r := ServiceRow{Service: s.Spec.Labels["org.osgs.service"], Role: s.Spec.Labels["org.osgs.role"]}
		if st := s.ServiceStatus; st != nil {
			r.Desired = st.DesiredTasks
		}
		// Running counts the running tasks on nodes that are up: the
		// service's own count keeps a lost node's task until it returns.
		if u := s.UpdateStatus; u != nil {
			r.Update = string(u.State)
		}
		var newest *swarm.Task
		health := map[string]int{}
		for i, t := range tasks {
			if t.ServiceID != s.ID {
				continue
			}
			if t.Status.Err != "" && (newest == nil || t.Status.Timestamp.After(newest.Status.Timestamp)) {
				newest = &tasks[i]
			}
			if t.DesiredState != swarm.TaskStateRunning {
				continue
			}
			if t.NodeID == "" { // not placed: swarm says why
				health[string(t.Status.State)]++
				if t.Status.Err != "" && r.UnavailableReason == "" {
					r.UnavailableReason = t.Status.Err
				}
				continue
			}
			n := host[t.NodeID]
			name := n.Description.Hostname
			if !containsStr(r.Nodes, name) {
				r.Nodes = append(r.Nodes, name)
			}
			switch {
			case t.Status.State == swarm.TaskStateRunning && n.Status.State == swarm.NodeStateReady:
				health["running"]++
			case n.Status.State != swarm.NodeStateReady:
				r.UnavailableReason = fmt.Sprintf("its node %s is %s", name, n.Status.State)
			default:
				health[string(t.Status.State)]++
				if t.Status.Message != "" && r.UnavailableReason == "" && t.Status.Err != "" {
					r.UnavailableReason = t.Status.Err
				}
			}
		}
		if r.Running < r.Desired && r.UnavailableReason == "" {
			// A task swarm cannot place says why (no suitable node).
			for _, t := range tasks {
				if t.ServiceID == s.ID && t.DesiredState == swarm.TaskStateRunning && t.Status.State == swarm.TaskStatePending && t.Status.Err != "" {
					r.UnavailableReason = t.Status.Err
				}
			}
		}
		r.Running = uint64(health["running"])
		if r.Running < r.Desired {
			// A service pinned to one node (the db role) waits for it.
			if n, ok := pinnedNode(s, host); ok && n.Status.State != swarm.NodeStateReady {
				r.UnavailableReason = fmt.Sprintf("pinned to node %s, which is %s: it runs again when that node returns", n.Description.Hostname, n.Status.State)
			}
		}
		var hs []string
		for _, k := range sortedKeys(health) {
			hs = append(hs, fmt.Sprintf("%d %s", health[k], k))
		}
		r.Health = strings.Join(hs, ", ")
		if newest != nil {
			r.LastError = newest.Status.Err
		}
		sort.Strings(r.Nodes)
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Service < rows[j].Service })
	return rows, nil
}

// pinnedNode is the node a service's placement pins it to, when that node
// is in the swarm.
func pinnedNode(s swarm.Service, host map[string]swarm.Node) (swarm.Node, bool) {
	id, ok := pinID(s)
	if !ok {
		return swarm.Node{}, false
	}
	n, found := host[id]
	return n, found
}

// pinID is the node ID of a service's node.id==ID placement constraint.
func pinID(s swarm.Service) (string, bool) {
	if p := s.Spec.TaskTemplate.Placement; p != nil {
		for _, c := range p.Constraints {
			if id, ok := strings.CutPrefix(strings.ReplaceAll(c, " ", ""), "node.id=="); ok {
				return id, true
			}
		}
	}
	return "", false
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// PrintStatus writes the swarm:status table.
func PrintStatus(w io.Writer, rows []ServiceRow) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tROLE\tREPLICAS\tNODES\tTASKS\tUPDATE\tLAST ERROR")
	for _, r := range rows {
		last := r.LastError
		if r.UnavailableReason != "" {
			last = "down: " + r.UnavailableReason
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\n", r.Service, r.Role, r.Running, r.Desired, dash(strings.Join(r.Nodes, ",")), dash(r.Health), dash(r.Update), dash(last))
	}
	tw.Flush()
}

// find returns the deployed service called name.
func (c *Cluster) find(ctx context.Context, name string) (swarm.Service, error) {
	if err := c.E.CheckServices(name); err != nil {
		return swarm.Service{}, err
	}
	res, err := c.Manager.ServiceInspect(ctx, convert.Name(c.Project(), name), client.ServiceInspectOptions{})
	if err != nil {
		return swarm.Service{}, fmt.Errorf("%s is not deployed to the swarm (swarm:deploy deploys the enabled services)", name)
	}
	return res.Service, nil
}

// Logs writes a service's logs (every task's, on every node).
func (c *Cluster) Logs(ctx context.Context, name string, follow bool, tail string) error {
	s, err := c.find(ctx, name)
	if err != nil {
		return err
	}
	if tail == "" {
		tail = "all"
	}
	rc, err := c.Manager.ServiceLogs(ctx, s.ID, client.ServiceLogsOptions{ShowStdout: true, ShowStderr: true, Follow: follow, Tail: tail})
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = stdcopy.StdCopy(c.E.Out, c.E.Err, rc)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Rollback returns a service to its previous spec.
func (c *Cluster) Rollback(ctx context.Context, name string) error {
	s, err := c.find(ctx, name)
	if err != nil {
		return err
	}
	if s.PreviousSpec == nil {
		return fmt.Errorf("%s has no previous version to roll back to", name)
	}
	_, err = c.Manager.ServiceUpdate(ctx, s.ID, client.ServiceUpdateOptions{Version: s.Version, Spec: s.Spec, Rollback: "previous"})
	if err != nil {
		return fmt.Errorf("roll back %s: %s", name, oneLine(err))
	}
	return nil
}

// Remove removes the deployment's services, then its network, secrets and
// configs. Volumes stay on their nodes, with the data.
func (c *Cluster) Remove(ctx context.Context, yes bool) ([]string, error) {
	svcs, err := c.services(ctx)
	if err != nil {
		return nil, err
	}
	if !yes {
		return nil, &engine.ConfirmError{What: fmt.Sprintf("remove the %d swarm services of %s (volumes are kept)", len(svcs), c.Project())}
	}
	var removed []string
	for _, s := range svcs {
		if _, err := c.Manager.ServiceRemove(ctx, s.ID, client.ServiceRemoveOptions{}); err != nil {
			return removed, fmt.Errorf("remove %s: %w", s.Spec.Name, err)
		}
		removed = append(removed, s.Spec.Labels["org.osgs.service"])
	}
	// Tasks take a moment to go; their references hold the objects.
	if err := c.waitNoTasks(ctx); err != nil {
		return removed, err
	}
	if err := c.removeUnusedObjects(ctx); err != nil {
		return removed, err
	}
	nets, err := c.Manager.NetworkList(ctx, client.NetworkListOptions{Filters: c.nsFilter()})
	if err == nil {
		for _, n := range nets.Items {
			if _, err := c.Manager.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil {
				return removed, fmt.Errorf("remove network %s: %w", n.Name, err)
			}
		}
	}
	sort.Strings(removed)
	return removed, nil
}

// waitNoTasks waits until the deployment's tasks are gone, except those
// on nodes that are down: the manager reaps them when their node returns,
// so they are reported, not waited for.
func (c *Cluster) waitNoTasks(ctx context.Context) error {
	for i := 0; i < 120; i++ {
		tasks, err := c.tasks(ctx, false)
		if err != nil || len(tasks) == 0 {
			return err
		}
		nodes, err := c.Manager.NodeList(ctx, client.NodeListOptions{})
		if err != nil {
			return err
		}
		down := map[string]string{}
		for _, n := range nodes.Items {
			if n.Status.State != swarm.NodeStateReady {
				down[n.ID] = n.Description.Hostname
			}
		}
		var waiting int
		left := map[string]int{}
		for _, t := range tasks {
			if h, ok := down[t.NodeID]; ok {
				left[h]++
			} else {
				waiting++
			}
		}
		if waiting == 0 {
			for _, h := range sortedKeys(left) {
				fmt.Fprintf(c.E.Err, "osgs: node %s is down: its %d task(s) go when it returns\n", h, left[h])
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timeAfter():
		}
	}
	return fmt.Errorf("the tasks of %s did not go away", c.Project())
}

func timeAfter() <-chan time.Time { return time.After(500 * time.Millisecond) }
