package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/gisdata"
	"github.com/osgs/osgs/internal/osm/osmtest"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/testenv"
	"github.com/osgs/osgs/internal/tools"
)

// osgsBinary compiles the magefile into a binary: the osgs process whose
// time and peak RSS the load benchmarks measure.
func osgsBinary(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "osgs")
	cmd := exec.Command("go", "tool", "mage", "-compile", bin)
	cmd.Dir = testenv.Root()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("compile the magefile: %v: %s", err, out)
	}
	return bin
}

// runOsgs runs a target of the compiled osgs in the checkout and returns
// its peak RSS in bytes: VmHWM, read from /proc while it runs. (The
// rusage of a child counts its parent's pages from before the exec: this
// benchmark's own, 200 MB after it made an extract.)
func runOsgs(b *testing.B, bin, dir string, args ...string) int64 {
	b.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var peak atomic.Int64
	stop := make(chan struct{})
	go func() {
		status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
		for {
			if data, err := os.ReadFile(status); err == nil {
				for _, l := range strings.Split(string(data), "\n") {
					if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
						var kb int64
						fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
						if kb*1024 > peak.Load() {
							peak.Store(kb * 1024)
						}
					}
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	err := cmd.Wait()
	close(stop)
	if err != nil {
		b.Fatalf("osgs %v: %v: %s", args, err, out.String())
	}
	// Its steps' own timings (the progress lines), to see where time goes.
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, " in ") && !strings.Contains(l, "GiB") {
			b.Logf("  osgs: %s", strings.TrimSpace(l))
		}
	}
	return peak.Load()
}

func loadSetup(b *testing.B) (context.Context, *testenv.Checkout, *engine.Engine, *tools.Helper) {
	testenv.RequireDocker(b)
	ctx := context.Background()
	co := testenv.NewCheckout(b, nil)
	co.Cleanup(b)
	e := co.Engine(b)
	e.Err = io.Discard
	if err := e.Up(ctx, engine.UpOptions{Services: []string{postgis.Service}}); err != nil {
		b.Fatal(err)
	}
	if err := postgis.EnsureDatabases(ctx, e); err != nil {
		b.Fatal(err)
	}
	h, err := tools.Start(ctx, e)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(h.Close)
	return ctx, co, e, h
}

func (r *result) report(b *testing.B) {
	b.Logf("%-62s median %8.2f s  (runs %v)  busy CPU %6.1f s", r.name, r.median().Seconds(), r.times, median(r.cpu).Seconds())
}

// BenchmarkLoad measures postgis:load of a GeoPackage of at least 1 GB
// (OSGS_BENCH_MB) against ogr2ogr run directly in the tools container with
// PG_USE_COPY=YES against the same server (the goal: at most 1.1x,
// with the osgs process under 64 MB of peak RSS).
//
//	go test -run '^$' -bench Load -benchtime 1x -timeout 90m ./internal/bench
func BenchmarkLoad(b *testing.B) {
	mb, runs := envInt("OSGS_BENCH_MB", 1024*envInt("OSGS_BENCH_GB", 1)), envInt("OSGS_BENCH_RUNS", 3)
	bin := osgsBinary(b)
	ctx, co, e, h := loadSetup(b)
	dir := b.TempDir()

	// Points with two text attributes and a number: about 180 bytes a
	// feature in a GeoPackage, so millions of features per GB.
	start := time.Now()
	n := int64(mb) << 20 / 180
	if err := h.Exec(ctx, "gis", fmt.Sprintf(`CREATE TABLE src AS SELECT i AS id, ST_SetSRID(ST_MakePoint(random()*360-180, random()*170-85), 4326) AS geom,
	  md5(i::text) || ' ' || md5(random()::text) AS label, 'category ' || (i %% 97) AS category, random() * 1000 AS value
	  FROM generate_series(1, %d) i`, n)); err != nil {
		b.Fatal(err)
	}
	var errb bytes.Buffer
	if err := h.Run(ctx, []string{"ogr2ogr", "-f", "GPKG", "/work/big.gpkg", "PG:" + tools.Conninfo("gis"), "src", "-nln", "big"}, nil, nil, &errb); err != nil {
		b.Fatalf("make the GeoPackage: %v: %s", err, errb.String())
	}
	h.Exec(ctx, "gis", "DROP TABLE src")
	gpkg := filepath.Join(dir, "big.gpkg")
	f, err := os.Create(gpkg)
	if err != nil {
		b.Fatal(err)
	}
	size, err := h.Get(ctx, "big.gpkg", f)
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("a GeoPackage of %d features, %.0f MB, made in %s", n, float64(size)/1e6, time.Since(start).Round(time.Second))

	var rss []int64
	k := 0
	drop := func(t string) {
		if err := h.Exec(ctx, "gis", "DROP TABLE IF EXISTS "+t); err != nil {
			b.Fatal(err)
		}
	}
	o := &result{name: "(o) ogr2ogr PG_USE_COPY=YES, in the tools container", f: func() int64 {
		k++
		t := fmt.Sprintf("o_%d", k)
		var errb bytes.Buffer
		if err := h.Run(ctx, []string{"ogr2ogr", "-f", "PostgreSQL", "PG:" + tools.Conninfo("gis"), "/work/big.gpkg", "big", "--config", "PG_USE_COPY", "YES", "-nln", t}, nil, nil, &errb); err != nil {
			b.Fatalf("ogr2ogr: %v: %s", err, errb.String())
		}
		drop(t)
		return size
	}}
	l := &result{name: "(l) postgis:load from this host (upload, all or nothing)", f: func() int64 {
		k++
		t := fmt.Sprintf("l_%d", k)
		rss = append(rss, runOsgs(b, bin, co.Dir, "postgis:load", gpkg, "-table="+t))
		drop(t)
		return size
	}}
	rounds(runs, o, l)
	o.report(b)
	l.report(b)
	peak := int64(0)
	for _, r := range rss {
		peak = max(peak, r)
	}
	ratio := l.median().Seconds() / o.median().Seconds()
	b.Logf("(l)/(o) = %.2f (goal <= 1.1): %s", ratio, map[bool]string{true: "MET", false: "NOT MET"}[ratio <= 1.1])
	b.Logf("osgs peak RSS %.1f MB (goal < 64 MB): %s", float64(peak)/(1<<20), map[bool]string{true: "MET", false: "NOT MET"}[peak < 64<<20])
	_ = e
}

// BenchmarkOSMImport measures osm:import of a synthetic extract of at least
// 10 M nodes (OSGS_BENCH_OSM_BLOCKS sets its size) against plain osm2pgsql
// with the same style in the tools container (goal: at most 1.1x), and
// reports nodes per second.
//
//	go test -run '^$' -bench OSMImport -benchtime 1x -timeout 90m ./internal/bench
func BenchmarkOSMImport(b *testing.B) {
	blocks, runs := envInt("OSGS_BENCH_OSM_BLOCKS", 1500), envInt("OSGS_BENCH_RUNS", 3)
	bin := osgsBinary(b)
	ctx, co, _, h := loadSetup(b)
	dir := b.TempDir()
	start := time.Now()
	osmFile := filepath.Join(dir, "town.osm")
	f, err := os.Create(osmFile)
	if err != nil {
		b.Fatal(err)
	}
	c, err := osmtest.Town{Blocks: blocks, Lon: -10, Lat: 35, Step: 0.0005}.Write(f)
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	if err := putHostFile(ctx, h, osmFile); err != nil {
		b.Fatal(err)
	}
	os.Remove(osmFile)
	var errb bytes.Buffer
	// Its header carries the data's time, as Geofabrik's extracts do (a
	// file without it costs osm:import one more osmium read for its status).
	if err := h.Run(ctx, []string{"osmium", "cat", "/work/town.osm", "-o", "/work/town.osm.pbf", "--output-header=osmosis_replication_timestamp=2026-11-01T00:00:00Z"}, nil, nil, &errb); err != nil {
		b.Fatalf("osmium cat: %v: %s", err, errb.String())
	}
	pbf := filepath.Join(dir, "town.osm.pbf")
	pf, _ := os.Create(pbf)
	size, err := h.Get(ctx, "town.osm.pbf", pf)
	pf.Close()
	if err != nil {
		b.Fatal(err)
	}
	h.Run(ctx, []string{"rm", "/work/town.osm"}, nil, nil, nil)
	b.Logf("a synthetic extract of %d nodes, %d ways, %d relations (%.0f MB PBF), made in %s", c.Nodes, c.Ways, c.Relations, float64(size)/1e6, time.Since(start).Round(time.Second))
	if err := h.Exec(ctx, "gis", "CREATE SCHEMA IF NOT EXISTS plain"); err != nil {
		b.Fatal(err)
	}
	p := &result{name: "(p) osm2pgsql --slim --output=flex, same style, in the tools container", f: func() int64 {
		var errb bytes.Buffer
		argv := []string{"env", "OSGS_OSM_SCHEMA=plain", "osm2pgsql", "--create", "--slim", "--output=flex", "--style=/usr/share/osgs/osm/osgs.lua",
			"--middle-schema=plain", "--cache=512", "--number-processes=2", "-d", tools.Conninfo("gis"), "/work/town.osm.pbf"}
		if err := h.Run(ctx, argv, nil, nil, &errb); err != nil {
			b.Fatalf("osm2pgsql: %v: %s", err, lastLines(errb.String()))
		}
		return size
	}}
	var rss []int64
	i := &result{name: "(i) osm:import from this host (upload, check, new schema, swap)", f: func() int64 {
		rss = append(rss, runOsgs(b, bin, co.Dir, "osm:import", pbf))
		return size
	}}
	rounds(runs, p, i)
	p.report(b)
	i.report(b)
	ratio := i.median().Seconds() / p.median().Seconds()
	b.Logf("nodes per second: osm:import %.0f, plain osm2pgsql %.0f", float64(c.Nodes)/i.median().Seconds(), float64(c.Nodes)/p.median().Seconds())
	b.Logf("(i)/(p) = %.2f (goal <= 1.1): %s", ratio, map[bool]string{true: "MET", false: "NOT MET"}[ratio <= 1.1])
	peak := int64(0)
	for _, r := range rss {
		peak = max(peak, r)
	}
	b.Logf("osgs peak RSS %.1f MB", float64(peak)/(1<<20))
}

func putHostFile(ctx context.Context, h *tools.Helper, p string) error {
	return gisdataUpload(ctx, h, p)
}

func lastLines(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > 3 {
		l = l[len(l)-3:]
	}
	return strings.Join(l, " / ")
}

var gisdataUpload = func(ctx context.Context, h *tools.Helper, p string) error {
	return gisdata.Upload(ctx, h, p, nil)
}
