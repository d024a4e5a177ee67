package swarm

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/catalog"
	"github.com/osgs/osgs/internal/config"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/swarm/convert"
)

// DeployOptions configure Deploy.
type DeployOptions struct {
	// Wait bounds the wait for the services to converge; 0 is 10 minutes.
	Wait time.Duration
}

// DeployResult says what a deploy changed.
type DeployResult struct {
	Created, Updated, Unchanged, Removed []string
	Unpublished                          []string // ports bound to loopback, left unpublished
}

// desired is one service as the deploy wants it.
type desired struct {
	name    string // compose name
	spec    swarm.ServiceSpec
	current *swarm.Service
	imageID string
	ref     string
	nodes   []*nodeEngine // the nodes it may run on, which need its image
	svc     types.ServiceConfig
	opts    convert.Options
	pushRef string // its name in SWARM_REGISTRY
}

// plan is everything a deploy will do, worked out before the first change.
type plan struct {
	networks []convert.Network
	services []*desired
	objects  []convert.Object
	remove   []swarm.Service
	engines  []*nodeEngine
	byNode   map[string]*nodeEngine // engines by node ID
	skipped  []string
	project  *types.Project
	registry string // SWARM_REGISTRY: images go through it, not by save and load
	auth     string // its X-Registry-Auth, or ""
}

func (p *plan) close() {
	for _, n := range p.engines {
		if n.close != nil {
			n.close()
		}
	}
}

// NetworkName is the deployment's overlay of a compose network key (the
// database network, or a web service's own).
func NetworkName(project, key string) string { return engine.NetworkName(project, key) }

// ReplicasKey is the setting of a web service's replica count.
func ReplicasKey(service string) string {
	return strings.ToUpper(strings.ReplaceAll(service, "-", "_")) + "_REPLICAS"
}

// Deploy deploys the enabled services of the catalog, with the same .env,
// as swarm services. Everything is checked first (the swarm, the nodes and
// their roles, the images, every setting swarm must express), so a refused
// deploy changes nothing. Unchanged services are not touched; a changed
// setting or file rolls only the services it reaches, and a new task that
// fails its healthcheck rolls its service back.
func (c *Cluster) Deploy(ctx context.Context, o DeployOptions) (*DeployResult, error) {
	pl, err := c.plan(ctx)
	if err != nil {
		return nil, err
	}
	defer pl.close()
	res := &DeployResult{Unpublished: pl.skipped}
	if pl.registry != "" {
		if err := c.pushAll(ctx, pl); err != nil {
			return nil, err
		}
	} else {
		for _, d := range pl.services {
			if err := c.distribute(ctx, d.imageID, d.ref, d.nodes); err != nil {
				return nil, err
			}
		}
	}
	for _, n := range pl.networks {
		if err := c.ensureNetwork(ctx, n); err != nil {
			return nil, err
		}
	}
	ids, err := c.ensureObjects(ctx, pl.objects)
	if err != nil {
		return nil, err
	}
	wait := o.Wait
	if wait == 0 {
		wait = 10 * time.Minute
	}
	// The hooks stack:up runs (database roles before the services that log
	// in with them start; PostGIS's databases, WAL archiving and roles, and
	// nginx's configuration once all are up) run here too, reaching the
	// tasks through Locate.
	l := locateFor(c.E)
	hooks := c.E.Hooks()
	first, rest := rolePhases(pl.services, c.E.Catalog.Get, hooks.BeforeStart != nil)
	if len(first) > 0 {
		if err := c.apply(ctx, first, ids, pl.auth, res); err != nil {
			return res, err
		}
		if err := c.converge(ctx, &plan{services: first}, wait); err != nil {
			return res, err
		}
		if err := hooks.BeforeStart(ctx, c.E, names(rest)); err != nil {
			return res, err
		}
	}
	if err := c.apply(ctx, rest, ids, pl.auth, res); err != nil {
		return res, err
	}
	for _, s := range pl.remove {
		if _, err := c.Manager.ServiceRemove(ctx, s.ID, client.ServiceRemoveOptions{}); err != nil {
			return res, fmt.Errorf("remove %s: %w", s.Spec.Name, err)
		}
		res.Removed = append(res.Removed, s.Spec.Labels["org.osgs.service"])
	}
	if err := c.converge(ctx, pl, wait); err != nil {
		return res, err
	}
	// Versions of secrets and configs nothing uses any more.
	if err := c.removeUnusedObjects(ctx); err != nil {
		return res, err
	}
	// Every node of a role now holds the newest copy of the mirrored
	// volumes of the services placed there (a node new to the role gets
	// one; one that was away is brought up to date).
	for _, d := range pl.services {
		if err := l.sync(ctx, d.name, nil, false); err != nil {
			return res, err
		}
	}
	if hooks.AfterUp != nil {
		if err := hooks.AfterUp(ctx, c.E, names(pl.services)); err != nil {
			return res, err
		}
	}
	return res, nil
}

