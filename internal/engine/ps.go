package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/docker/compose/v5/pkg/api"
)

// ServiceState is one row of a status table.
type ServiceState struct {
	Service   string
	Enabled   bool
	Container string
	State     string // running, exited, ... or "absent"
	Health    string // healthy, starting, unhealthy, or "" without a healthcheck
	ExitCode  int
	Ports     []string
}

// States reports the containers of the named services (all catalog services
// when none are named).
func (e *Engine) States(ctx context.Context, services ...string) ([]ServiceState, error) {
	if err := e.CheckServices(services...); err != nil {
		return nil, err
	}
	if err := e.Connect(ctx); err != nil {
		return nil, err
	}
	if len(services) == 0 {
		services = e.Catalog.Names()
	}
	cs, err := e.compose.Ps(ctx, e.ProjectName(), api.PsOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	enabled := e.Enabled()
	var out []ServiceState
	for _, name := range services {
		st := ServiceState{Service: name, Enabled: slices.Contains(enabled, name), State: "absent"}
		for _, c := range cs {
			if c.Service != name {
				continue
			}
			st.Container, st.State, st.Health, st.ExitCode = c.Name, string(c.State), string(c.Health), c.ExitCode
			for _, p := range c.Publishers {
				if p.PublishedPort != 0 {
					st.Ports = append(st.Ports, fmt.Sprintf("%s:%d->%d/%s", p.URL, p.PublishedPort, p.TargetPort, p.Protocol))
				}
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// Cells are the enabled, state and health columns of a status table:
// "yes"/"no", the state with an exit code when exited, "-" without health.
func (s ServiceState) Cells() (enabled, state, health string) {
	enabled, state, health = "no", s.State, s.Health
	if s.Enabled {
		enabled = "yes"
	}
	if s.State == "exited" {
		state = fmt.Sprintf("exited (%d)", s.ExitCode)
	}
	if health == "" {
		health = "-"
	}
	return enabled, state, health
}

// PrintStates writes a status table.
func (e *Engine) PrintStates(states []ServiceState) {
	tw := tabwriter.NewWriter(e.Out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tENABLED\tSTATE\tHEALTH\tCONTAINER\tPORTS")
	for _, s := range states {
		enabled, state, health := s.Cells()
		ctr := s.Container
		if ctr == "" {
			ctr = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Service, enabled, state, health, ctr, strings.Join(s.Ports, ","))
	}
	tw.Flush()
}

// Status prints the status table of the named services.
func (e *Engine) Status(ctx context.Context, services ...string) error {
	states, err := e.States(ctx, services...)
	if err != nil {
		return err
	}
	e.PrintStates(states)
	return nil
}
