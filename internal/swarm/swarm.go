// Package swarm deploys osgs's catalog to Docker Swarm through the Engine
// API: the same services, .env and images as `stack:up`, as swarm
// services. Package convert makes the specs; this package observes the
// cluster, checks everything a deploy needs before the first change, and
// applies the difference (deploy.go), moves images to the nodes without a
// registry (images.go), and runs the cluster verbs (cluster.go, status.go).
package swarm

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/cli/cli/connhelper"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/refusal"
)

// ManagerKey names the engine of a swarm manager, when it is not the local
// engine (DOCKER_HOST): unix://, tcp:// or ssh://user@host.
const ManagerKey = "SWARM_MANAGER"

// EngineLabel is the node label holding the address of the node's own
// engine (from swarm:join), which image loads and status use.
const EngineLabel = "osgs.engine"

// NoSwarmError reports an engine that is not a swarm manager.
type NoSwarmError struct{ Engine, State string }

func (n *NoSwarmError) Error() string {
	return fmt.Sprintf("the engine at %s is not a swarm manager (%s): run swarm:init, or set %s to a manager's engine", n.Engine, n.State, ManagerKey)
}

// Cluster is a swarm seen from osgs: the checkout (catalog, .env, the
// local engine that builds images) and a manager's engine.
type Cluster struct {
	E           *engine.Engine
	Manager     client.APIClient
	ManagerHost string
	own         bool
}

// Connect opens the manager's engine; it need not be a swarm yet (Init).
func Connect(ctx context.Context, e *engine.Engine) (*Cluster, error) {
	if err := e.Connect(ctx); err != nil {
		return nil, err
	}
	host := e.Setting(ManagerKey)
	if host == "" {
		return &Cluster{E: e, Manager: e.Docker(), ManagerHost: e.Docker().DaemonHost()}, nil
	}
	c, err := Dial(ctx, host, CertPath(e))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ManagerKey, err)
	}
	return &Cluster{E: e, Manager: c, ManagerHost: host, own: true}, nil
}

// Open opens the manager and checks that it is one.
func Open(ctx context.Context, e *engine.Engine) (*Cluster, error) {
	c, err := Connect(ctx, e)
	if err != nil {
		return nil, err
	}
	info, err := c.Manager.Info(ctx, client.InfoOptions{})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("swarm manager %s: %w", c.ManagerHost, err)
	}
	if st := info.Info.Swarm; st.LocalNodeState != swarm.LocalNodeStateActive || !st.ControlAvailable {
		c.Close()
		state := string(st.LocalNodeState)
		if st.LocalNodeState == swarm.LocalNodeStateActive {
			state = "a worker"
		}
		return nil, &NoSwarmError{Engine: c.ManagerHost, State: state}
	}
	return c, nil
}

// Close closes the manager's client when Cluster opened it.
func (c *Cluster) Close() error {
	if c.own {
		return c.Manager.Close()
	}
	return nil
}

// Project is the namespace of everything osgs deploys.
func (c *Cluster) Project() string { return c.E.ProjectName() }

// CertPathKey names the folder of TLS client certificates for engines
// reached over tcp:// (Docker's convention: ca.pem, cert.pem, key.pem).
const CertPathKey = "DOCKER_CERT_PATH"

// CertPath is where e keeps the TLS client certificates for tcp://
// engines: DOCKER_CERT_PATH (environment or .env), else config/docker-tls
// when it holds them.
func CertPath(e *engine.Engine) string {
	if p := e.Setting(CertPathKey); p != "" {
		if !filepath.IsAbs(p) {
			p = filepath.Join(e.Dir, p)
		}
		return p
	}
	if p := filepath.Join(e.Dir, "config", "docker-tls"); fileExists(filepath.Join(p, "ca.pem")) {
		return p
	}
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// PlainTCPError refuses an engine address that would carry the API in
// clear: join tokens, secrets, database dumps and the site's key go over it.
type PlainTCPError struct{ Engine string }

func (p *PlainTCPError) Error() string {
	return fmt.Sprintf("%s is Docker's API in clear, with no authentication: give its engine TLS (dockerd --tlsverify) and this host client certificates in %s (ca.pem, cert.pem, key.pem), or reach it as ssh://user@host", p.Engine, CertPathKey)
}

// Is makes it a refusal (exit code 2).
func (p *PlainTCPError) Is(target error) bool { return target == refusal.Err }

// Dial connects to an engine given as unix://, tcp:// with TLS client
// certificates (certs: a folder with ca.pem, cert.pem and key.pem; the
// engine's certificate is verified against ca.pem) or ssh://user@host
// (ssh runs `docker system dial-stdio` on the node, as the docker CLI
// does), and checks that it answers. A tcp:// address without certs is
// refused before anything is sent.
func Dial(ctx context.Context, addr, certs string) (*client.Client, error) {
	u, err := url.Parse(addr)
	if err != nil || u.Scheme == "" {
		return nil, fmt.Errorf("%q is not an engine address: use unix:///path, tcp://host:port (with TLS) or ssh://user@host", addr)
	}
	opts := []client.Opt{client.WithAPIVersionNegotiation()}
	switch u.Scheme {
	case "unix":
		opts = append(opts, client.WithHost(addr))
	case "tcp":
		if certs == "" {
			return nil, &PlainTCPError{Engine: addr}
		}
		tlsOpt, err := tlsClient(certs)
		if err != nil {
			return nil, err
		}
		opts = append(opts, client.WithHost(addr), tlsOpt)
	case "ssh":
		h, err := connhelper.GetConnectionHelper(addr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", addr, err)
		}
		opts = append(opts, client.WithHost(h.Host), client.WithDialContext(h.Dialer))
	default:
		return nil, fmt.Errorf("%q is not an engine address: use unix:///path, tcp://host:port (with TLS) or ssh://user@host", addr)
	}
	c, err := client.New(opts...)
	if err != nil {
		return nil, err
	}
	if _, err := c.Ping(ctx, client.PingOptions{}); err != nil {
		c.Close()
		return nil, &UnreachableError{Engine: addr, Err: err}
	}
	return c, nil
}

// tlsClient is the client option for the certificates in dir: the key must
// be the owner's alone.
func tlsClient(dir string) (client.Opt, error) {
	ca, cert, key := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for _, f := range []string{ca, cert, key} {
		if !fileExists(f) {
			return nil, fmt.Errorf("%w: %s lacks %s (Docker's client certificates: ca.pem, cert.pem, key.pem)", refusal.Err, dir, filepath.Base(f))
		}
	}
	if fi, err := os.Stat(key); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s is mode %v; a private key must be 0600", refusal.Err, key, fi.Mode().Perm())
	}
	return client.WithTLSClientConfig(ca, cert, key), nil
}

// UnreachableError reports an engine that does not answer.
type UnreachableError struct {
	Engine string
	Err    error
}

func (u *UnreachableError) Error() string {
	return fmt.Sprintf("the engine at %s does not answer: %s", u.Engine, oneLine(u.Err))
}

func (u *UnreachableError) Unwrap() error { return u.Err }

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

// ErrNoNode is returned for a node name or ID that is not in the swarm.
var ErrNoNode = errors.New("no such node")