// apply creates or updates the services ds, and records which it did;
// auth is the registry's credentials the nodes pull with, or "".
func (c *Cluster) apply(ctx context.Context, ds []*desired, ids map[string]string, auth string, res *DeployResult) error {
	for _, d := range ds {
		if err := withObjectIDs(&d.spec, ids); err != nil {
			return err
		}
		switch {
		case d.current == nil:
			if _, err := c.Manager.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: d.spec, EncodedRegistryAuth: auth}); err != nil {
				return fmt.Errorf("create %s: %s", d.name, oneLine(err))
			}
			res.Created = append(res.Created, d.name)
		case !d.changed():
			res.Unchanged = append(res.Unchanged, d.name)
		default:
			if _, err := c.Manager.ServiceUpdate(ctx, d.current.ID, client.ServiceUpdateOptions{Version: d.current.Version, Spec: d.spec, EncodedRegistryAuth: auth}); err != nil {
				return fmt.Errorf("update %s: %s", d.name, oneLine(err))
			}
			res.Updated = append(res.Updated, d.name)
		}
	}
	slices.Sort(res.Created)
	slices.Sort(res.Updated)
	slices.Sort(res.Unchanged)
	return nil
}

// changed reports whether the deploy creates or updates d.
func (d *desired) changed() bool {
	return d.current == nil || d.current.Spec.Labels[convert.SpecLabel] != d.spec.Labels[convert.SpecLabel]
}

func names(ds []*desired) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.name)
	}
	return out
}

// rolePhases splits a deploy in two when a service it starts logs in with
// a database role of its own: the database services go first, so that the
// BeforeStart hook can make the roles before the rest start. Otherwise
// (or without that hook) everything goes at once.
func rolePhases(ds []*desired, get func(string) (catalog.Service, error), before bool) (first, rest []*desired) {
	needs := false
	for _, d := range ds {
		if svc, err := get(d.name); err == nil && svc.DBRole != nil && d.changed() {
			needs = true
		}
	}
	for _, d := range ds {
		if svc, err := get(d.name); err == nil && svc.Database && needs && before {
			first = append(first, d)
		} else {
			rest = append(rest, d)
		}
	}
	if len(first) == 0 {
		return nil, ds
	}
	return first, rest
}

