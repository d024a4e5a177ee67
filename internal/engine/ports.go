package engine

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v5/pkg/api"
)

// PortInUseError reports a published host port that something else holds.
type PortInUseError struct {
	Service string
	Address string
}

func (p *PortInUseError) Error() string {
	return fmt.Sprintf("port %s, published by %s, is already in use on this host: free it or change the port in .env", p.Address, p.Service)
}

// checkPorts refuses to start when a host port that a service publishes is
// taken by something other than that service's own running container, so a
// clash is reported before anything is created.
func (e *Engine) checkPorts(ctx context.Context, p *types.Project) error {
	running, err := e.compose.Ps(ctx, p.Name, api.PsOptions{All: false})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	up := map[string]bool{}
	for _, c := range running {
		up[c.Service] = true
	}
	for _, name := range p.ServiceNames() {
		if up[name] {
			continue
		}
		for _, port := range p.Services[name].Ports {
			if port.Published == "" || port.Protocol == "udp" {
				continue
			}
			addr := net.JoinHostPort(port.HostIP, port.Published)
			if port.HostIP == "" {
				addr = net.JoinHostPort("0.0.0.0", port.Published)
			}
			if _, err := strconv.Atoi(port.Published); err != nil {
				continue // a range; the engine will check it
			}
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return &PortInUseError{Service: name, Address: addr}
			}
			l.Close()
		}
	}
	return nil
}
