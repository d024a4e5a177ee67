package convert

import (
	"fmt"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/swarm"
)

// Network is one overlay the deployment needs.
type Network struct {
	Name     string // the engine's name, project_key as compose names it
	External bool   // made by the admin: used, never created or removed
}

// Networks are the overlays the services of p join, one per compose
// network (engine.Project puts each service on the networks it needs and
// no more), sorted by name.
func Networks(p *types.Project) []Network {
	seen := map[string]bool{}
	var out []Network
	for _, s := range p.Services {
		for key := range s.Networks {
			n := p.Networks[key]
			name := networkName(p, key)
			if !seen[name] {
				seen[name] = true
				out = append(out, Network{Name: name, External: bool(n.External)})
			}
		}
	}
	slices.SortFunc(out, func(a, b Network) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Attachments are the overlays a service's tasks join: each of its compose
// networks, with the service's name as the alias other services resolve.
func Attachments(p *types.Project, s types.ServiceConfig) ([]swarm.NetworkAttachmentConfig, error) {
	if s.NetworkMode != "" {
		return nil, fmt.Errorf("service %s: network_mode %q has no swarm equivalent", s.Name, s.NetworkMode)
	}
	var out []swarm.NetworkAttachmentConfig
	for key := range s.Networks {
		out = append(out, swarm.NetworkAttachmentConfig{Target: networkName(p, key), Aliases: []string{s.Name}})
	}
	slices.SortFunc(out, func(a, b swarm.NetworkAttachmentConfig) int { return strings.Compare(a.Target, b.Target) })
	return out, nil
}

func networkName(p *types.Project, key string) string {
	if n, ok := p.Networks[key]; ok && n.Name != "" {
		return n.Name
	}
	return p.Name + "_" + key
}