// plan observes the cluster and works out the deploy, changing nothing.
func (c *Cluster) plan(ctx context.Context) (*plan, error) {
	e := c.E
	if err := e.Configured(); err != nil {
		return nil, err
	}
	p, err := e.Project(ctx)
	if err != nil {
		return nil, err
	}
	if len(p.Services) == 0 {
		return nil, errors.New("no service is enabled; enable one with `mage stack:enable <service>`")
	}
	// Secrets osgs generated while completing .env must persist.
	if err := e.Env.Write(config.Path(e.Dir)); err != nil {
		return nil, err
	}
	roles := placeRoles(e, p)
	byRole, err := c.nodesByRole(ctx, roles)
	if err != nil {
		return nil, err
	}
	existing, err := c.services(ctx)
	if err != nil {
		return nil, err
	}
	current := map[string]*swarm.Service{}
	for i := range existing {
		current[existing[i].Spec.Labels["org.osgs.service"]] = &existing[i]
	}
	pin, err := dbPin(byRole[convert.DB], current, roles)
	if err != nil {
		return nil, err
	}
	digest, err := e.ContentDigest()
	if err != nil {
		return nil, err
	}
	objs, err := convert.Objects(p, func() hash.Hash { digest.Reset(); return digest })
	if err != nil {
		return nil, err
	}
	pl := &plan{networks: convert.Networks(p), objects: objs, project: p, registry: e.Setting(RegistryKey), byNode: map[string]*nodeEngine{}}
	if pl.registry != "" {
		if pl.auth, err = registryAuth(pl.registry, e.Setting(RegistryUserKey), e.Setting(RegistryPasswordKey)); err != nil {
			return nil, err
		}
	}
	names := convert.Names(objs)
	for _, name := range sortedKeys(roles) {
		role := roles[name]
		var nodes []swarm.Node
		for _, n := range byRole[role] {
			if role != convert.DB || n.ID == pin { // the nodes it may run on: all of its role, or the pinned one
				nodes = append(nodes, n)
			}
		}
		d, err := c.desired(ctx, pl, name, role, nodes, current[name])
		if err != nil {
			pl.close()
			return nil, err
		}
		if role == convert.DB {
			d.opts.Pin = pin
		}
		d.opts.Objects = names
		spec, skipped, err := convert.Service(p, d.svc, d.opts)
		if err != nil {
			pl.close()
			return nil, err
		}
		for _, sk := range skipped {
			pl.skipped = append(pl.skipped, name+" "+sk)
		}
		d.spec = spec
		pl.services = append(pl.services, d)
	}
	for name, s := range current {
		if _, ok := p.Services[name]; !ok {
			pl.remove = append(pl.remove, *s)
		}
	}
	return pl, nil
}

// placeRoles gives each service of p its node role.
func placeRoles(e *engine.Engine, p *types.Project) map[string]convert.Role {
	svcs := map[string]catalog.Service{}
	vols := map[string][]string{}
	for name, s := range p.Services {
		cs, _ := e.Catalog.Get(name)
		svcs[name] = cs
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeVolume {
				vols[name] = append(vols[name], v.Source)
			}
		}
	}
	return convert.PlaceRoles(svcs, vols)
}

// nodesByRole lists the swarm's nodes by role, refusing a deploy whose
// services need a role no node has.
func (c *Cluster) nodesByRole(ctx context.Context, roles map[string]convert.Role) (map[convert.Role][]swarm.Node, error) {
	nodes, err := c.Manager.NodeList(ctx, client.NodeListOptions{})
	if err != nil {
		return nil, err
	}
	byRole := map[convert.Role][]swarm.Node{}
	for _, n := range nodes.Items {
		for _, r := range RolesOf(n) {
			byRole[r] = append(byRole[r], n)
		}
	}
	var missing []string
	for _, name := range sortedKeys(roles) {
		if r := roles[name]; len(byRole[r]) == 0 && !slices.Contains(missing, string(r)) {
			missing = append(missing, string(r))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("no node has the role %s that the enabled services need: swarm:label <node> %s", strings.Join(missing, ", "), strings.Join(missing, ","))
	}
	return byRole, nil
}

// desired works out one service: the engines of the nodes it may run on
// (unless a registry carries its image), its image, and its replicas.
func (c *Cluster) desired(ctx context.Context, pl *plan, name string, role convert.Role, nodes []swarm.Node, current *swarm.Service) (*desired, error) {
	e := c.E
	s := pl.project.Services[name]
	d := &desired{name: name, current: current, ref: s.Image, svc: s}
	for _, n := range nodes {
		if pl.registry != "" {
			// The nodes pull: their engines need not be reached.
			if err := nodeReady(n); err != nil {
				return nil, err
			}
			continue
		}
		ne, err := c.engineOf(ctx, pl, n)
		if err != nil {
			return nil, err
		}
		d.nodes = append(d.nodes, ne)
	}
	id, err := c.imageFor(ctx, name, s, d.nodes)
	if err != nil {
		return nil, err
	}
	if pl.registry != "" {
		if d.pushRef, err = registryRef(pl.registry, s.Image); err != nil {
			return nil, err
		}
	}
	d.imageID = id
	replicas, err := replicasOf(e, name, role)
	if err != nil {
		return nil, err
	}
	d.opts = convert.Options{Image: id, Role: role, Replicas: replicas}
	return d, nil
}

// engineOf is the engine of node n, dialled once per deploy.
func (c *Cluster) engineOf(ctx context.Context, pl *plan, n swarm.Node) (*nodeEngine, error) {
	if ne := pl.byNode[n.ID]; ne != nil {
		return ne, nil
	}
	if err := nodeReady(n); err != nil {
		return nil, err
	}
	addr := n.Spec.Labels[EngineLabel]
	if addr == "" {
		return nil, fmt.Errorf("node %s has no engine address: run swarm:join with its engine (unix://, tcp:// or ssh://) again", n.Description.Hostname)
	}
	var cl client.APIClient
	var closer func() error
	if addr == c.ManagerHost {
		cl = c.Manager
	} else {
		dc, err := Dial(ctx, addr, CertPath(c.E))
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Description.Hostname, err)
		}
		cl, closer = dc, dc.Close
	}
	ne := &nodeEngine{ID: n.ID, Hostname: n.Description.Hostname, Client: cl, close: closer}
	pl.byNode[n.ID] = ne
	pl.engines = append(pl.engines, ne)
	return ne, nil
}

