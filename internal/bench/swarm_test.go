package bench

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/config"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/swarm"
	"github.com/osgs/osgs/internal/swarm/convert"
	"github.com/osgs/osgs/internal/testenv"
)

// BenchmarkSwarm measures, on a real 3-node test swarm (testenv.StartSwarm):
//
//   - image distribution: osgs's copy (one save, streamed into every node's
//     load at once) of OSGS_BENCH_IMAGE (default osgs/mapproxy) from node1
//     to node2, against `docker save | docker load` between the same two
//     engines (goal at least 1.0x); and to node2 and node3 at once,
//     against that pipeline run for each;
//
//   - the time from swarm:deploy to every service healthy (PostGIS and Hugo
//     on the db node, MapProxy with 2 replicas on the web nodes, images
//     copied as needed), against stack:up of the same services on one host.
//
//     go test -run '^$' -bench Swarm -benchtime 1x -timeout 60m ./internal/bench
func BenchmarkSwarm(b *testing.B) {
	runs := envInt("OSGS_BENCH_RUNS", 3)
	ref := "osgs/mapproxy:1.15-bookworm"
	sw := testenv.StartSwarm(b, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Minute)
	defer cancel()
	n1, n2, n3 := sw.Nodes[0], sw.Nodes[1], sw.Nodes[2]
	co := testenv.NewCheckout(b, map[string]string{swarm.ManagerKey: n1.Host, "MAPPROXY_REPLICAS": "2"})
	co.Cleanup(b)
	e := co.Engine(b)
	e.Out, e.Err = io.Discard, io.Discard // go test cuts a benchmark's long log: keep it to the figures
	for _, s := range []string{"postgis", "hugo", "mapproxy"} {
		config.SetEnabled(e.Env, s, true)
	}
	if err := e.Env.Write(config.Path(e.Dir)); err != nil {
		b.Fatal(err)
	}
	if err := e.Build(ctx); err != nil { // the images, on the host
		b.Fatal(err)
	}

	// Image distribution, between the test engines.
	if err := swarm.CopyImage(ctx, e.Docker(), []client.APIClient{n1.Client}, ref); err != nil {
		b.Fatal(err)
	}
	img, err := n1.Client.ImageInspect(ctx, ref)
	if err != nil {
		b.Fatal(err)
	}
	drop := func(nodes ...*testenv.SwarmNode) {
		for _, n := range nodes {
			n.Client.ImageRemove(ctx, img.ID, client.ImageRemoveOptions{Force: true, PruneChildren: true})
		}
	}
	pipeline := func(to *testenv.SwarmNode) {
		sh := fmt.Sprintf("docker -H %s save %s | docker -H %s load -q", n1.Host, ref, to.Host)
		if out, err := exec.CommandContext(ctx, "sh", "-c", sh).CombinedOutput(); err != nil {
			b.Fatalf("%s: %v: %s", sh, err, out)
		}
	}
	osgsCopy := func(to ...*testenv.SwarmNode) {
		var cls []client.APIClient
		for _, n := range to {
			cls = append(cls, n.Client)
		}
		if err := swarm.CopyImage(ctx, n1.Client, cls, ref); err != nil {
			b.Fatal(err)
		}
	}
	variants := []*result{
		{name: "(a) osgs copy, node1 -> node2", f: func() int64 { drop(n2); osgsCopy(n2); return 0 }},
		{name: "(b) docker save | docker load, node1 -> node2", f: func() int64 { drop(n2); pipeline(n2); return 0 }},
		{name: "(c) osgs copy, node1 -> node2 and node3 at once", f: func() int64 { drop(n2, n3); osgsCopy(n2, n3); return 0 }},
		{name: "(d) docker save | docker load, to node2, then node3", f: func() int64 { drop(n2, n3); pipeline(n2); pipeline(n3); return 0 }},
	}
	interleave(b, runs, variants)
	mb := float64(img.Size) / (1 << 20)
	rate := func(r *result) float64 { return mb / r.median().Seconds() }
	b.Logf("image %s, %.0f MiB: osgs %.1f MiB/s against save|load %.1f MiB/s between two engines: %.2fx (goal at least 1.0x); to two nodes: %.2fx the pipeline's time",
		ref, mb, rate(variants[0]), rate(variants[1]), variants[1].median().Seconds()/variants[0].median().Seconds(),
		variants[2].median().Seconds()/variants[3].median().Seconds())
	drop(n1, n2, n3)

	// Deploy to healthy, against stack:up on one host.
	c, err := swarm.Connect(ctx, e)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	id1, err := c.Init(ctx, n1.Addr)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []*testenv.SwarmNode{n2, n3} {
		if _, err := c.Join(ctx, n.Host, []convert.Role{convert.Web}); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.Label(ctx, id1, []convert.Role{convert.DB, convert.Edge}); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if _, err := c.Deploy(ctx, swarm.DeployOptions{}); err != nil {
		b.Fatal(err)
	}
	deploy := time.Since(start)
	if _, err := c.Remove(ctx, true); err != nil {
		b.Fatal(err)
	}
	local := testenv.NewCheckout(b, nil)
	local.Cleanup(b)
	le := local.Engine(b)
	le.Out, le.Err = io.Discard, io.Discard
	start = time.Now()
	if err := le.Up(ctx, engine.UpOptions{Services: []string{"postgis", "hugo", "mapproxy"}}); err != nil {
		b.Fatal(err)
	}
	up := time.Since(start)
	b.Logf("swarm:deploy of postgis, hugo and mapproxy (2 replicas) on 3 nodes, images copied, to every task healthy: %s; stack:up of the same on one host: %s (%.2fx)",
		deploy.Round(100*time.Millisecond), up.Round(100*time.Millisecond), deploy.Seconds()/up.Seconds())
}

// interleave runs each variant runs times, rotating the order per round,
// and reports the medians.
func interleave(b *testing.B, runs int, rs []*result) {
	for round := 0; round < runs; round++ {
		for i := range rs {
			r := rs[(i+round)%len(rs)]
			c0, start := busyCPU(), time.Now()
			r.f()
			r.times = append(r.times, time.Since(start))
			r.cpu = append(r.cpu, busyCPU()-c0)
		}
	}
	for _, r := range rs {
		r.report(b)
	}
}
