package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/errdefs"
	"github.com/docker/compose/v5/pkg/api"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/catalog"
)

// DatabaseClientsKey lists the services, besides those with a database
// role, that may reach PostGIS: GeoServer, Metabase or Jupyter once their
// admin has given them a role of their own.
const DatabaseClientsKey = "POSTGIS_CLIENTS"

// Segments says which networks each service of the catalog is on: the ones
// it needs and no more, so a service that is taken over reaches the front
// door and, when it logs in to it, PostGIS, and nothing else; not even
// another service that logs in to PostGIS.
//   - A web service shares a network named after itself with the front
//     door (nginx), and with no one else.
//   - Each service that logs in to PostGIS (a database role, a declared
//     database client, or named in clients) shares a network of its own
//     with the database: DatabaseNetworkOf(service).
//   - The database has catalog.DatabaseNetwork of its own, which osgs's
//     tools helper joins.
//   - A service on none of those (certbot, Mosquitto) has a network of its
//     own, for its egress and its published ports.
//
// The front door and the database are hubs: they join the networks of the
// services in active (the enabled ones and those a verb names) they serve.
func Segments(cat *catalog.Catalog, active, clients []string) map[string][]string {
	door, db := cat.FrontDoor(), ""
	out := map[string][]string{}
	for _, s := range cat.Services {
		var nets []string
		if s.HasWeb() && s.Name != door {
			nets = append(nets, s.Name)
		}
		if s.Database {
			db = s.Name
			nets = append(nets, catalog.DatabaseNetwork)
		} else if s.UsesDatabase() || slices.Contains(clients, s.Name) {
			nets = append(nets, DatabaseNetworkOf(s.Name))
		}
		out[s.Name] = nets
	}
	for _, name := range active {
		if _, err := cat.Get(name); err != nil || name == door || name == db {
			continue
		}
		for _, n := range out[name] {
			hub := HubOf(cat, n)
			if hub != "" && !slices.Contains(out[hub], n) {
				out[hub] = append(out[hub], n)
			}
		}
	}
	for name, nets := range out {
		if len(nets) == 0 {
			nets = []string{name}
		}
		slices.Sort(nets)
		out[name] = nets
	}
	return out
}

// DatabaseNetworkOf is the network a database client shares with the
// database alone. Service names hold no underscores, so it is no service's
// name; and it is a DNS name component, as swarm requires of a network's.
func DatabaseNetworkOf(service string) string { return catalog.DatabaseNetwork + "_" + service }

// HubOf is the service that joins network key besides its own service: the
// database for a client's database network, the front door for a web
// service's; "" for a network that has none.
func HubOf(cat *catalog.Catalog, key string) string {
	if _, ok := strings.CutPrefix(key, catalog.DatabaseNetwork+"_"); ok {
		for _, s := range cat.Services {
			if s.Database {
				return s.Name
			}
		}
		return ""
	}
	if s, err := cat.Get(key); err == nil && s.HasWeb() && !s.FrontDoor {
		return cat.FrontDoor()
	}
	return ""
}

// databaseClients reads DatabaseClientsKey: known services, never the
// front door (the service most exposed).
func (e *Engine) databaseClients() ([]string, error) {
	var out []string
	for _, name := range strings.Split(e.Setting(DatabaseClientsKey), ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		s, err := e.Catalog.Get(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", DatabaseClientsKey, err)
		}
		if s.FrontDoor {
			return nil, fmt.Errorf("%s: %s is the front door, which never reaches PostGIS", DatabaseClientsKey, name)
		}
		out = append(out, name)
	}
	return out, nil
}

// segment puts the services of p on the networks Segments gives them, in
// place of compose's one default network. Networks a fragment or an
// override adds besides default are kept; a service with a network_mode,
// or not in the catalog, is left as it is.
func (e *Engine) segment(p *types.Project) error {
	clients, err := e.databaseClients()
	if err != nil {
		return err
	}
	active := append(slices.Clone(e.Enabled()), p.ServiceNames()...)
	want := Segments(e.Catalog, active, clients)
	for name, s := range p.Services {
		nets, ok := want[name]
		if !ok || s.NetworkMode != "" {
			continue
		}
		delete(s.Networks, "default")
		if s.Networks == nil {
			s.Networks = map[string]*types.ServiceNetworkConfig{}
		}
		for _, n := range nets {
			if _, ok := s.Networks[n]; !ok {
				s.Networks[n] = nil
			}
			if _, ok := p.Networks[n]; !ok {
				if p.Networks == nil {
					p.Networks = types.Networks{}
				}
				p.Networks[n] = types.NetworkConfig{Name: NetworkName(p.Name, n)}
			}
		}
		p.Services[name] = s
	}
	for _, s := range p.Services {
		if _, ok := s.Networks["default"]; ok {
			return nil
		}
	}
	delete(p.Networks, "default")
	return nil
}

// NetworkName is the engine's name of the project's network key, as
// compose names it.
func NetworkName(project, key string) string { return project + "_" + key }

// joinHubs readies the networks of the services p starts for hubs that
// already run: it makes each network (labelled as compose labels its own)
// and joins the running front door or database to it, without restarting
// either, so a service enabled after them is reached as soon as it starts.
// compose gives a hub its networks itself whenever it creates the hub.
func (e *Engine) joinHubs(ctx context.Context, p *types.Project) error {
	for _, name := range p.ServiceNames() {
		for key := range p.Services[name].Networks {
			hub := HubOf(e.Catalog, key)
			if hub == "" || hub == name {
				continue
			}
			if _, inProject := p.Services[hub]; inProject {
				continue // compose creates or recreates it with the network
			}
			id, err := e.localContainerOf(ctx, hub)
			if err != nil {
				continue // not running here: compose joins it when it creates it
			}
			if err := e.joinHub(ctx, p, key, hub, id); err != nil {
				return err
			}
		}
	}
	return nil
}

// joinHub makes network key of p when it is missing and connects the hub's
// container id to it, under the hub's name.
func (e *Engine) joinHub(ctx context.Context, p *types.Project, key, hub, id string) error {
	name := p.Networks[key].Name
	insp, err := e.docker.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return fmt.Errorf("inspect %s: %w", hub, err)
	}
	if _, ok := insp.Container.NetworkSettings.Networks[name]; ok {
		return nil
	}
	if _, err := e.docker.NetworkInspect(ctx, name, client.NetworkInspectOptions{}); err != nil {
		_, err = e.docker.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge", Labels: map[string]string{
			api.NetworkLabel: key, api.ProjectLabel: p.Name, api.VersionLabel: api.ComposeVersion}})
		if err != nil && !errdefs.IsConflict(err) {
			return fmt.Errorf("create network %s: %w", name, err)
		}
	}
	_, err = e.docker.NetworkConnect(ctx, name, client.NetworkConnectOptions{Container: id,
		EndpointConfig: &network.EndpointSettings{Aliases: []string{hub}}})
	if err != nil {
		return fmt.Errorf("connect %s to network %s: %w", hub, name, err)
	}
	return nil
}