// imageFor is the ID of service name's image: on this engine (built when
// it can be), else on its nodes, where every one must hold the same.
func (c *Cluster) imageFor(ctx context.Context, name string, s types.ServiceConfig, nodes []*nodeEngine) (string, error) {
	e := c.E
	id, ok := imageID(ctx, e.Docker(), s.Image)
	if !ok && s.Build != nil {
		if err := e.Build(ctx, name); err != nil {
			return "", err
		}
		id, ok = imageID(ctx, e.Docker(), s.Image)
	}
	if ok {
		return id, nil
	}
	for _, n := range nodes {
		if nid, found := imageID(ctx, n.Client, s.Image); found {
			id, ok = nid, true
			break
		}
	}
	if !ok {
		return "", fmt.Errorf("%s: no node has the image %s, and it cannot be built here (no build section); load it on this engine first", name, s.Image)
	}
	// On some node only: every node needs the same ID.
	for _, n := range nodes {
		if _, err := n.Client.ImageInspect(ctx, id); err != nil {
			return "", fmt.Errorf("%s: image %s is on some of its nodes only, and no registry or build can bring it to the others", name, s.Image)
		}
	}
	return id, nil
}

// replicasOf reads <SERVICE>_REPLICAS: several only for web services.
func replicasOf(e *engine.Engine, name string, role convert.Role) (uint64, error) {
	v := e.Setting(ReplicasKey(name))
	if v == "" {
		return 1, nil
	}
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%s=%q: give a number of replicas, 1 or more", ReplicasKey(name), v)
	}
	if n > 1 && role != convert.Web {
		why := "its state lives on one node"
		if cs, err := e.Catalog.Get(name); err == nil && len(convert.Mirrored(cs)) > 0 {
			why = "a service whose state lives on one node shares its volumes and does not mirror them"
		}
		return 0, fmt.Errorf("%s=%d: %s is a %s service (%s); only web services run several replicas", ReplicasKey(name), n, name, role, why)
	}
	return n, nil
}

