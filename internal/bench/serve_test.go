package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/testenv"
)

// BenchmarkServe measures the vector tile and OGC API Features services
// through nginx against directly at the service, for the same requests, in
// interleaved rounds, over a published table of OSGS_BENCH_ROWS points
// (default 1,000,000) spread over one degree square (a z14 tile holds
// about 300). The goals: through nginx at least 0.9x the direct
// throughput; and the p99 latency of a z14 tile, reported.
//
// The load generator (internal/bench/loadgen) runs inside the tiles
// container, so both paths are asked from the same place: direct over HTTP to the service, through nginx over HTTPS. Each
// client keeps its own HTTP/1.1 connection both ways; OSGS_BENCH_H2=1 lets
// the nginx path use HTTP/2, where all clients share one connection.
//
//	go test -run '^$' -bench Serve -benchtime 1x -timeout 60m ./internal/bench
func BenchmarkServe(b *testing.B) {
	rows, runs := envInt("OSGS_BENCH_ROWS", 1_000_000), envInt("OSGS_BENCH_RUNS", 3)
	requests, clients := envInt("OSGS_BENCH_REQUESTS", 3000), envInt("OSGS_BENCH_CLIENTS", 8)
	testenv.RequireDocker(b)
	ctx := context.Background()
	co := testenv.NewCheckout(b, nil)
	co.Cleanup(b)
	e := co.Engine(b)
	e.Out, e.Err = io.Discard, io.Discard // go test cuts a benchmark's long log: keep it to the figures
	if err := e.Up(ctx, engine.UpOptions{Services: []string{"nginx", "postgis", "features", "tiles"}}); err != nil {
		b.Fatal(err)
	}
	s := &bench{b: b, ctx: ctx, e: e}
	start := time.Now()
	s.psql(fmt.Sprintf(`CREATE TABLE publish.big AS SELECT i AS fid, 'feature ' || i AS name, i %% 1000 AS class,
	  ST_SetSRID(ST_MakePoint(8 + random(), 48.5 + random()), 4326)::geometry(Point, 4326) AS geom FROM generate_series(1, %d) i;
	  ALTER TABLE publish.big ADD PRIMARY KEY (fid); CREATE INDEX ON publish.big USING gist (geom); ANALYZE publish.big;`, rows))
	b.Logf("publish.big: %d points in %.1f s; medians of %d interleaved rounds of %d requests, %d clients", rows, time.Since(start).Seconds(), runs, requests, clients)

	// The generator, built for the container and copied in with the site CA.
	bin := filepath.Join(b.TempDir(), "loadgen")
	build := exec.Command("go", "build", "-o", bin, "./internal/bench/loadgen")
	build.Dir, build.Env = testenv.Root(), append(build.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build the load generator: %v: %s", err, out)
	}
	id, err := e.ContainerOf(ctx, "tiles")
	if err != nil {
		b.Fatal(err)
	}
	// The tiles container reaches nginx on its own network, but not the
	// feature service (each web service shares a network with nginx
	// alone): for the direct path the benchmark joins it to features'.
	if _, err := e.Docker().NetworkConnect(ctx, engine.NetworkName(e.ProjectName(), "features"), client.NetworkConnectOptions{Container: id}); err != nil {
		b.Fatal(err)
	}
	putFileMode(b, e, id, bin, "/tmp/loadgen", 0o755)
	putFile(b, e, id, filepath.Join(co.Dir, "config", "tls", "site.crt"), "/tmp/site.crt")

	// The same requests both ways: every z14 tile over the data, and a
	// bbox query of about a z14 tile's size returning up to 100 features.
	var tiles, items []string
	lo, hi := maptile.At(orb.Point{8, 49.5}, 14), maptile.At(orb.Point{9, 48.5}, 14)
	for x := lo.X; x <= hi.X; x += 3 {
		for y := lo.Y; y <= hi.Y; y += 3 {
			tiles = append(tiles, fmt.Sprintf("/tiles/big/14/%d/%d.pbf", x, y))
			bb := maptile.New(x, y, 14).Bound()
			items = append(items, fmt.Sprintf("/features/collections/publish.big/items.json?bbox=%f,%f,%f,%f&limit=100", bb.Min[0], bb.Min[1], bb.Max[0], bb.Max[1]))
		}
	}
	// CPU per request of each part, from the engine's counters around each
	// load: the load generator (its own rusage; it runs in the tiles
	// container, whose counter then holds both), nginx, the service asked,
	// and PostgreSQL. All share the machine's cores, so on a CPU-bound run
	// throughput follows their sum.
	ids := map[string]string{}
	for _, name := range []string{"nginx", "features", "tiles", "postgis"} {
		if ids[name], err = e.ContainerOf(ctx, name); err != nil {
			b.Fatal(err)
		}
	}
	type stats struct {
		Errors, RPS, P50, P99 float64
		CPU                   map[string]float64 // ms per request: client, nginx, features, tiles, postgis
	}
	h2 := os.Getenv("OSGS_BENCH_H2") == "1"
	load := func(base string, paths []string, via, gzip bool) stats {
		before := map[string]time.Duration{}
		for name, cid := range ids {
			before[name] = containerCPU(b, e, cid)
		}
		var urls strings.Builder
		for _, p := range paths {
			urls.WriteString(base + p + "\n")
		}
		args := []string{"/tmp/loadgen", "-n", fmt.Sprint(requests), "-c", fmt.Sprint(clients), fmt.Sprintf("-gzip=%t", gzip)}
		if via {
			args = append(args, "-ca", "/tmp/site.crt", "-host", "localhost", fmt.Sprintf("-h2=%t", h2))
		}
		var out strings.Builder
		if err := e.Exec(ctx, id, args, engine.ExecOptions{Stdin: strings.NewReader(urls.String()), Stdout: &out, Stderr: &out}); err != nil {
			b.Fatalf("loadgen: %v: %s", err, out.String())
		}
		var m map[string]float64
		if err := json.Unmarshal([]byte(out.String()), &m); err != nil {
			b.Fatalf("loadgen: %v: %s", err, out.String())
		}
		if m["errors"] > 0 {
			b.Fatalf("%s: %v failed requests", base, m["errors"])
		}
		cpu := map[string]float64{"client": m["cpu_ms"] / m["requests"]}
		for name, cid := range ids {
			cpu[name] = float64((containerCPU(b, e, cid) - before[name]).Microseconds()) / 1000 / m["requests"]
		}
		cpu["tiles"] -= cpu["client"] // the generator runs in the tiles container
		return stats{m["errors"], m["rps"], m["p50_ms"], m["p99_ms"], cpu}
	}
	// Clients ask for gzip, as browsers and QGIS do: pg_featureserv
	// compresses its JSON itself on both paths, and nginx passes it on
	// (tiles are not compressed). The last pair asks for the bytes as they
	// are, so that the proxy's own cost shows apart from gzip's.
	variants := []struct {
		name, base string
		paths      []string
		via, gzip  bool
	}{
		{"tiles direct (tiles:7800)", "http://tiles:7800", tiles, false, true},
		{"tiles through nginx (https)", "https://nginx", tiles, true, true},
		{"features direct (features:9000)", "http://features:9000", items, false, true},
		{"features through nginx (https)", "https://nginx", items, true, true},
		{"features direct, no gzip asked", "http://features:9000", items, false, false},
		{"features through nginx, no gzip asked", "https://nginx", items, true, false},
	}
	res := make([][]stats, len(variants))
	load("http://tiles:7800", tiles[:min(len(tiles), 200)], false, true) // warm the server's and PostgreSQL's caches
	// Interleaved rounds, each starting at another pair, so that no pair
	// always runs first (after the warm-up) or last. The two variants of a
	// pair (direct, through nginx) run one right after the other, in an
	// order that alternates, so each round gives a paired ratio that the
	// machine's slower drifts touch little.
	pairs := len(variants) / 2
	for r := 0; r < runs; r++ {
		for k := range pairs {
			p := (k + r) % pairs
			for j := range 2 {
				i := 2*p + (j+r+k)%2
				v := variants[i]
				res[i] = append(res[i], load(v.base, v.paths, v.via, v.gzip))
			}
		}
	}
	med := func(xs []stats, f func(stats) float64) float64 {
		v := make([]float64, len(xs))
		for i, x := range xs {
			v[i] = f(x)
		}
		return medianOf(v)
	}
	parts := []string{"client", "nginx", "tiles", "features", "postgis"}
	serverCPU := func(xs []stats) float64 { // ms per request of everything but the client
		var sum float64
		for _, p := range parts[1:] {
			sum += med(xs, func(s stats) float64 { return s.CPU[p] })
		}
		return sum
	}
	// One line per variant: without -v, go test keeps a benchmark's first
	// 10 log lines only.
	for i, v := range variants {
		var cpu strings.Builder
		for _, p := range parts {
			fmt.Fprintf(&cpu, " %s %.2f", p, med(res[i], func(s stats) float64 { return s.CPU[p] }))
		}
		b.Logf("%-38s %6.1f req/s  p50 %5.1f ms  p99 %6.1f ms  CPU ms/req:%s",
			v.name, med(res[i], func(s stats) float64 { return s.RPS }), med(res[i], func(s stats) float64 { return s.P50 }),
			med(res[i], func(s stats) float64 { return s.P99 }), cpu.String())
	}
	for i := 0; i < len(variants); i += 2 {
		direct, via := med(res[i], func(s stats) float64 { return s.RPS }), med(res[i+1], func(s stats) float64 { return s.RPS })
		// The same round's two runs, side by side.
		paired := make([]float64, runs)
		for r := range paired {
			paired[r] = res[i+1][r].RPS / res[i][r].RPS
		}
		// What the servers alone could do: their CPU per request direct
		// over theirs through nginx (nginx's own included), with the
		// client's TLS taken off the shared cores.
		b.Logf("%s: through nginx / direct = %.2fx of the medians, %.2fx the median paired ratio (rounds %.2f..%.2f; goal >= 0.9); server CPU per request direct / through nginx = %.2fx",
			[]string{"tiles", "features", "features, no gzip asked"}[i/2], via/direct, medianOf(paired), slices.Min(paired), slices.Max(paired),
			serverCPU(res[i])/serverCPU(res[i+1]))
	}
}

// containerCPU is the CPU time a container has used so far, from the
// engine's one-shot stats.
func containerCPU(b *testing.B, e *engine.Engine, id string) time.Duration {
	b.Helper()
	res, err := e.Docker().ContainerStats(context.Background(), id, client.ContainerStatsOptions{})
	if err != nil {
		b.Fatalf("stats of %s: %v", id, err)
	}
	defer res.Body.Close()
	var st container.StatsResponse
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		b.Fatalf("stats of %s: %v", id, err)
	}
	return time.Duration(st.CPUStats.CPUUsage.TotalUsage)
}
