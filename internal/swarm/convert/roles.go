package convert

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/osgs/osgs/internal/catalog"
)

// Role is where a service runs: a node label.
type Role string

const (
	// DB holds the stateful services: PostGIS, and every service whose
	// volumes are backed up (unless it only reads them and they are
	// mirrored). Its services are pinned to one node.
	DB Role = "db"
	// Edge holds nginx and the published ports.
	Edge Role = "edge"
	// Web holds the stateless services; they may run several replicas.
	Web Role = "web"
)

// Roles are the roles a node can have.
var Roles = []Role{DB, Edge, Web}

// ParseRoles reads a comma-separated list of roles.
func ParseRoles(s string) ([]Role, error) {
	var out []Role
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !slices.Contains(Roles, Role(p)) {
			return nil, fmt.Errorf("%q is not a node role: use db, edge or web (comma-separated for several)", p)
		}
		if !slices.Contains(out, Role(p)) {
			out = append(out, Role(p))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no role given: use db, edge or web (comma-separated for several)")
	}
	return out, nil
}

// Constraint is the placement constraint of role.
func (r Role) Constraint() string { return "node.labels." + RoleLabel + string(r) + "==true" }

// Label is the node label key of role.
func (r Role) Label() string { return RoleLabel + string(r) }

// ownRole is a service's role from its own catalog entry.
func ownRole(s catalog.Service) Role {
	if s.Database {
		return DB
	}
	for _, v := range s.Volumes {
		if v.Backup && !v.Mirror {
			return DB
		}
	}
	if len(s.Ports) > 0 {
		return Edge
	}
	return Web
}

// rank orders roles when services that share a volume must run together:
// the front door stays at the edge (certbot's certificates follow nginx),
// state stays on the db node.
var rank = map[Role]int{Edge: 3, DB: 2, Web: 1}

// PlaceRoles gives each service its role. Services that share a named
// volume must run on one node (a local volume exists only where it was
// created), so they take the strongest role among them. A volume that
// every service using it declares mirrored joins nobody: osgs keeps its
// copies equal on every node.
func PlaceRoles(services map[string]catalog.Service, volumes map[string][]string) map[string]Role {
	// Union-find over services joined by shared volumes.
	parent := map[string]string{}
	var find func(string) string
	find = func(s string) string {
		if parent[s] == "" || parent[s] == s {
			parent[s] = s
			return s
		}
		parent[s] = find(parent[s])
		return parent[s]
	}
	users := map[string][]string{}
	names := make([]string, 0, len(services))
	for n := range services {
		names = append(names, n)
		find(n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, v := range volumes[n] {
			users[v] = append(users[v], n)
		}
	}
	for v, us := range users {
		if mirroredByAll(services, us, v) {
			continue
		}
		for _, u := range us[1:] {
			parent[find(u)] = find(us[0])
		}
	}
	group := map[string]Role{}
	for _, n := range names {
		r, g := ownRole(services[n]), find(n)
		if rank[r] > rank[group[g]] {
			group[g] = r
		}
	}
	out := map[string]Role{}
	for _, n := range names {
		out[n] = group[find(n)]
	}
	return out
}

// mirroredByAll reports whether every service of users declares volume v
// mirrored.
func mirroredByAll(services map[string]catalog.Service, users []string, v string) bool {
	for _, u := range users {
		if !services[u].Mirrors(v) {
			return false
		}
	}
	return true
}

// Mirrored are the volumes of s that it reads and osgs mirrors.
func Mirrored(s catalog.Service) []catalog.Volume {
	var out []catalog.Volume
	for _, v := range s.Volumes {
		if v.Mirror {
			out = append(out, v)
		}
	}
	return out
}