// dbPin picks the one node the db services live on: the one they are
// pinned to already, else the first ready db node by hostname. PostGIS
// never moves to another node, where it would start with empty volumes.
func dbPin(dbNodes []swarm.Node, current map[string]*swarm.Service, roles map[string]convert.Role) (string, error) {
	for name, s := range current {
		if roles[name] != convert.DB {
			continue
		}
		if id, ok := pinID(*s); ok {
			return id, nil
		}
	}
	sort.Slice(dbNodes, func(i, j int) bool { return dbNodes[i].Description.Hostname < dbNodes[j].Description.Hostname })
	for _, n := range dbNodes {
		if n.Status.State == swarm.NodeStateReady {
			return n.ID, nil
		}
	}
	if len(dbNodes) == 0 {
		return "", nil
	}
	return "", fmt.Errorf("no db node is ready (%s is %s)", dbNodes[0].Description.Hostname, dbNodes[0].Status.State)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (c *Cluster) nsFilter() client.Filters {
	f := client.Filters{}
	f.Add("label", convert.NamespaceLabel+"="+c.Project())
	return f
}

// services lists the deployment's services.
func (c *Cluster) services(ctx context.Context) ([]swarm.Service, error) {
	res, err := c.Manager.ServiceList(ctx, client.ServiceListOptions{Filters: c.nsFilter(), Status: true})
	if err != nil {
		return nil, err
	}
	return res.Items, nil
}

// tasks lists the deployment's tasks (only those meant to run, when running).
func (c *Cluster) tasks(ctx context.Context, running bool) ([]swarm.Task, error) {
	f := c.nsFilter()
	if running {
		f.Add("desired-state", "running")
	}
	res, err := c.Manager.TaskList(ctx, client.TaskListOptions{Filters: f})
	if err != nil {
		return nil, err
	}
	return res.Items, nil
}

// EncryptKey turns the overlay's encryption off ("off"); it is on by
// default.
const EncryptKey = "SWARM_ENCRYPT"

func encrypt(e *engine.Engine) bool { return e.Setting(EncryptKey) != "off" }

// NetworkOptions are the overlay's driver options: encrypted, the
// services' traffic between nodes (database connections, proxied
// requests) crosses the nodes' network in IPsec (ESP). Every node's kernel
// needs ESP (esp4); a kernel built without it drops that traffic, which is
// what SWARM_ENCRYPT=off is for.
func NetworkOptions(encrypted bool) map[string]string {
	if encrypted {
		return map[string]string{"encrypted": ""}
	}
	return nil
}

func (c *Cluster) ensureNetwork(ctx context.Context, n convert.Network) error {
	name := n.Name
	f := client.Filters{}
	f.Add("name", name)
	nets, err := c.Manager.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return err
	}
	for _, have := range nets.Items {
		if have.Name != name {
			continue
		}
		if _, ok := have.Options["encrypted"]; !ok && encrypt(c.E) && !n.External {
			fmt.Fprintf(c.E.Err, "osgs: warning: the swarm network %s was made without encryption: traffic between nodes is in clear until swarm:rm -yes and swarm:deploy make it anew\n", name)
		}
		return nil
	}
	if n.External {
		return fmt.Errorf("the external network %s does not exist on the swarm", name)
	}
	_, err = c.Manager.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "overlay", Scope: "swarm", Attachable: true,
		Options: NetworkOptions(encrypt(c.E)),
		Labels:  map[string]string{convert.NamespaceLabel: c.Project()}})
	if err != nil {
		return fmt.Errorf("create network %s: %w", name, err)
	}
	return nil
}

