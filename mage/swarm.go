package targets

import (
	"context"
	"fmt"
	"strings"

	"github.com/magefile/mage/mg"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/swarm"
	"github.com/osgs/osgs/internal/swarm/convert"
)

// Swarm deploys the same catalog to Docker Swarm across several servers (see the README).
type Swarm mg.Namespace

// withCluster opens the swarm manager (SWARM_MANAGER, or the local engine).
func withCluster(ctx context.Context, manager bool, f func(ctx context.Context, c *swarm.Cluster) error) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		open := swarm.Open
		if !manager {
			open = swarm.Connect
		}
		c, err := open(ctx, e)
		if err != nil {
			return err
		}
		defer c.Close()
		return f(ctx, c)
	})
}

// Init makes the manager's engine (SWARM_MANAGER, or this one) a swarm, with every role on it; -advertise=ADDR picks the address other nodes reach it on.
func (Swarm) Init(ctx context.Context, advertise *string) error {
	return withCluster(ctx, false, func(ctx context.Context, c *swarm.Cluster) error {
		id, err := c.Init(ctx, deref(advertise))
		if err != nil {
			return err
		}
		fmt.Fprintf(c.E.Out, "swarm manager %s is node %s (roles db, edge, web; change them with swarm:label)\n", c.ManagerHost, id)
		return nil
	})
}

// Join adds the engine at ssh://user@host, tcp://host:port or unix:///path as a worker (-roles=db,edge,web); the join token never leaves the API calls.
func (Swarm) Join(ctx context.Context, engineAddr string, roles *string) error {
	return withCluster(ctx, true, func(ctx context.Context, c *swarm.Cluster) error {
		var rs []convert.Role
		if r := deref(roles); r != "" {
			var err error
			if rs, err = convert.ParseRoles(r); err != nil {
				return err
			}
		}
		id, err := c.Join(ctx, engineAddr, rs)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.E.Out, "%s joined as node %s\n", engineAddr, id)
		return nil
	})
}

// Nodes shows each node: its swarm role, state, osgs roles (labels), and the services running on it.
func (Swarm) Nodes(ctx context.Context) error {
	return withCluster(ctx, true, func(ctx context.Context, c *swarm.Cluster) error {
		rows, err := c.Nodes(ctx)
		if err != nil {
			return err
		}
		swarm.PrintNodes(c.E.Out, rows)
		return nil
	})
}

// Label gives a node exactly the roles given: db (PostGIS and every service with backed-up volumes), edge (nginx, published ports), web (stateless); comma-separated.
func (Swarm) Label(ctx context.Context, node, roles string) error {
	return withCluster(ctx, true, func(ctx context.Context, c *swarm.Cluster) error {
		rs, err := convert.ParseRoles(roles)
		if err != nil {
			return err
		}
		return c.Label(ctx, node, rs)
	})
}

// Deploy deploys the enabled services with the same .env as swarm services (images by save and load, or through SWARM_REGISTRY); checks everything first, updates only what changed, rolls back a failing update.
func (Swarm) Deploy(ctx context.Context) error {
	return withCluster(ctx, true, func(ctx context.Context, c *swarm.Cluster) error {
		res, err := c.Deploy(ctx, swarm.DeployOptions{})
		if res != nil {
			for _, p := range res.Unpublished {
				fmt.Fprintf(c.E.Err, "osgs: %s is bound to loopback: not published on the swarm (its exec verbs still reach it)\n", p)
			}
			for _, l := range []struct {
				what  string
				names []string
			}{{"created", res.Created}, {"updated", res.Updated}, {"unchanged", res.Unchanged}, {"removed", res.Removed}} {
				if len(l.names) > 0 {
					fmt.Fprintf(c.E.Out, "%s: %s\n", l.what, strings.Join(l.names, ", "))
				}
			}
		}
		return err
	})
}

// Status shows each swarm service: running and desired replicas, nodes, task states, update state, and the last task error.
func (Swarm) Status(ctx context.Context) error {
	return withCluster(ctx, true, func(ctx context.Context, c *swarm.Cluster) error {
		rows, err := c.Status(ctx)
		if err != nil {
			return err
		}
		swarm.PrintStatus(c.E.Out, rows)
		return nil
	})
}

// Logs shows a swarm service's logs from every node (-follow, -tail=N).
func (Swarm) Logs(ctx context.Context, service string, follow *bool, tail *string) error {
	return withCluster(ctx, true, func(ctx context.Context, c *swarm.Cluster) error {
		return c.Logs(ctx, service, follow != nil && *follow, deref(tail))
	})
}

// Rollback returns a swarm service to its previous version.
func (Swarm) Rollback(ctx context.Context, service string) error {
	return withCluster(ctx, true, func(ctx context.Context, c *swarm.Cluster) error {
		return c.Rollback(ctx, service)
	})
}

// Rm removes the swarm services, network, secrets and configs of this checkout (-yes); volumes and their data stay on the nodes.
func (Swarm) Rm(ctx context.Context, yes *bool) error {
	return withCluster(ctx, true, func(ctx context.Context, c *swarm.Cluster) error {
		removed, err := c.Remove(ctx, yes != nil && *yes)
		if len(removed) > 0 {
			fmt.Fprintf(c.E.Out, "removed: %s\n", strings.Join(removed, ", "))
		}
		return err
	})
}
