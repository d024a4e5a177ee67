package convert

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
)

// UnsupportedError is a setting of the model swarm cannot express; it says
// what to do instead.
type UnsupportedError struct {
	Service, What, Instead string
}

func (u *UnsupportedError) Error() string {
	return fmt.Sprintf("%s: %s; swarm cannot express that: %s", u.Service, u.What, u.Instead)
}

// Ports converts published ports to host-mode ports (this kernel has no
// IPVS, so the routing mesh does not work). Swarm has no host address: a
// port bound to every address is published on the node that runs the
// task; one bound to loopback stays unpublished (local access goes through
// osgs's exec verbs, as before), and is reported in skipped; one bound to
// another single address is refused.
func Ports(s types.ServiceConfig) (ports []swarm.PortConfig, skipped []string, err error) {
	for _, p := range s.Ports {
		published := p.Published
		if published == "" {
			published = strconv.Itoa(int(p.Target))
		}
		n, perr := strconv.ParseUint(strings.SplitN(published, "-", 2)[0], 10, 16)
		if perr != nil {
			return nil, nil, &UnsupportedError{Service: s.Name, What: fmt.Sprintf("published port %q", published), Instead: "give one port number"}
		}
		desc := fmt.Sprintf("%s:%d->%d", p.HostIP, n, p.Target)
		switch ip, aerr := netip.ParseAddr(p.HostIP); {
		case p.HostIP == "" || aerr == nil && ip.IsUnspecified():
		case aerr == nil && ip.IsLoopback():
			skipped = append(skipped, desc)
			continue
		default:
			return nil, nil, &UnsupportedError{Service: s.Name,
				What:    fmt.Sprintf("port %d is published on %s only", n, p.HostIP),
				Instead: "swarm publishes on every address of the node that runs the task; bind it to 0.0.0.0 (and firewall the port), or to 127.0.0.1 to leave it unpublished"}
		}
		proto := network.TCP
		if p.Protocol == "udp" {
			proto = network.UDP
		}
		ports = append(ports, swarm.PortConfig{Protocol: proto, TargetPort: p.Target, PublishedPort: uint32(n), PublishMode: swarm.PortConfigPublishModeHost})
	}
	return ports, skipped, nil
}