// ensureObjects creates the secrets and configs that do not exist yet and
// returns the ID of every one, by kind/name: a service's references must
// carry the IDs as well as the names (swarmkit refuses a reference without
// its ID as "malformed").
func (c *Cluster) ensureObjects(ctx context.Context, objs []convert.Object) (map[string]string, error) {
	ids := map[string]string{}
	sec, err := c.Manager.SecretList(ctx, client.SecretListOptions{Filters: c.nsFilter()})
	if err != nil {
		return nil, err
	}
	for _, s := range sec.Items {
		ids[string(convert.Secret)+"/"+s.Spec.Name] = s.ID
	}
	cfg, err := c.Manager.ConfigList(ctx, client.ConfigListOptions{Filters: c.nsFilter()})
	if err != nil {
		return nil, err
	}
	for _, s := range cfg.Items {
		ids[string(convert.Config)+"/"+s.Spec.Name] = s.ID
	}
	for _, o := range objs {
		key := string(o.Kind) + "/" + o.Name
		if ids[key] != "" {
			continue
		}
		ann := swarm.Annotations{Name: o.Name, Labels: map[string]string{convert.NamespaceLabel: c.Project(), convert.ObjectLabel: o.Compose}}
		var id string
		switch o.Kind {
		case convert.Secret:
			var r client.SecretCreateResult
			r, err = c.Manager.SecretCreate(ctx, client.SecretCreateOptions{Spec: swarm.SecretSpec{Annotations: ann, Data: o.Data}})
			id = r.ID
		case convert.Config:
			var r client.ConfigCreateResult
			r, err = c.Manager.ConfigCreate(ctx, client.ConfigCreateOptions{Spec: swarm.ConfigSpec{Annotations: ann, Data: o.Data}})
			id = r.ID
		}
		if err != nil {
			return nil, fmt.Errorf("create %s %s: %s", o.Kind, o.Compose, oneLine(err))
		}
		ids[key] = id
	}
	return ids, nil
}

// withObjectIDs fills in the IDs of a spec's secret and config references.
func withObjectIDs(spec *swarm.ServiceSpec, ids map[string]string) error {
	cs := spec.TaskTemplate.ContainerSpec
	if cs == nil {
		return nil
	}
	for _, r := range cs.Secrets {
		if r.SecretID = ids[string(convert.Secret)+"/"+r.SecretName]; r.SecretID == "" {
			return fmt.Errorf("secret %s was not created", r.SecretName)
		}
	}
	for _, r := range cs.Configs {
		if r.ConfigID = ids[string(convert.Config)+"/"+r.ConfigName]; r.ConfigID == "" {
			return fmt.Errorf("config %s was not created", r.ConfigName)
		}
	}
	return nil
}

// removeUnusedObjects removes the deployment's secrets and configs that no
// service refers to (in its spec, or in the previous spec it could roll
// back to).
func (c *Cluster) removeUnusedObjects(ctx context.Context) error {
	svcs, err := c.services(ctx)
	if err != nil {
		return err
	}
	used := map[string]bool{}
	for _, s := range svcs {
		for _, spec := range []*swarm.ServiceSpec{&s.Spec, s.PreviousSpec} {
			if spec == nil || spec.TaskTemplate.ContainerSpec == nil {
				continue
			}
			for _, r := range spec.TaskTemplate.ContainerSpec.Secrets {
				used["secret/"+r.SecretName] = true
			}
			for _, r := range spec.TaskTemplate.ContainerSpec.Configs {
				used["config/"+r.ConfigName] = true
			}
		}
	}
	sec, err := c.Manager.SecretList(ctx, client.SecretListOptions{Filters: c.nsFilter()})
	if err != nil {
		return err
	}
	for _, s := range sec.Items {
		if !used["secret/"+s.Spec.Name] {
			if _, err := c.Manager.SecretRemove(ctx, s.ID, client.SecretRemoveOptions{}); err != nil {
				return fmt.Errorf("remove unused secret %s: %w", s.Spec.Name, err)
			}
		}
	}
	cfg, err := c.Manager.ConfigList(ctx, client.ConfigListOptions{Filters: c.nsFilter()})
	if err != nil {
		return err
	}
	for _, s := range cfg.Items {
		if !used["config/"+s.Spec.Name] {
			if _, err := c.Manager.ConfigRemove(ctx, s.ID, client.ConfigRemoveOptions{}); err != nil {
				return fmt.Errorf("remove unused config %s: %w", s.Spec.Name, err)
			}
		}
	}
	return nil
}

// RolledBackError reports a service whose update failed and was undone.
type RolledBackError struct{ Service, Message string }

func (r *RolledBackError) Error() string {
	return fmt.Sprintf("%s: the update failed and was rolled back (%s)", r.Service, r.Message)
}

