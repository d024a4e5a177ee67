package swarm

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"

	"github.com/osgs/osgs/internal/backup"
	"github.com/osgs/osgs/internal/catalog"
	"github.com/osgs/osgs/internal/config"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/files"
	"github.com/osgs/osgs/internal/nginx"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/qgis"
	"github.com/osgs/osgs/internal/site"
	"github.com/osgs/osgs/internal/swarm/convert"
	"github.com/osgs/osgs/internal/testenv"
)

// hello is a stateless web service for the swarm test: nginx serving a
// page rendered from a template (a swarm config), with a healthcheck a
// setting can break.
const hello = `services:
  hello:
    x-osgs:
      description: a page for the swarm tests
      web:
        - path: /hello/
          port: 8080
    profiles: [hello]
    image: osgs/nginx:1.22-bookworm
    entrypoint: ["nginx", "-g", "daemon off;", "-c", "/etc/hello.conf"]
    environment:
      HELLO_HEALTH: ${HELLO_HEALTH:-ok}
    configs:
      - source: hello_conf
        target: /etc/hello.conf
    restart: unless-stopped
    healthcheck:
      test: ["CMD-SHELL", "test \"$$HELLO_HEALTH\" = ok"]
      interval: 1s
      timeout: 2s
      retries: 2
      start_period: 1s
configs:
  hello_conf:
    file: ./hello.conf.tmpl
`

// store keeps files in a volume that backups copy: a db service, whose
// quiesce (stop) becomes a pause for a swarm task.
const store = `services:
  store:
    x-osgs:
      description: a backed-up volume for the swarm tests
      quiesce: stop
      volumes:
        - name: store-data
          path: /srv/store
          backup: true
    profiles: [store]
    image: osgs/nginx:1.22-bookworm
    entrypoint: ["sleep", "infinity"]
    stop_signal: SIGKILL
    volumes:
      - store-data:/srv/store
    restart: unless-stopped
volumes:
  store-data:
`

const helloConf = `events {}
pid /tmp/nginx.pid;
http {
  server {
    listen 8080;
    location / { return 200 "{{.HELLO_TEXT}}\n"; }
  }
}
`

