package testenv

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"golang.org/x/crypto/bcrypt"

	"github.com/osgs/osgs/internal/site"
)

// SwarmNode is one engine of a test swarm: a dockerd in its own network
// namespace, reached on a Unix socket; its swarm address is Addr.
type SwarmNode struct {
	Name   string
	Addr   string // its address on the test network, 10.213.<n>.<10+i>
	Host   string // unix://... for the engine API
	Client *client.Client
	NetNS  string
	cmd    *exec.Cmd
}

// Swarm is a multi-node test cluster on one machine (../shared/swarm-notes.md):
// one containerd with its own root, one dockerd per node, each in a network
// namespace, the namespaces joined by a bridge in a "switch" namespace.
// Nothing is a swarm yet: the test runs swarm:init and swarm:join.
type Swarm struct {
	Nodes []*SwarmNode
	// CertPath holds the client certificates (ca.pem, cert.pem, key.pem)
	// for the nodes' engines at tcp://<Addr>:EngineTLSPort.
	CertPath string
	dir      string
	id       string
	subnet   int // the test network is 10.213.<subnet>.0/24
	linked   bool
	ctrd     *exec.Cmd
}

// run runs a command and fails the test with its output.
func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// StartSwarm starts n engines. It needs root, iproute2 and nsenter.
func StartSwarm(t testing.TB, n int) *Swarm {
	t.Helper()
	RequireDocker(t)
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and the swarm tests need root (network namespaces)")
		}
		t.Skip("the swarm tests need root (network namespaces)")
	}
	need(t, "ip", "iproute2")
	need(t, "nsenter", "util-linux")
	need(t, "unshare", "util-linux")
	need(t, "dockerd", "docker.io")
	need(t, "containerd", "containerd")
	sweepSwarms()
	id := randHex(3)
	s := &Swarm{id: id, dir: "/tmp/osw" + id}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.stop(t) })

	// The switch: a bridge in a namespace of its own.
	sw := "osw" + id + "sw"
	run(t, "ip", "netns", "add", sw)
	run(t, "ip", "-n", sw, "link", "add", "br0", "type", "bridge")
	run(t, "ip", "-n", sw, "link", "set", "br0", "up")
	subnet := 100 + int(id[0])%100
	s.subnet = subnet
	for i := 1; i <= n; i++ {
		node := &SwarmNode{Name: fmt.Sprintf("node%d", i), NetNS: fmt.Sprintf("osw%sn%d", id, i),
			Addr: fmt.Sprintf("10.213.%d.%d", subnet, 10+i)}
		s.Nodes = append(s.Nodes, node)
		run(t, "ip", "netns", "add", node.NetNS)
		a, b := fmt.Sprintf("osw%sa%d", id, i), fmt.Sprintf("osw%sb%d", id, i)
		run(t, "ip", "link", "add", a, "type", "veth", "peer", "name", b)
		run(t, "ip", "link", "set", a, "netns", node.NetNS)
		run(t, "ip", "link", "set", b, "netns", sw)
		run(t, "ip", "-n", node.NetNS, "link", "set", a, "name", "eth0")
		run(t, "ip", "-n", node.NetNS, "addr", "add", node.Addr+"/24", "dev", "eth0")
		run(t, "ip", "-n", node.NetNS, "link", "set", "eth0", "up")
		run(t, "ip", "-n", node.NetNS, "link", "set", "lo", "up")
		run(t, "ip", "-n", sw, "link", "set", b, "master", "br0")
		run(t, "ip", "-n", sw, "link", "set", b, "up")
	}

	// One containerd for all nodes, each dockerd in its own namespace of it.
	ctrd := exec.Command("containerd", "--root", s.dir+"/ctrd", "--state", s.dir+"/ctrd-state", "--address", s.dir+"/ctrd.sock")
	ctrd.Stdout, ctrd.Stderr = logFile(t, s.dir+"/containerd.log"), logFile(t, s.dir+"/containerd.log")
	ctrd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := ctrd.Start(); err != nil {
		t.Fatal(err)
	}
	s.ctrd = ctrd // stopped last
	waitFile(t, s.dir+"/ctrd.sock", 20*time.Second)
	os.WriteFile(s.dir+"/daemon.json", []byte(`{"mtu": 1400}`), 0o600)
	engineTLS(t, s.dir+"/tls", s.Nodes)
	s.CertPath = s.dir + "/tls/client"
	for _, node := range s.Nodes {
		node.Host = "unix://" + s.dir + "/" + node.Name + ".sock"
		s.startEngine(t, node)
	}
	for _, node := range s.Nodes {
		c, err := client.New(client.WithHost(node.Host), client.WithAPIVersionNegotiation())
		if err != nil {
			t.Fatal(err)
		}
		node.Client = c
		s.waitEngine(t, node)
	}
	return s
}