// converge waits until every deployed service runs its desired tasks and
// no update is in flight; a rolled-back update is an error.
func (c *Cluster) converge(ctx context.Context, pl *plan, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	want := map[string]string{} // service -> the spec digest deployed
	for _, d := range pl.services {
		want[d.name] = d.spec.Labels[convert.SpecLabel]
	}
	for {
		svcs, err := c.services(ctx)
		if err != nil {
			return err
		}
		tasks, err := c.tasks(ctx, false)
		if err != nil {
			return err
		}
		pending := ""
		for _, s := range svcs {
			name := s.Spec.Labels["org.osgs.service"]
			if _, ok := want[name]; !ok {
				continue // not part of this step (or being removed)
			}
			if u := s.UpdateStatus; u != nil {
				switch u.State {
				case swarm.UpdateStateRollbackCompleted, swarm.UpdateStateRollbackPaused, swarm.UpdateStatePaused:
					if wasChanged(pl, name) {
						return &RolledBackError{Service: name, Message: u.Message}
					}
				}
			}
			if pending == "" {
				digest := "" // unchanged: any running task of it counts
				if wasChanged(pl, name) {
					digest = want[name]
				}
				pending = convergence(s, tasks, digest)
			}
		}
		if pending == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the deployment did not converge in %s: %s%s", wait, pending, c.lastError(ctx, strings.Fields(pending)[0]))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// convergence says what service s still waits for, or "" when as many of
// its tasks run as it has replicas, no task told to stop still runs, and,
// when digest is set, every task that should run is of that spec (the one
// just deployed). A task counts as running only once its healthcheck
// passes.
func convergence(s swarm.Service, tasks []swarm.Task, digest string) string {
	name := s.Spec.Labels["org.osgs.service"]
	replicas := uint64(1)
	if m := s.Spec.Mode.Replicated; m != nil && m.Replicas != nil {
		replicas = *m.Replicas
	}
	var running, stale uint64
	for _, t := range tasks {
		if t.ServiceID != s.ID {
			continue
		}
		if t.DesiredState != swarm.TaskStateRunning {
			if t.Status.State == swarm.TaskStateRunning {
				stale++ // told to stop, still stopping
			}
			continue
		}
		if cs := t.Spec.ContainerSpec; digest != "" && (cs == nil || cs.Labels[convert.SpecLabel] != digest) {
			stale++
		} else if t.Status.State == swarm.TaskStateRunning {
			running++
		}
	}
	switch {
	case stale > 0:
		return fmt.Sprintf("%s is updating (%d tasks of the previous spec still run or are wanted)", name, stale)
	case running < replicas:
		return fmt.Sprintf("%s runs %d of %d tasks", name, running, replicas)
	}
	return ""
}

func wasChanged(pl *plan, name string) bool {
	for _, d := range pl.services {
		if d.name == name {
			return d.changed()
		}
	}
	return false
}

// lastError is the newest task error of a service, as ": <error>".
func (c *Cluster) lastError(ctx context.Context, service string) string {
	if t := c.newestError(ctx, service); t != nil {
		return ": " + t.Status.Err
	}
	return ""
}

// newestError is the newest task of service that failed with an error.
func (c *Cluster) newestError(ctx context.Context, service string) *swarm.Task {
	svcs, err := c.services(ctx)
	if err != nil {
		return nil
	}
	ids := map[string]bool{}
	for _, s := range svcs {
		if s.Spec.Labels["org.osgs.service"] == service {
			ids[s.ID] = true
		}
	}
	tasks, err := c.tasks(ctx, false)
	if err != nil {
		return nil
	}
	var newest *swarm.Task
	for i, t := range tasks {
		if t.Status.Err != "" && ids[t.ServiceID] && (newest == nil || t.Status.Timestamp.After(newest.Status.Timestamp)) {
			newest = &tasks[i]
		}
	}
	return newest
}

// nodeReady refuses a node a deploy would place tasks on that is not Ready.
func nodeReady(n swarm.Node) error {
	if n.Status.State != swarm.NodeStateReady {
		return fmt.Errorf("node %s is %s: bring it back, or swarm:label it out of its roles", n.Description.Hostname, n.Status.State)
	}
	return nil
}