// syncBuffer collects what osgs prints, for the secret checks.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	t  *testing.T
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.t.Log(strings.TrimRight(string(p), "\n"))
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestSwarm runs a real 3-node swarm (three dockerd in network namespaces):
// init, join, labels, a refused deploy that changes nothing, a deploy,
// an idempotent second deploy, a change that rolls one service, a failing
// update that rolls back, a lost web node, and rm that keeps the volumes.
func TestSwarm(t *testing.T) {
	sw := testenv.StartSwarm(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	n1, n2, n3 := sw.Nodes[0], sw.Nodes[1], sw.Nodes[2]
	co, e, out := helloCheckout(t, map[string]string{ManagerKey: n1.Host, "HELLO_TEXT": "one", "HELLO_REPLICAS": "2"})
	// Every verb reads .env afresh, as a new osgs process would: settings
	// change on disk.
	save := func() {
		t.Helper()
		if err := e.Env.Write(config.Path(e.Dir)); err != nil {
			t.Fatal(err)
		}
	}
	set := func(key, value string) {
		t.Helper()
		e.Env.Set(key, value)
		save()
	}
	config.SetEnabled(e.Env, postgis.Service, true)
	config.SetEnabled(e.Env, "hello", true)
	save()

	// Not a swarm yet: one line, and nothing else happens.
	_, err := Open(ctx, e)
	var ns *NoSwarmError
	if !errors.As(err, &ns) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("open before init: %v", err)
	}
	// node3 joins over ssh, as a remote machine's engine does: its image
	// copies and routed execs then go through ssh too.
	n3ssh := testenv.SSHEngine(t, n3.Host)
	c, id1 := form(t, ctx, e, n1.Addr, member{n2, convert.Web, ""}, member{n3, convert.Web, n3ssh})
	for _, addr := range []string{"unix:///nonexistent/docker.sock", "ssh://root@127.0.0.1:1"} {
		if _, err := c.Join(ctx, addr, nil); err == nil || !strings.Contains(err.Error(), "does not answer") || strings.Contains(err.Error(), "\n") {
			t.Fatalf("join of an unreachable engine %s: %v", addr, err)
		}
	}
	if n, err := c.Manager.NodeInspect(ctx, n3Node(t, c, n3), client.NodeInspectOptions{}); err != nil || n.Node.Spec.Labels[EngineLabel] != n3ssh {
		t.Fatalf("node3's engine label: %+v, %v", n.Node.Spec.Labels, err)
	}
	sec, _ := c.Manager.SwarmInspect(ctx, client.SwarmInspectOptions{})
	if tok := sec.Swarm.JoinTokens.Worker; tok == "" || strings.Contains(out.String(), tok) || strings.Contains(out.String(), sec.Swarm.JoinTokens.Manager) {
		t.Fatal("a join token was printed (or there is none)")
	}
	if err := c.Label(ctx, id1, []convert.Role{convert.DB, convert.Edge}); err != nil {
		t.Fatal(err)
	}
	rows, err := c.Nodes(ctx)
	if err != nil || len(rows) != 3 || rows[0].Hostname != "node1" || len(rows[0].Roles) != 2 || rows[1].Roles[0] != convert.Web {
		t.Fatalf("nodes = %+v, %v", rows, err)
	}
	var table bytes.Buffer
	PrintNodes(&table, rows)
	t.Log("\n" + table.String())

	// Refused deploys change nothing: a role no node has, a setting swarm
	// cannot express.
	noServices := func(when string) {
		t.Helper()
		if s, _ := c.services(ctx); len(s) != 0 {
			t.Fatalf("%s: %d services exist", when, len(s))
		}
	}
	if err := c.Label(ctx, n3Node(t, c, n3), []convert.Role{convert.Edge}); err != nil {
		t.Fatal(err)
	}
	if err := c.Label(ctx, n3Node(t, c, n2), []convert.Role{convert.Edge}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Deploy(ctx, DeployOptions{}); err == nil || !strings.Contains(err.Error(), "no node has the role web") {
		rows, _ := c.Nodes(ctx)
		table.Reset()
		PrintNodes(&table, rows)
		t.Fatalf("deploy without a web node: %v\n%s", err, table.String())
	}
	noServices("a deploy without a web node")
	for _, n := range []*testenv.SwarmNode{n2, n3} {
		if err := c.Label(ctx, n3Node(t, c, n), []convert.Role{convert.Web}); err != nil {
			t.Fatal(err)
		}
	}
	set("POSTGIS_BIND", n1.Addr)
	_, err = c.Deploy(ctx, DeployOptions{})
	var ue *convert.UnsupportedError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "0.0.0.0") {
		t.Fatalf("deploy of a port bound to one address: %v", err)
	}
	noServices("a refused port")
	set("POSTGIS_BIND", "127.0.0.1")

	// The deploy: PostGIS on the db node, hello twice on the web nodes.
	res, err := c.Deploy(ctx, DeployOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Created, ",") != "hello,postgis" || len(res.Unpublished) != 1 {
		t.Fatalf("deploy = %+v", res)
	}
	// The overlay is made as SWARM_ENCRYPT says (off here: see helloCheckout).
	if n, err := c.Manager.NetworkInspect(ctx, NetworkName(c.Project(), catalog.DatabaseNetwork), client.NetworkInspectOptions{}); err != nil {
		t.Fatal(err)
	} else if _, ok := n.Network.Options["encrypted"]; ok {
		t.Fatalf("SWARM_ENCRYPT=off, yet the overlay's options are %v", n.Network.Options)
	}
	// The deploy ran stack:up's hooks on the tasks: PostGIS's WAL
	// archiving has its first base backup.
	if !strings.Contains(out.String(), "pgBackRest: first full base backup") || !strings.Contains(out.String(), "PostGIS is up and healthy on the swarm") {
		t.Fatal("the deploy did not run PostGIS's hooks on its task")
	}
	status := func() map[string]ServiceRow {
		t.Helper()
		rows, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		PrintStatus(&b, rows)
		t.Log("\n" + b.String())
		m := map[string]ServiceRow{}
		for _, r := range rows {
			m[r.Service] = r
		}
		return m
	}
	st := status()
	if p := st["postgis"]; p.Running != 1 || strings.Join(p.Nodes, ",") != "node1" {
		t.Fatalf("postgis: %+v", p)
	}
	if h := st["hello"]; h.Running != 2 || strings.Join(h.Nodes, ",") != "node2,node3" {
		t.Fatalf("hello: %+v", h)
	}
	// PostGIS holds data, on node1's own engine.
	pg := taskContainer(t, c, n1, "postgis")
	psql(t, ctx, n1.Client, pg, "CREATE TABLE kept AS SELECT generate_series(1, 42) AS i")
	if got := page(t, ctx, n2.Client, taskContainer(t, c, n2, "hello")); got != "one" {
		t.Fatalf("hello says %q", got)
	}

	// Nothing changed: nothing is updated.
	versions := func() map[string]uint64 {
		m := map[string]uint64{}
		svcs, _ := c.services(ctx)
		for _, s := range svcs {
			m[s.Spec.Labels["org.osgs.service"]] = s.Version.Index
		}
		return m
	}
	before := versions()
	res, err = c.Deploy(ctx, DeployOptions{})
	if err != nil || len(res.Unchanged) != 2 || len(res.Updated)+len(res.Created) != 0 {
		t.Fatalf("second deploy = %+v, %v", res, err)
	}
	if after := versions(); after["postgis"] != before["postgis"] || after["hello"] != before["hello"] {
		t.Fatalf("an unchanged deploy updated services: %v -> %v", before, after)
	}

	// A changed template rolls hello only; the old config goes.
	set("HELLO_TEXT", "two")
	res, err = c.Deploy(ctx, DeployOptions{})
	if err != nil || strings.Join(res.Updated, ",") != "hello" || strings.Join(res.Unchanged, ",") != "postgis" {
		t.Fatalf("deploy of a changed template = %+v, %v", res, err)
	}
	if v := versions(); v["postgis"] != before["postgis"] {
		t.Fatal("postgis was updated by hello's change")
	}
	cfgs, _ := c.Manager.ConfigList(ctx, client.ConfigListOptions{Filters: c.nsFilter()})
	if len(cfgs.Items) != 2 { // the new one, and the previous one hello can roll back to
		t.Fatalf("%d configs after the change", len(cfgs.Items))
	}
	// A rolling update may place both new tasks on one web node: ask
	// from one that runs hello.
	at := n2
	if !slices.Contains(status()["hello"].Nodes, n2.Name) {
		at = n3
	}
	if got := page(t, ctx, at.Client, taskContainer(t, c, at, "hello")); got != "two" {
		t.Fatalf("hello says %q after the update", got)
	}

	// A new version that fails its healthcheck is rolled back.
	set("HELLO_HEALTH", "broken")
	_, err = c.Deploy(ctx, DeployOptions{Wait: 4 * time.Minute})
	var rb *RolledBackError
	if !errors.As(err, &rb) || rb.Service != "hello" {
		t.Fatalf("deploy of a failing healthcheck: %v", err)
	}
	if h := status()["hello"]; h.Running != 2 {
		t.Fatalf("hello after the rollback: %+v", h)
	}
	set("HELLO_HEALTH", "ok")

	// The verbs that exec into a service reach its task on its node, from
	// this host, whose own engine runs none of them.
	config.SetEnabled(e.Env, "store", true)
	save()
	if _, err := c.Deploy(ctx, DeployOptions{}); err != nil {
		t.Fatal(err)
	}
	if s := status()["store"]; strings.Join(s.Nodes, ",") != "node1" {
		t.Fatalf("store, a service with a backed-up volume, runs on %v, not the db node", s.Nodes)
	}
	routedVerbs(t, ctx, e, c, n1)

	// A web node that runs hello is lost: its tasks move to the other web
	// node, within a bound; PostGIS stays.
	lost, kept := n3, n2
	if !slices.Contains(status()["hello"].Nodes, "node3") {
		lost, kept = n2, n3
	}
	sw.Kill(t, lost)
	killed := time.Now()
	deadline := killed.Add(3 * time.Minute)
	for {
		st = status()
		if h := st["hello"]; strings.Join(h.Nodes, ",") == kept.Name && h.Health == "2 running" { // the service's own count may still include the lost task
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hello did not move off the lost node %s: %+v", lost.Name, st["hello"])
		}
		time.Sleep(time.Second)
	}
	if got := pageSoon(t, ctx, kept.Client, taskContainer(t, c, kept, "hello")); got != "two" {
		t.Fatalf("hello says %q on %s after %s was lost", got, kept.Name, lost.Name)
	}
	t.Logf("%s lost: hello ran 2 tasks on %s again after %s", lost.Name, kept.Name, time.Since(killed).Round(time.Second))
	if p := st["postgis"]; p.Running != 1 || strings.Join(p.Nodes, ",") != "node1" {
		t.Fatalf("postgis after a web node was lost: %+v", p)
	}
	if _, err := c.Deploy(ctx, DeployOptions{}); err == nil {
		t.Fatal("a deploy with a web node down went ahead")
	}

	// rm removes the services, keeps the volumes and their data.
	if _, err := c.Remove(ctx, false); err == nil {
		t.Fatal("rm without -yes went ahead")
	}
	removed, err := c.Remove(ctx, true)
	if err != nil || strings.Join(removed, ",") != "hello,postgis,store" {
		t.Fatalf("rm = %v, %v", removed, err)
	}
	vols, err := n1.Client.VolumeList(ctx, client.VolumeListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range vols.Items {
		found = found || v.Name == co.Project+"_postgis-data"
	}
	if !found {
		t.Fatal("rm removed PostGIS's volume")
	}
}

// helloCheckout is a checkout with the test services hello and store
// (not enabled yet), whose engine's output the test collects.
func helloCheckout(t *testing.T, env map[string]string) (*testenv.Checkout, *engine.Engine, *syncBuffer) {
	t.Helper()
	// The test machine's kernel is built without ESP (CONFIG_INET_ESP),
	// so an encrypted overlay would drop the traffic between nodes; the
	// option itself is tested in TestNetworkOptions.
	if env == nil {
		env = map[string]string{}
	}
	if _, ok := env[EncryptKey]; !ok {
		env[EncryptKey] = "off"
	}
	co := testenv.NewCheckout(t, env)
	co.AddService(t, "hello", hello)
	co.AddService(t, "store", store)
	if err := writeFile(co.Dir+"/services/hello/hello.conf.tmpl", helloConf); err != nil {
		t.Fatal(err)
	}
	e := co.Engine(t)
	out := &syncBuffer{t: t}
	e.Out, e.Err = out, out
	return co, e, out
}

// member is a node to join, with its role.
type member struct {
	node   *testenv.SwarmNode
	role   convert.Role
	engine string // how to reach its engine, when not node.Host (ssh://)
}

// form makes the manager at advertise a swarm (it gets every role) and
// joins the members; it returns the cluster, closed at the test's end, and
// the manager's node ID.
func form(t *testing.T, ctx context.Context, e *engine.Engine, advertise string, members ...member) (*Cluster, string) {
	t.Helper()
	c, err := Connect(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	id, err := c.Init(ctx, advertise)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		addr := m.node.Host
		if m.engine != "" {
			addr = m.engine
		}
		if _, err := c.Join(ctx, addr, []convert.Role{m.role}); err != nil {
			t.Fatal(err)
		}
	}
	return c, id
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }

// n3Node is a test node's swarm node ID.
func n3Node(t *testing.T, c *Cluster, n *testenv.SwarmNode) string {
	t.Helper()
	info, err := n.Client.Info(context.Background(), client.InfoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return info.Info.Swarm.NodeID
}

// taskContainer finds the running container of service on node n.
func taskContainer(t *testing.T, c *Cluster, n *testenv.SwarmNode, service string) string {
	t.Helper()
	id := n3Node(t, c, n)
	s, err := c.find(context.Background(), service)
	if err != nil {
		t.Fatal(err)
	}
	// The task list can lag the service's status by a moment.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Second) {
		tasks, err := c.tasks(context.Background(), true)
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			if task.ServiceID == s.ID && task.NodeID == id && task.Status.State == swarm.TaskStateRunning && task.Status.ContainerStatus != nil {
				return task.Status.ContainerStatus.ContainerID
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no running task of %s on %s", service, n.Name)
		}
	}
}

func execOut(t *testing.T, ctx context.Context, cl client.APIClient, id string, user string, cmd ...string) string {
	t.Helper()
	var out bytes.Buffer
	ex, err := cl.ExecCreate(ctx, id, client.ExecCreateOptions{Cmd: cmd, User: user, AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	att, err := cl.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer att.Close()
	stdcopy.StdCopy(&out, io.Discard, att.Reader)
	return out.String()
}

func psql(t *testing.T, ctx context.Context, cl client.APIClient, id, sql string) string {
	return execOut(t, ctx, cl, id, "postgres", "psql", "-h", "/var/run/postgresql", "-U", "osgs", "-d", "gis", "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql)
}

// page asks each task of the service name "hello" over the overlay
// network (one per web node), from a container on one node, and returns
// what they said, which must agree.
func page(t *testing.T, ctx context.Context, cl client.APIClient, id string) string {
	t.Helper()
	got, err := askHello(t, ctx, cl, id)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// pageSoon is page, for a moment of change: the overlay's DNS learns of
// new tasks within seconds, so it asks again for up to 30 s.
func pageSoon(t *testing.T, ctx context.Context, cl client.APIClient, id string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := askHello(t, ctx, cl, id)
		if err == nil {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
	}
}

func askHello(t *testing.T, ctx context.Context, cl client.APIClient, id string) (string, error) {
	out := execOut(t, ctx, cl, id, "", "sh", "-c", `a=$(getent ahostsv4 hello | cut -d' ' -f1 | sort -u); echo "$a" | wc -l; for x in $a; do curl -sf "http://$x:8080/" || echo FAILED; done`)
	f := strings.Fields(out)
	if len(f) != 3 || f[0] != "2" || f[1] != f[2] {
		return "", fmt.Errorf("the hello tasks answer %q (want 2 tasks saying the same)", out)
	}
	return f[1], nil
}

// routedVerbs runs postgis:sizes and psql, files:put and get, backup:all
// and postgis:restore against the deployment, as mage runs them (with
// Locate), and checks each on node1's own engine.
func routedVerbs(t *testing.T, ctx context.Context, e *engine.Engine, c *Cluster, n1 *testenv.SwarmNode) {
	t.Helper()
	Locate(e)
	sizes, err := postgis.Sizes(ctx, e)
	if err != nil || len(sizes) == 0 || sizes[0].Name != "gis" {
		t.Fatalf("postgis:sizes against the swarm: %+v, %v", sizes, err)
	}
	// psql without a terminal: the statements come on stdin.
	var out bytes.Buffer
	in, stdout := e.In, e.Out
	e.In, e.Out = strings.NewReader("SELECT 'kept:' || count(*) FROM kept;\n"), &out
	err = e.Interactive(ctx, postgis.Service, postgis.OSUser, postgis.PsqlArgs(postgis.Load(e), "gis", "-v", "ON_ERROR_STOP=1")...)
	e.In, e.Out = in, stdout
	if err != nil || !strings.Contains(out.String(), "kept:42") {
		t.Fatalf("postgis:psql against the swarm: %q, %v", out.String(), err)
	}
	// psql from a terminal: a TTY exec on node1's engine, the local
	// terminal (a pty here) in raw mode.
	master, tty := openPTY(t)
	screen := make(chan string, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			if n > 0 {
				screen <- string(buf[:n])
			}
			if err != nil {
				close(screen)
				return
			}
		}
	}()
	ttyCtx, ttyCancel := context.WithTimeout(ctx, time.Minute)
	defer ttyCancel()
	done := make(chan error, 1)
	e.In, e.Out = tty, tty
	go func() {
		done <- e.Interactive(ttyCtx, postgis.Service, postgis.OSUser, postgis.PsqlArgs(postgis.Load(e), "gis")...)
	}()
	// Type as a user does: each line after psql's prompt.
	var seen strings.Builder
	expect := func(want string) {
		t.Helper()
		for !strings.Contains(seen.String(), want) {
			select {
			case s, ok := <-screen:
				if !ok {
					t.Fatalf("the terminal closed before %q: %q", want, seen.String())
				}
				seen.WriteString(s)
			case <-ttyCtx.Done():
				t.Fatalf("no %q on the terminal: %q", want, seen.String())
			}
		}
	}
	expect("gis=")
	seen.Reset()
	master.WriteString("SELECT 'tty:' || 6*7;\r")
	expect("tty:42")
	expect("gis=")
	master.WriteString("\\q\r")
	err = <-done
	e.In, e.Out = in, stdout
	if err != nil {
		t.Fatalf("postgis:psql from a terminal against the swarm: %v", err)
	}

	// files:put into store's volume on node1, and back.
	local := t.TempDir()
	if err := os.WriteFile(local+"/note.txt", []byte("on node1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := files.Put(ctx, e, files.Options{Service: "store", VolumePath: "/srv/store", Local: local + "/note.txt"}); err != nil {
		t.Fatalf("files:put against the swarm: %v", err)
	}
	if got := execOut(t, ctx, n1.Client, taskContainer(t, c, n1, "store"), "", "cat", "/srv/store/note.txt"); got != "on node1\n" {
		t.Fatalf("node1's store holds %q", got)
	}
	back := t.TempDir()
	if err := files.Get(ctx, e, files.Options{Service: "store", VolumePath: "/srv/store/note.txt", Local: back}); err != nil {
		t.Fatalf("files:get against the swarm: %v", err)
	}
	if b, err := os.ReadFile(back + "/note.txt"); err != nil || string(b) != "on node1\n" {
		t.Fatalf("files:get brought %q, %v", b, err)
	}

	// backup:all: PostGIS dumped through exec on node1, store's volume
	// copied by a helper on node1; then a restore brings a dropped table
	// back.
	dir, err := backup.Run(ctx, e, backup.Options{})
	if err != nil {
		t.Fatalf("backup:all against the swarm: %v", err)
	}
	src, err := backup.Resolve(backup.Root(e), dir)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, f := range src.Manifest.Files {
		kinds = append(kinds, f.Service+"/"+string(f.Kind))
	}
	if !slices.Contains(kinds, "store/"+string(backup.KindVolume)) || !slices.ContainsFunc(kinds, func(k string) bool { return strings.HasPrefix(k, "postgis/") }) {
		t.Fatalf("the set holds %v", kinds)
	}
	if err := backup.Verify(ctx, e, backup.Root(e), dir); err != nil {
		t.Fatalf("verify of the swarm's set: %v", err)
	}
	pg := taskContainer(t, c, n1, "postgis")
	psql(t, ctx, n1.Client, pg, "DROP TABLE kept")
	if err := backup.RestorePostGIS(ctx, e, backup.RestorePostGISOptions{Source: src, Yes: true}); err != nil {
		t.Fatalf("postgis:restore against the swarm: %v", err)
	}
	if got := strings.TrimSpace(psql(t, ctx, n1.Client, taskContainer(t, c, n1, "postgis"), "SELECT count(*) FROM kept")); got != "42" {
		t.Fatalf("after the restore, kept has %q rows", got)
	}
	// A volume restore of store's live state on node1: its task is
	// paused, the volume replaced there, and a new task runs on it.
	old := taskContainer(t, c, n1, "store")
	execOut(t, ctx, n1.Client, old, "", "sh", "-c", "echo changed > /srv/store/note.txt && echo x > /srv/store/extra")
	i := slices.IndexFunc(src.Manifest.Files, func(f backup.Entry) bool { return f.Service == "store" && f.Kind == backup.KindVolume })
	if err := backup.RestoreVolume(ctx, e, src.SetDir, src.Manifest.Files[i]); err != nil {
		t.Fatalf("restore of store's volume against the swarm: %v", err)
	}
	now := taskContainer(t, c, n1, "store")
	if now == old {
		t.Fatal("store's task was not replaced after its volume was restored")
	}
	if got := execOut(t, ctx, n1.Client, now, "", "sh", "-c", "cat /srv/store/note.txt; ls /srv/store"); got != "on node1\nnote.txt\n" {
		t.Fatalf("after the restore, store's volume holds %q", got)
	}
}

// TestSwarmDBNode loses the db node of a 2-node swarm: PostGIS does not
// start (empty) on the other node, swarm:status says why it is down, and
// when the node returns PostGIS runs there again with its data.
func TestSwarmDBNode(t *testing.T) {
	sw := testenv.StartSwarm(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	n1, n2 := sw.Nodes[0], sw.Nodes[1]
	co := testenv.NewCheckout(t, map[string]string{ManagerKey: n1.Host, "POSTGIS_BIND": "127.0.0.1"})
	e := co.Engine(t)
	out := &syncBuffer{t: t}
	e.Out, e.Err = out, out
	config.SetEnabled(e.Env, postgis.Service, true)
	if err := e.Env.Write(config.Path(e.Dir)); err != nil {
		t.Fatal(err)
	}
	c, id1 := form(t, ctx, e, n1.Addr, member{n2, convert.DB, ""})
	if err := c.Label(ctx, id1, []convert.Role{convert.Edge, convert.Web}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Deploy(ctx, DeployOptions{}); err != nil {
		t.Fatal(err)
	}
	row := func() ServiceRow {
		t.Helper()
		rows, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.Service == postgis.Service {
				return r
			}
		}
		t.Fatal("postgis is not deployed")
		return ServiceRow{}
	}
	if r := row(); r.Running != 1 || strings.Join(r.Nodes, ",") != "node2" {
		t.Fatalf("postgis: %+v", r)
	}
	Locate(e) // the checks below run as postgis:psql does, on node2's engine
	if _, err := postgis.Query(ctx, e, "gis", "CREATE TABLE kept AS SELECT generate_series(1, 42) AS i"); err != nil {
		t.Fatal(err)
	}

	// node2 is lost: PostGIS is down, says why, and runs nowhere else.
	sw.Kill(t, n2)
	lost := time.Now()
	var r ServiceRow
	for deadline := lost.Add(3 * time.Minute); ; time.Sleep(2 * time.Second) {
		if r = row(); r.Running == 0 && r.UnavailableReason != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgis with its node lost: %+v", r)
		}
	}
	var b bytes.Buffer
	PrintStatus(&b, []ServiceRow{r})
	t.Logf("%s after node2 was lost:\n%s", time.Since(lost).Round(time.Second), b.String())
	onNode1 := func() bool {
		tasks, err := c.tasks(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			if task.NodeID == id1 && task.Status.State == swarm.TaskStateRunning {
				return true
			}
		}
		return false
	}
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(2 * time.Second) {
		if onNode1() {
			t.Fatal("postgis started on node1, without its data")
		}
	}
	if _, err := postgis.Query(ctx, e, "gis", "SELECT 1"); err == nil || strings.Contains(err.Error(), "\n") {
		t.Fatalf("psql with PostGIS's node down: %v (want one line)", err)
	} else {
		t.Logf("psql with PostGIS's node down: %v", err)
	}

	// node2 returns: PostGIS runs there again, with its data.
	sw.Restart(t, n2)
	back := time.Now()
	for deadline := back.Add(4 * time.Minute); ; time.Sleep(2 * time.Second) {
		if r = row(); r.Running == 1 && strings.Join(r.Nodes, ",") == "node2" && r.Health == "1 running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgis after node2 returned: %+v", r)
		}
	}
	var rows [][]string
	var err error
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(2 * time.Second) {
		if rows, err = postgis.Query(ctx, e, "gis", "SELECT count(*) FROM kept"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("psql after node2 returned: %v", err)
		}
	}
	if len(rows) != 1 || rows[0][0] != "42" {
		t.Fatalf("after node2 returned, kept has %v rows", rows)
	}
	t.Logf("node2 back: postgis ran there with its 42 rows after %s", time.Since(back).Round(time.Second))
	if onNode1() {
		t.Fatal("a postgis task runs on node1")
	}
}

// openPTY opens a pseudo-terminal: the master end the test types into, and
// the terminal a program is given; both close when the test ends.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close() })
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 120}); err != nil {
		t.Fatal(err)
	}
	return master, tty
}