// startEngine starts node's dockerd: its own network namespace, and its
// own hostname (a UTS namespace), so the nodes tell apart as real machines
// do.
func (s *Swarm) startEngine(t testing.TB, node *SwarmNode) {
	t.Helper()
	d := s.dir + "/" + node.Name
	args := []string{"dockerd",
		"--data-root", d + "/data", "--exec-root", d + "/x", "--pidfile", d + ".pid",
		"-H", node.Host, "--containerd", s.dir + "/ctrd.sock",
		"--containerd-namespace", "osw" + node.Name, "--containerd-plugins-namespace", "osw" + node.Name + "p",
		"--cgroup-parent", "osw" + s.id + node.Name, "--config-file", s.dir + "/daemon.json",
		"--storage-driver", "overlay2",
		"-H", "tcp://" + node.Addr + ":" + EngineTLSPort, "--tlsverify",
		"--tlscacert", s.dir + "/tls/" + node.Name + "/ca.pem", "--tlscert", s.dir + "/tls/" + node.Name + "/cert.pem",
		"--tlskey", s.dir + "/tls/" + node.Name + "/key.pem"}
	cmd := exec.Command("nsenter", "--net=/run/netns/"+node.NetNS, "unshare", "--uts", "--",
		"sh", "-c", `hostname "$0" && exec "$@"`, node.Name)
	cmd.Args = append(cmd.Args, args...)
	cmd.Stdout, cmd.Stderr = logFile(t, d+".log"), logFile(t, d+".log")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	node.cmd = cmd
}

// waitEngine waits until node's engine answers.
func (s *Swarm) waitEngine(t testing.TB, node *SwarmNode) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := node.Client.Ping(ctx, client.PingOptions{})
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(s.dir + "/" + node.Name + ".log")
			t.Fatalf("%s did not start: %v\n%s", node.Name, err, tail(log, 2000))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// Restart starts the engine of a node that Kill stopped, as a machine
// that comes back, with what its disk held.
func (s *Swarm) Restart(t testing.TB, node *SwarmNode) {
	t.Helper()
	s.startEngine(t, node)
	s.waitEngine(t, node)
}

// Kill stops a node's engine at once, as a lost machine (its tasks die with it).
func (s *Swarm) Kill(t testing.TB, node *SwarmNode) {
	if node.cmd != nil && node.cmd.Process != nil {
		syscall.Kill(-node.cmd.Process.Pid, syscall.SIGKILL)
		node.cmd.Wait()
		node.cmd = nil
	}
}

// stop ends every engine, then containerd, and removes the namespaces and
// the folder.
func (s *Swarm) stop(t testing.TB) {
	for _, node := range s.Nodes {
		if node.Client != nil {
			node.Client.Close()
		}
		if node.cmd != nil && node.cmd.Process != nil {
			syscall.Kill(-node.cmd.Process.Pid, syscall.SIGTERM)
			done := make(chan struct{})
			go func() { node.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				syscall.Kill(-node.cmd.Process.Pid, syscall.SIGKILL)
				<-done
			}
		}
	}
	if c := s.ctrd; c != nil && c.Process != nil {
		syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
		c.Wait()
	}
	removeSwarm(s.id, s.dir)
}

// removeSwarm removes what the test swarm id left: the processes that name
// its folder (the engines, containerd and the containers' shims, which
// outlive an engine that was killed) and those in its cgroups (the
// containers), its engines' mounts (overlay layers, shm, netns files), its
// network namespaces (and with them their veths and the bridge), its
// folder and its cgroups.
func removeSwarm(id, dir string) {
	killNaming(dir + "/")
	cgroups := swarmCgroups(id)
	for _, cg := range cgroups {
		b, _ := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if out, err := exec.Command("sh", "-c", "grep -o ' "+dir+"[^ ]*' /proc/mounts | sort -r").Output(); err == nil {
		for _, m := range strings.Fields(string(out)) {
			syscall.Unmount(m, syscall.MNT_DETACH)
		}
	}
	if out, err := exec.Command("ip", "netns", "list").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "osw"+id) {
				exec.Command("ip", "netns", "delete", f[0]).Run()
			}
		}
	}
	os.RemoveAll(dir)
	os.RemoveAll(fmt.Sprintf("/etc/docker/certs.d/10.213.%d.1:5000", 100+int(id[0])%100)) // StartRegistry's trust
	// A cgroup goes once its killed processes are gone; the deepest first.
	for deadline := time.Now().Add(10 * time.Second); len(cgroups) > 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var left []string
		for _, cg := range cgroups {
			if err := os.Remove(cg); err != nil && !os.IsNotExist(err) {
				left = append(left, cg)
			}
		}
		cgroups = left
	}
}

