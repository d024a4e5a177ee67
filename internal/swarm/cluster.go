package swarm

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/swarm/convert"
)

// Init makes the manager's engine a swarm, advertising advertise (the
// engine picks an address when empty), and gives this first node every
// role, so that a one-node swarm deploys at once. An engine that is a
// manager already is left as it is.
func (c *Cluster) Init(ctx context.Context, advertise string) (nodeID string, err error) {
	info, err := c.Manager.Info(ctx, client.InfoOptions{})
	if err != nil {
		return "", fmt.Errorf("swarm manager %s: %w", c.ManagerHost, err)
	}
	if st := info.Info.Swarm; st.LocalNodeState == swarm.LocalNodeStateActive {
		if !st.ControlAvailable {
			return "", fmt.Errorf("the engine at %s is a worker of a swarm already: set %s to its manager", c.ManagerHost, ManagerKey)
		}
		fmt.Fprintf(c.E.Err, "osgs: %s is a swarm manager already\n", c.ManagerHost)
		return st.NodeID, nil
	}
	res, err := c.Manager.SwarmInit(ctx, client.SwarmInitOptions{ListenAddr: "0.0.0.0:2377", AdvertiseAddr: advertise})
	if err != nil {
		return "", fmt.Errorf("swarm init: %s", oneLine(err))
	}
	if err := c.setLabels(ctx, res.NodeID, convert.Roles, c.ManagerHost); err != nil {
		return "", err
	}
	return res.NodeID, nil
}

// Join adds the engine at addr to the swarm as a worker. The join token is
// read from the manager and handed to the node's engine in the API call:
// it is never printed, logged or put on a command line.
func (c *Cluster) Join(ctx context.Context, addr string, roles []convert.Role) (nodeID string, err error) {
	node, err := Dial(ctx, addr, CertPath(c.E))
	if err != nil {
		return "", err
	}
	defer node.Close()
	info, err := node.Info(ctx, client.InfoOptions{})
	if err != nil {
		return "", err
	}
	sw, err := c.Manager.SwarmInspect(ctx, client.SwarmInspectOptions{})
	if err != nil {
		return "", fmt.Errorf("swarm manager %s: %w", c.ManagerHost, err)
	}
	if st := info.Info.Swarm; st.LocalNodeState == swarm.LocalNodeStateActive {
		if st.Cluster != nil && st.Cluster.ID == sw.Swarm.ID {
			fmt.Fprintf(c.E.Err, "osgs: %s is in this swarm already\n", addr)
			return st.NodeID, c.setLabels(ctx, st.NodeID, roles, addr)
		}
		return "", fmt.Errorf("the engine at %s is in another swarm: leave it there first", addr)
	}
	minfo, err := c.Manager.Info(ctx, client.InfoOptions{})
	if err != nil {
		return "", err
	}
	var managers []string
	for _, m := range minfo.Info.Swarm.RemoteManagers {
		managers = append(managers, m.Addr)
	}
	if len(managers) == 0 {
		return "", fmt.Errorf("the manager at %s lists no manager address", c.ManagerHost)
	}
	if _, err := node.SwarmJoin(ctx, client.SwarmJoinOptions{ListenAddr: "0.0.0.0:2377", RemoteAddrs: managers, JoinToken: sw.Swarm.JoinTokens.Worker}); err != nil {
		return "", fmt.Errorf("join %s: %s", addr, oneLine(err))
	}
	info, err = node.Info(ctx, client.InfoOptions{})
	if err != nil {
		return "", err
	}
	return info.Info.Swarm.NodeID, c.setLabels(ctx, info.Info.Swarm.NodeID, roles, addr)
}

// Label gives node (a hostname or ID) exactly the roles given.
func (c *Cluster) Label(ctx context.Context, node string, roles []convert.Role) error {
	n, err := c.node(ctx, node)
	if err != nil {
		return err
	}
	return c.setLabels(ctx, n.ID, roles, "")
}