// TestSwarmRegistry deploys through a registry (SWARM_REGISTRY, with a
// user): the images are pushed once from this engine and every node pulls
// them by digest, with the credentials the deploy hands to swarm; a wrong
// password is refused in one line before anything is deployed.
func TestSwarmRegistry(t *testing.T) {
	sw := testenv.StartSwarm(t, 2)
	reg := sw.StartRegistry(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	n1, n2 := sw.Nodes[0], sw.Nodes[1]
	_, e, out := helloCheckout(t, map[string]string{ManagerKey: n1.Host, "HELLO_TEXT": "pulled", "HELLO_REPLICAS": "2",
		RegistryKey: reg.Addr, RegistryUserKey: reg.User, RegistryPasswordKey: "wrong" + reg.Password})
	config.SetEnabled(e.Env, "hello", true)
	config.SetEnabled(e.Env, "store", true)
	if err := e.Env.Write(config.Path(e.Dir)); err != nil {
		t.Fatal(err)
	}
	c, _ := form(t, ctx, e, n1.Addr, member{n2, convert.Web, ""})

	_, err := c.Deploy(ctx, DeployOptions{})
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), reg.Addr) {
		t.Fatalf("deploy with a wrong registry password: %v", err)
	}
	t.Logf("a wrong password: %v", err)
	if s, _ := c.services(ctx); len(s) != 0 {
		t.Fatalf("a refused push left %d services", len(s))
	}

	e.Env.Set(RegistryPasswordKey, reg.Password)
	if err := e.Env.Write(config.Path(e.Dir)); err != nil {
		t.Fatal(err)
	}
	res, err := c.Deploy(ctx, DeployOptions{})
	if err != nil || strings.Join(res.Created, ",") != "hello,store" {
		t.Fatalf("deploy through the registry = %+v, %v", res, err)
	}
	if s := out.String(); strings.Contains(s, "copying") || !strings.Contains(s, "pushing") || strings.Contains(s, reg.Password) {
		t.Fatal("the images did not go through the registry, or its password was printed")
	}
	svcs, _ := c.services(ctx)
	for _, s := range svcs {
		img := s.Spec.TaskTemplate.ContainerSpec.Image
		if !strings.HasPrefix(img, reg.Addr+"/osgs/nginx:1.22-bookworm@sha256:") {
			t.Fatalf("%s runs %s, not the registry's image by digest", s.Spec.Name, img)
		}
		if b, _ := json.Marshal(s); strings.Contains(string(b), reg.Password) {
			t.Fatalf("the service %s shows the registry password", s.Spec.Name)
		}
	}
	// Both nodes pulled it (hello runs on both, store on node1).
	for _, n := range sw.Nodes {
		imgs, err := n.Client.ImageList(ctx, client.ImageListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pulled := false
		for _, im := range imgs.Items {
			for _, d := range im.RepoDigests {
				pulled = pulled || strings.HasPrefix(d, reg.Addr+"/osgs/nginx@sha256:")
			}
		}
		if !pulled {
			t.Fatalf("%s holds no image pulled from the registry", n.Name)
		}
	}
	if got := page(t, ctx, n2.Client, taskContainer(t, c, n2, "hello")); got != "pulled" {
		t.Fatalf("hello on node2 says %q", got)
	}
	// The same images again: the push finds them there, nothing changes.
	res, err = c.Deploy(ctx, DeployOptions{})
	if err != nil || len(res.Unchanged) != 2 || len(res.Created)+len(res.Updated) != 0 {
		t.Fatalf("second deploy through the registry = %+v, %v", res, err)
	}
	// The tag the push needed is gone from this engine; the image stays.
	if _, err := e.Docker().ImageInspect(ctx, reg.Addr+"/osgs/nginx:1.22-bookworm"); err == nil {
		t.Fatal("the push left its registry tag on this engine")
	}
}