// swarmCgroups lists the cgroups of test swarm id (its engines' cgroup
// parents and the containers' cgroups under them), deepest first.
func swarmCgroups(id string) []string {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/osw" + id + "*")
	v2, _ := filepath.Glob("/sys/fs/cgroup/osw" + id + "*")
	var dirs []string
	for _, r := range append(roots, v2...) {
		filepath.WalkDir(r, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/") })
	return dirs
}

// killNaming kills every process whose command line contains s.
func killNaming(s string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if cmd, err := os.ReadFile(p); err == nil && strings.Contains(string(cmd), s) {
			if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil && pid != os.Getpid() {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}

// ownerFile names the test process that started a swarm.
const ownerFile = "owner"

// sweepSwarms removes the test swarms of test processes that are gone: a
// go test killed by its -timeout, or by a signal, runs no cleanup, and its
// engines would run on with their namespaces and mounts. It also removes
// what a swarm whose folder is gone left in cgroups and shims.
func sweepSwarms() {
	dirs, _ := filepath.Glob("/tmp/osw*")
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // not ours, or just being made
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && syscall.Kill(pid, 0) == nil {
			continue // its test still runs
		}
		// Its engines and containerd: every process that names the folder.
		killNaming(dir + "/")
		time.Sleep(time.Second)
		removeSwarm(strings.TrimPrefix(filepath.Base(dir), "osw"), dir)
	}
	cgroups, _ := filepath.Glob("/sys/fs/cgroup/pids/osw*")
	more, _ := filepath.Glob("/sys/fs/cgroup/osw*")
	for _, cg := range append(cgroups, more...) {
		name := filepath.Base(cg) // osw<id>node<n>
		if i := strings.Index(name, "node"); i == 3+6 {
			id := name[3:i]
			if _, err := os.Stat("/tmp/osw" + id); os.IsNotExist(err) {
				removeSwarm(id, "/tmp/osw"+id)
			}
		}
	}
}

func logFile(t testing.TB, path string) *os.File {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func waitFile(t testing.TB, path string, d time.Duration) {
	deadline := time.Now().Add(d)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear", path)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// HostLink gives this host an address on the test network (a veth from
// its namespace to the swarm's bridge), once, and returns it: the test
// then reaches the nodes' published ports, and the nodes reach servers
// the test starts on it. The link goes with the swarm.
func (s *Swarm) HostLink(t testing.TB) string {
	t.Helper()
	host := fmt.Sprintf("10.213.%d.1", s.subnet)
	if s.linked {
		return host
	}
	h, p := "osw"+s.id+"h", "osw"+s.id+"r"
	sw := "osw" + s.id + "sw"
	run(t, "ip", "link", "add", h, "type", "veth", "peer", "name", p)
	t.Cleanup(func() { exec.Command("ip", "link", "delete", h).Run() })
	run(t, "ip", "link", "set", p, "netns", sw)
	run(t, "ip", "-n", sw, "link", "set", p, "master", "br0")
	run(t, "ip", "-n", sw, "link", "set", p, "up")
	run(t, "ip", "addr", "add", host+"/24", "dev", h)
	run(t, "ip", "link", "set", h, "up")
	s.linked = true
	return host
}

// DistributionRegistry is the registry the swarm tests push to: CNCF
// distribution, built from the Go module proxy once per machine.
const DistributionRegistry = "github.com/distribution/distribution/v3/cmd/registry@v3.1.2"

// Registry is a registry on a test swarm's network, with TLS and one
// htpasswd user.
type Registry struct {
	Addr     string // host:port, reached by this host's engine and the nodes'
	User     string
	Password string
}

// StartRegistry starts a registry on the test network: this host gets an
// address there (HostLink), the registry listens on
// it with a self-signed certificate, and every engine trusts that
// certificate for the test's duration through
// /etc/docker/certs.d/<addr>/ca.crt (the nodes' engines share this
// host's /etc). It stops with the test.
func (s *Swarm) StartRegistry(t testing.TB) *Registry {
	t.Helper()
	bin := goBinary(t, DistributionRegistry)
	host := s.HostLink(t)
	r := &Registry{Addr: host + ":5000", User: "osgs", Password: randHex(12)}
	dir := t.TempDir()
	certPEM, keyPEM, err := site.SelfSigned(host, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		dir + "/cert.pem": certPEM,
		dir + "/key.pem":  keyPEM,
		dir + "/htpasswd": []byte(r.User + ":" + string(hash) + "\n"),
		dir + "/config.yml": []byte(fmt.Sprintf(`version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: %s/data}}
http: {addr: "%s", tls: {certificate: %s/cert.pem, key: %s/key.pem}}
auth: {htpasswd: {realm: osgs-test, path: %s/htpasswd}}
`, dir, r.Addr, dir, dir, dir)),
	}
	for f, b := range files {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	trust := "/etc/docker/certs.d/" + r.Addr
	if err := os.MkdirAll(trust, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(trust) })
	if err := os.WriteFile(trust+"/ca.crt", certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	startServer(t, exec.Command(bin, "serve", dir+"/config.yml"), r.Addr, dir+"/registry.log")
	return r
}
