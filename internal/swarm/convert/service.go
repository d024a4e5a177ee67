package convert

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/swarm"
)

// Options are what the model does not say about one service.
type Options struct {
	Image    string // what the task runs: an image ID when there is no registry
	Role     Role
	Pin      string // the node ID a db service is pinned to
	Replicas uint64 // 0 means 1
	Objects  map[Kind]map[string]string
}

// Name is a service's swarm name, as docker stack names it.
func Name(project, service string) string { return project + "_" + service }

// Service converts one compose service to its swarm spec, and reports the
// ports that stay unpublished (bound to loopback).
func Service(p *types.Project, s types.ServiceConfig, o Options) (swarm.ServiceSpec, []string, error) {
	c, err := Container(p, s, o.Image, o.Objects)
	if err != nil {
		return swarm.ServiceSpec{}, nil, err
	}
	ports, skipped, err := Ports(s)
	if err != nil {
		return swarm.ServiceSpec{}, nil, err
	}
	nets, err := Attachments(p, s)
	if err != nil {
		return swarm.ServiceSpec{}, nil, err
	}
	replicas := o.Replicas
	if replicas == 0 {
		replicas = 1
	}
	placement := &swarm.Placement{Constraints: []string{o.Role.Constraint()}}
	if o.Pin != "" {
		placement.Constraints = append(placement.Constraints, "node.id=="+o.Pin)
	}
	if len(ports) > 0 {
		placement.MaxReplicas = 1 // one host port per node
	}
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: Name(p.Name, s.Name), Labels: map[string]string{
			NamespaceLabel:           p.Name,
			"com.docker.stack.image": s.Image,
			"org.osgs.service":       s.Name,
			"org.osgs.role":          string(o.Role),
		}},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: c,
			RestartPolicy: Restart(s.Restart),
			Placement:     placement,
			Networks:      nets,
		},
		Mode:           swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
		UpdateConfig:   Update(s, o.Role, len(ports) > 0, swarm.UpdateFailureActionRollback),
		RollbackConfig: Update(s, o.Role, len(ports) > 0, swarm.UpdateFailureActionPause),
		// No IPVS in this kernel: DNS round robin, and host-mode ports.
		EndpointSpec: &swarm.EndpointSpec{Mode: swarm.ResolutionModeDNSRR, Ports: ports},
	}
	d := Digest(spec)
	spec.Labels[SpecLabel] = d
	// The tasks carry it too, so a deploy can wait until the tasks
	// running are those of this spec.
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	c.Labels[SpecLabel] = d
	return spec, skipped, nil
}

// Digest is the sha256 of a spec without its digest labels.
func Digest(spec swarm.ServiceSpec) string {
	without := func(m map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			if k != SpecLabel {
				out[k] = v
			}
		}
		return out
	}
	spec.Labels = without(spec.Labels)
	if c := spec.TaskTemplate.ContainerSpec; c != nil {
		cc := *c
		cc.Labels = without(c.Labels)
		spec.TaskTemplate.ContainerSpec = &cc
	}
	b, _ := json.Marshal(spec)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Restart converts compose's restart policy.
func Restart(r string) *swarm.RestartPolicy {
	p := &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionAny}
	delay := 5 * time.Second
	p.Delay = &delay
	switch {
	case r == "no":
		p.Condition = swarm.RestartPolicyConditionNone
	case strings.HasPrefix(r, "on-failure"):
		p.Condition = swarm.RestartPolicyConditionOnFailure
		if _, n, ok := strings.Cut(r, ":"); ok {
			if m, err := strconv.ParseUint(n, 10, 64); err == nil {
				p.MaxAttempts = &m
			}
		}
	}
	return p
}

// Update is the rolling-update (or rollback) policy: one task at a time,
// watched long enough for its healthcheck to pass. A service that owns
// state or a host port stops the old task first (two PostgreSQL servers
// must never share a data folder; two tasks cannot bind one port); the
// others start the new task first, so they keep answering.
func Update(s types.ServiceConfig, role Role, hostPorts bool, onFailure swarm.FailureAction) *swarm.UpdateConfig {
	monitor := 30 * time.Second
	if h := s.HealthCheck; h != nil && !h.Disable {
		var w time.Duration
		if h.StartPeriod != nil {
			w += time.Duration(*h.StartPeriod)
		}
		if h.Interval != nil && h.Retries != nil {
			w += time.Duration(*h.Interval) * time.Duration(*h.Retries+1)
		}
		monitor = max(monitor, w)
	}
	order := swarm.UpdateOrderStartFirst
	if role == DB || hostPorts {
		order = swarm.UpdateOrderStopFirst
	}
	return &swarm.UpdateConfig{Parallelism: 1, Delay: 2 * time.Second, FailureAction: onFailure, Monitor: monitor, Order: order}
}