// TestSwarmFrontDoor deploys the front door on a 2-node swarm: nginx (edge),
// Hugo, PostGIS and QGIS Server (db: their volumes are backed up), MapProxy
// and a 2-replica page (web). The deploy's hooks configure nginx on its
// task; https through the edge node's published port serves Hugo's site, a
// QGIS project's GetMap of a PostGIS layer and MapProxy's tile of it, and
// a new htpasswd user; a changed template rolls only its service while
// Hugo answers every request; a new site certificate is served.
func TestSwarmFrontDoor(t *testing.T) {
	sw := testenv.StartSwarm(t, 2)
	link := sw.HostLink(t) // this host on the test network, to reach the edge
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	n1, n2 := sw.Nodes[0], sw.Nodes[1]
	co, e, out := helloCheckout(t, map[string]string{ManagerKey: n1.Host, "OSGS_SITE_TITLE": "Swarm GIS", "NGINX_BIND": "0.0.0.0",
		"HELLO_TEXT": "one", "HELLO_REPLICAS": "2", "QGIS_SERVER_REPLICAS": "2",
		// MapProxy (a web node) caches the QGIS project below, through nginx.
		"MAPPROXY_SOURCE_URL": "https://nginx/ogc/places", "MAPPROXY_SOURCE_LAYERS": "places"})
	for _, s := range []string{"nginx", "hugo", "hello", postgis.Service, "qgis-server", "mapproxy"} {
		config.SetEnabled(e.Env, s, true)
	}
	if err := e.Env.Write(config.Path(e.Dir)); err != nil {
		t.Fatal(err)
	}
	// Both nodes are web nodes: QGIS Server's 2 replicas run one on each.
	c, id1 := form(t, ctx, e, n1.Addr, member{n2, convert.Web, ""})
	if err := c.Label(ctx, id1, []convert.Role{convert.DB, convert.Edge, convert.Web}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := c.Deploy(ctx, DeployOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("swarm:deploy of nginx, hugo, hello (2), PostGIS, QGIS Server (2) and MapProxy on 2 nodes: %s", time.Since(start).Round(time.Second))
	t.Logf("this host is %s on the test network", link)
	cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: co.SitePool(t), ServerName: "localhost"}}}
	base := "https://" + net.JoinHostPort(n1.Addr, e.Setting("NGINX_HTTPS_PORT"))
	var body string
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := cl.Get(base + "/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			if resp.StatusCode == http.StatusOK && strings.Contains(body, "Swarm GIS") {
				break
			}
			err = fmt.Errorf("%s: %.200s", resp.Status, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("https through the edge node: %v", err)
		}
		time.Sleep(time.Second)
	}

	get := func(path, user, password string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	// A QGIS project published on the swarm (its file goes to QGIS Server's
	// task, its layer reads PostGIS as the role qgis_server): a GetMap
	// through the edge draws the PostGIS points.
	if _, err := postgis.Query(ctx, e, "gis", `CREATE TABLE public.places (id serial PRIMARY KEY, name text, geom geometry(Point, 4326));
		INSERT INTO public.places (name, geom) SELECT 'p' || g, ST_SetSRID(ST_MakePoint(g % 10 - 5 + 0.25, g / 10 - 5 + 0.5), 4326) FROM generate_series(0, 99) g`); err != nil {
		t.Fatalf("places on the swarm's PostGIS: %v", err)
	}
	if _, err := qgis.Publish(ctx, e, qgis.PublishOptions{File: "../qgis/testdata/places.qgs"}); err != nil {
		t.Fatalf("qgis:publish against the swarm: %v", err)
	}
	const wms = "SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=places&STYLES=&CRS=EPSG:4326&BBOX=-10,-10,10,10&WIDTH=200&HEIGHT=200&FORMAT=image/png&TRANSPARENT=true"
	if code, body := get("/ogc/places?"+wms, "", ""); code != 200 || testenv.RedPixels(t, body) < 100 {
		t.Fatalf("GetMap of QGIS Server through the edge: %d, %.300s", code, body)
	}
	// The project went to one replica's copy of qgis_projects, and was
	// mirrored to the other node's; both replicas draw it. nginx's access
	// log names the replica that answered each request.
	if !strings.Contains(out.String(), "osgs: copied qgis_projects from node ") {
		t.Fatalf("qgis:publish did not mirror the project; its output:\n%s", out)
	}
	replicas := taskIPs(t, ctx, c, "qgis-server")
	if len(replicas) != 2 {
		t.Fatalf("QGIS Server runs %d tasks on distinct nodes, want 2: %v", len(replicas), replicas)
	}
	const asks = 30
	for i := 0; i < asks; i++ {
		if code, body := get("/ogc/places?"+wms, "", ""); code != 200 || testenv.RedPixels(t, body) < 100 {
			t.Fatalf("GetMap %d of QGIS Server through the edge: %d, %.300s", i, code, body)
		}
	}
	counts := upstreams(t, ctx, e, "/ogc/places?", asks+1)
	t.Logf("GetMaps answered per QGIS Server replica (task address: count): %v", counts)
	for ip := range counts {
		if !slices.Contains(replicas, ip) {
			t.Fatalf("nginx sent GetMaps to %s, not a QGIS Server task (%v)", ip, replicas)
		}
	}
	for _, ip := range replicas {
		if counts[ip] == 0 {
			t.Fatalf("the QGIS Server replica at %s answered none of %d GetMaps: %v", ip, asks+1, counts)
		}
	}
	// MapProxy, on the web node, draws the same points from QGIS Server.
	tile := "/mapproxy/service?SERVICE=WMS&VERSION=1.1.1&REQUEST=GetMap&LAYERS=source&SRS=EPSG:3857&BBOX=-1113194,-1118890,1113194,1118890&WIDTH=256&HEIGHT=256&FORMAT=image/png&STYLES="
	if code, body := get(tile, "", ""); code != 200 || testenv.RedPixels(t, body) < 100 {
		t.Fatalf("MapProxy's GetMap through the edge: %d, %.300s", code, body)
	}
	// A new user in the htpasswd (nginx:user-add) opens MapProxy's
	// protected demo on the edge.
	if code, _ := get("/mapproxy/demo/", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("the protected demo without a user: %d", code)
	}
	if err := nginx.AddUser(ctx, e, "gisadmin", strings.NewReader("correct horse battery\n")); err != nil {
		t.Fatalf("nginx:user-add against the swarm: %v", err)
	}
	if code, _ := get("/mapproxy/demo/", "gisadmin", "correct horse battery"); code != 200 {
		t.Fatalf("the protected demo with the new user: %d", code)
	}

	// A changed template rolls hello only; Hugo's site, through the same
	// nginx, answers every request meanwhile.
	e.Env.Set("HELLO_TEXT", "two")
	if err := e.Env.Write(config.Path(e.Dir)); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var asked, failed int
	var firstFailure error
	hammered := make(chan struct{})
	go func() {
		defer close(hammered)
		for {
			select {
			case <-stop:
				return
			default:
			}
			asked++
			resp, err := cl.Get(base + "/")
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = errors.New(resp.Status)
				}
			}
			if err != nil {
				failed++
				if firstFailure == nil {
					firstFailure = err
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	res, err := c.Deploy(ctx, DeployOptions{})
	time.Sleep(3 * time.Second) // nginx's upstream check sees hello's new tasks
	close(stop)
	<-hammered
	if err != nil || strings.Join(res.Updated, ",") != "hello" || len(res.Unchanged) != 5 {
		t.Fatalf("deploy of hello's changed template = %+v, %v", res, err)
	}
	if n := strings.Count(out.String(), "osgs: copied qgis_projects"); n != 1 {
		t.Fatalf("the copies of qgis_projects were equal, but %d copies were made:\n%s", n, out)
	}
	t.Logf("while hello rolled: %d requests to Hugo's site through nginx, %d failed", asked, failed)
	if failed > 0 || asked < 20 {
		t.Fatalf("%d of %d requests to Hugo failed while hello rolled (first: %v)", failed, asked, firstFailure)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		resp, err := cl.Get(base + "/hello/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.TrimSpace(string(b)) == "two" {
				break
			}
			err = fmt.Errorf("%s: %q", resp.Status, b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("/hello/ through nginx after the roll: %v", err)
		}
	}

	// A new site certificate (nginx:selfsigned) reaches the nginx task on
	// the edge node, and the edge serves it.
	served := func() []byte {
		t.Helper()
		conn, err := tls.Dial("tcp", net.JoinHostPort(n1.Addr, e.Setting("NGINX_HTTPS_PORT")), &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Raw
	}
	before := served()
	if err := nginx.SelfSigned(ctx, e); err != nil {
		t.Fatalf("nginx:selfsigned against the swarm: %v", err)
	}
	block, _ := pem.Decode(must(os.ReadFile(site.CertPath(co.Dir))))
	if block == nil || bytes.Equal(block.Bytes, before) {
		t.Fatal("the certificate on disk did not change")
	}
	for deadline := time.Now().Add(30 * time.Second); !bytes.Equal(served(), block.Bytes); time.Sleep(time.Second) {
		if time.Now().After(deadline) {
			t.Fatal("the edge still serves the old certificate")
		}
	}
}

// taskIPs are the overlay addresses of service's running tasks, one per
// node.
func taskIPs(t *testing.T, ctx context.Context, c *Cluster, service string) []string {
	t.Helper()
	s, err := c.find(ctx, service)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := c.tasks(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	var ips, nodes []string
	for _, task := range tasks {
		if task.ServiceID != s.ID || task.Status.State != swarm.TaskStateRunning || slices.Contains(nodes, task.NodeID) {
			continue
		}
		nodes = append(nodes, task.NodeID)
		// Its address on its own network, the one nginx reaches it by (a
		// database client also has one on its network with PostGIS).
		for _, na := range task.NetworksAttachments {
			if na.Network.Spec.Name != NetworkName(c.Project(), service) {
				continue
			}
			for _, a := range na.Addresses {
				ips = append(ips, a.Addr().String())
			}
		}
	}
	return ips
}

// upstreams counts, by upstream address, the answered requests for paths
// starting with prefix in the nginx task's access log, once it holds at
// least want of them (the log is flushed each second).
func upstreams(t *testing.T, ctx context.Context, e *engine.Engine, prefix string, want int) map[string]int {
	t.Helper()
	id, err := e.ContainerOf(ctx, "nginx")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Second) {
		logs, err := e.DockerFor(id).ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		_, err = stdcopy.StdCopy(&b, io.Discard, logs)
		logs.Close()
		if err != nil {
			t.Fatal(err)
		}
		counts, n := map[string]int{}, 0
		for _, line := range strings.Split(b.String(), "\n") {
			if !strings.Contains(line, `"GET `+prefix) {
				continue
			}
			_, up, ok := strings.Cut(line, " upstream=")
			if !ok {
				t.Fatalf("an access log line without upstream=: %s", line)
			}
			up, _, _ = strings.Cut(up, " ")
			host, _, err := net.SplitHostPort(strings.TrimSuffix(up, ","))
			if err != nil {
				t.Fatalf("upstream %q in %s: %v", up, line, err)
			}
			counts[host]++
			n++
		}
		if n >= want {
			return counts
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx logged %d requests for %s, want %d", n, prefix, want)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