// setLabels sets the role labels of node id to roles (nil keeps them),
// and its engine address when engine is not empty.
func (c *Cluster) setLabels(ctx context.Context, id string, roles []convert.Role, engineAddr string) error {
	n, err := c.Manager.NodeInspect(ctx, id, client.NodeInspectOptions{})
	if err != nil {
		return err
	}
	spec := n.Node.Spec
	if spec.Labels == nil {
		spec.Labels = map[string]string{}
	}
	if roles != nil {
		for _, r := range convert.Roles {
			delete(spec.Labels, r.Label())
		}
		for _, r := range roles {
			spec.Labels[r.Label()] = "true"
		}
	}
	if engineAddr != "" {
		spec.Labels[EngineLabel] = engineAddr
	}
	if _, err := c.Manager.NodeUpdate(ctx, id, client.NodeUpdateOptions{Version: n.Node.Version, Spec: spec}); err != nil {
		return fmt.Errorf("label node %s: %w", n.Node.Description.Hostname, err)
	}
	return nil
}

// node finds a node by ID, ID prefix or hostname.
func (c *Cluster) node(ctx context.Context, name string) (swarm.Node, error) {
	nodes, err := c.Manager.NodeList(ctx, client.NodeListOptions{})
	if err != nil {
		return swarm.Node{}, err
	}
	var found []swarm.Node
	for _, n := range nodes.Items {
		if n.ID == name || n.Description.Hostname == name || len(name) >= 6 && strings.HasPrefix(n.ID, name) {
			found = append(found, n)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return swarm.Node{}, fmt.Errorf("%w %q in the swarm (swarm:nodes lists them)", ErrNoNode, name)
	}
	return swarm.Node{}, fmt.Errorf("%q names %d nodes: give the node ID", name, len(found))
}

// RolesOf lists a node's roles.
func RolesOf(n swarm.Node) []convert.Role {
	var out []convert.Role
	for _, r := range convert.Roles {
		if n.Spec.Labels[r.Label()] == "true" {
			out = append(out, r)
		}
	}
	return out
}

// NodeRow is one line of swarm:nodes.
type NodeRow struct {
	ID, Hostname, Role, State, Availability, Addr string
	Roles                                         []convert.Role
	Services                                      []string
}

// Nodes lists the nodes with their roles and the services whose tasks run
// on them.
func (c *Cluster) Nodes(ctx context.Context) ([]NodeRow, error) {
	nodes, err := c.Manager.NodeList(ctx, client.NodeListOptions{})
	if err != nil {
		return nil, err
	}
	tasks, err := c.tasks(ctx, true)
	if err != nil {
		return nil, err
	}
	svcs, err := c.services(ctx)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, s := range svcs {
		names[s.ID] = s.Spec.Labels["org.osgs.service"]
	}
	on := map[string]map[string]bool{}
	for _, t := range tasks {
		if on[t.NodeID] == nil {
			on[t.NodeID] = map[string]bool{}
		}
		on[t.NodeID][names[t.ServiceID]] = true
	}
	var rows []NodeRow
	for _, n := range nodes.Items {
		r := NodeRow{ID: n.ID, Hostname: n.Description.Hostname, Role: string(n.Spec.Role), State: string(n.Status.State),
			Availability: string(n.Spec.Availability), Addr: n.Status.Addr, Roles: RolesOf(n)}
		for s := range on[n.ID] {
			r.Services = append(r.Services, s)
		}
		sort.Strings(r.Services)
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Hostname < rows[j].Hostname })
	return rows, nil
}

// PrintNodes writes the swarm:nodes table.
func PrintNodes(w io.Writer, rows []NodeRow) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tID\tROLE\tSTATE\tLABELS\tSERVICES")
	for _, r := range rows {
		var roles []string
		for _, x := range r.Roles {
			roles = append(roles, string(x))
		}
		state := r.State
		if r.Availability != "" && r.Availability != "active" {
			state += "/" + r.Availability
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Hostname, short(r.ID), r.Role, state, dash(strings.Join(roles, ",")), dash(strings.Join(r.Services, ",")))
	}
	tw.Flush()
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
