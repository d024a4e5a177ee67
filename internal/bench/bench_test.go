// Package bench measures backup and restore against the baselines of the
// backup issue, on a real PostGIS with at least 1 GB of data. It is a
// benchmark, not a test: nothing here runs under plain `go test ./...`.
//
//	go test -run '^$' -bench Backup -benchtime 1x -timeout 90m ./internal/bench
//
// OSGS_BENCH_GB (or OSGS_BENCH_MB) sets the data size (default 1 GB),
// OSGS_BENCH_RUNS the runs per variant (default 3), and OSGS_BENCH_VARIANTS
// the variants to run, by letter (default all; e.g. "a,p,e,e0"). The variants run in interleaved rounds, since a
// shared VM's speed drifts by tens of percent within minutes. It prints the
// median time and machine-wide busy CPU time of each variant, the ratios the
// issue names, and the floor that CPU time sets on 2 cores.
package bench

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/backup"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/testenv"
)

type result struct {
	name  string
	times []time.Duration
	cpu   []time.Duration // machine-wide busy CPU time of each run
	size  int64
	f     func() int64
}

func (r *result) median() time.Duration { return median(r.times) }

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// medianOf is the median of v (the upper one of an even count, as median's).
func medianOf(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	return s[len(s)/2]
}

type bench struct {
	b   *testing.B
	ctx context.Context
	e   *engine.Engine
	id  string
	usr string
	dir string
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return def
}

func (s *bench) sh(script string) {
	s.b.Helper()
	if err := s.e.Exec(s.ctx, s.id, []string{"sh", "-c", script}, engine.ExecOptions{User: postgis.OSUser}); err != nil {
		s.b.Fatalf("%s: %v", script, err)
	}
}

func (s *bench) psql(sql string) string {
	s.b.Helper()
	out, err := s.e.Output(s.ctx, postgis.Service, postgis.OSUser, postgis.PsqlArgs(postgis.Load(s.e), "gis", "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql)...)
	if err != nil {
		s.b.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// execToFile runs argv in the server's container and streams stdout to a host file.
func (s *bench) execToFile(argv []string, path string) int64 {
	s.b.Helper()
	f, err := os.Create(path)
	if err != nil {
		s.b.Fatal(err)
	}
	defer f.Close()
	if err := s.e.Exec(s.ctx, s.id, argv, engine.ExecOptions{User: postgis.OSUser, Stdout: f}); err != nil {
		s.b.Fatal(err)
	}
	info, _ := f.Stat()
	return info.Size()
}

// selected reports whether OSGS_BENCH_VARIANTS (letters such as "a,p,e")
// includes r; every variant runs when it is empty.
func selected(r *result) bool {
	only := os.Getenv("OSGS_BENCH_VARIANTS")
	if only == "" {
		return true
	}
	for _, v := range strings.Split(only, ",") {
		if strings.HasPrefix(r.name, "("+strings.TrimSpace(v)+")") {
			return true
		}
	}
	return false
}

// rounds runs every variant once per round, in turn, so that a machine
// whose speed drifts (a shared 2-core VM) slows all of them alike.
func rounds(runs int, rs ...*result) {
	for i := 0; i < runs; i++ {
		for _, r := range rs {
			if !selected(r) {
				continue
			}
			c0, start := busyCPU(), time.Now()
			r.size = r.f()
			r.times = append(r.times, time.Since(start))
			r.cpu = append(r.cpu, busyCPU()-c0)
		}
	}
}

// busyCPU is the time all cores spent busy since boot (/proc/stat): the
// server, the helpers, dockerd and this process alike.
func busyCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
	var ticks int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / 100) // USER_HZ
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func maxRSS() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Maxrss * 1024
}

func BenchmarkBackup(b *testing.B) {
	testenv.RequireDocker(b)
	mb, runs := envInt("OSGS_BENCH_MB", 1024*envInt("OSGS_BENCH_GB", 1)), envInt("OSGS_BENCH_RUNS", 3)
	ctx := context.Background()
	co := testenv.NewCheckout(b, nil)
	co.Cleanup(b)
	e := co.Engine(b)
	e.Err = io.Discard
	if err := e.Up(ctx, engine.UpOptions{Services: []string{postgis.Service}}); err != nil {
		b.Fatal(err)
	}
	id, err := e.ContainerOf(ctx, postgis.Service)
	if err != nil {
		b.Fatal(err)
	}
	s := &bench{b: b, ctx: ctx, e: e, id: id, usr: postgis.Load(e).User, dir: b.TempDir()}

	// At least gb GiB of PostGIS data: points with labels, and polygons.
	start := time.Now()
	s.psql(`CREATE TABLE points (id bigint, geom geometry(Point, 4326), label text);
	        CREATE TABLE parcels (id bigint, geom geometry(Polygon, 3857), name text)`)
	target := int64(mb) << 20
	for batch := 0; ; batch++ {
		size, _ := strconv.ParseInt(s.psql("SELECT pg_database_size('gis')"), 10, 64)
		if size >= target {
			break
		}
		lo := batch * 1000000
		s.psql(fmt.Sprintf(`INSERT INTO points SELECT i, ST_SetSRID(ST_MakePoint(random()*360-180, random()*170-85), 4326), md5(i::text) || ' ' || md5(random()::text)
		  FROM generate_series(%d, %d) i;
		  INSERT INTO parcels SELECT i, ST_Buffer(ST_SetSRID(ST_MakePoint(random()*1e6, random()*1e6), 3857), 10 + random()*50, 3), 'parcel ' || i
		  FROM generate_series(%d, %d) i`, lo+1, lo+1000000, lo+1, lo+100000))
	}
	s.psql("CREATE INDEX ON parcels USING gist (geom)")
	s.psql("VACUUM ANALYZE")
	dbSize := s.psql("SELECT pg_size_pretty(pg_database_size('gis'))")
	b.Logf("loaded %s in %s", dbSize, time.Since(start).Round(time.Second))

	pgdump := []string{"pg_dump", "-h", postgis.Socket, "-U", s.usr}
	a := &result{name: "(a) pg_dump -Fc -Z0 > /dev/null in the container", f: func() int64 {
		s.sh("pg_dump -h " + postgis.Socket + " -U " + s.usr + " -Fc -Z0 gis > /dev/null")
		return 0
	}}
	bb := &result{name: "(b) OSGS: plain pg_dump to a file in the container, then docker cp", f: func() int64 {
		s.sh("pg_dump -h " + postgis.Socket + " -U " + s.usr + " --clean -f /tmp/osgs.sql gis")
		res, err := e.Docker().CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: "/tmp/osgs.sql"})
		if err != nil {
			b.Fatal(err)
		}
		n := untarOne(b, res.Content, filepath.Join(s.dir, "osgs.sql"))
		res.Content.Close()
		s.sh("rm -f /tmp/osgs.sql")
		return n
	}}
	c := &result{name: "(c) exec pg_dump -Fc (built-in zlib)", f: func() int64 {
		return s.execToFile(append(pgdump, "-Fc", "gis"), filepath.Join(s.dir, "c.dump"))
	}}
	d := &result{name: "(d) exec pg_dump | gzip", f: func() int64 {
		return s.execToFile([]string{"sh", "-c", "pg_dump -h " + postgis.Socket + " -U " + s.usr + " -Fc -Z0 gis | gzip"}, filepath.Join(s.dir, "d.dump.gz"))
	}}
	// (p) what an admin would type: docker exec <postgis> pg_dump -Fc -Z0 |
	// zstd -1 -T0 > file. The exec attach stream is the one the docker CLI
	// reads; the host's zstd compresses.
	p := &result{name: "(p) stock pipeline: exec pg_dump -Fc -Z0 | zstd -1 -T0 > file", f: func() int64 {
		out := filepath.Join(s.dir, "p.dump.zst")
		f, err := os.Create(out)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		zstd := exec.Command("zstd", "-1", "-T0", "-q", "-c")
		zstd.Stdout = f
		in, err := zstd.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		if err := zstd.Start(); err != nil {
			b.Fatalf("zstd: %v (the stock pipeline needs zstd on the host)", err)
		}
		err = s.e.Exec(s.ctx, s.id, append(pgdump, "-Fc", "-Z0", "gis"), engine.ExecOptions{User: postgis.OSUser, Stdout: in})
		in.Close()
		if werr := zstd.Wait(); err == nil {
			err = werr
		}
		if err != nil {
			b.Fatal(err)
		}
		info, _ := f.Stat()
		return info.Size()
	}}
	// Where (e)'s time goes, per stage, over its runs.
	stages := map[string][]time.Duration{}
	var stageOrder []string
	traced := backup.WithTrace(ctx, func(stage string, d time.Duration) {
		if _, ok := stages[stage]; !ok {
			stageOrder = append(stageOrder, stage)
		}
		stages[stage] = append(stages[stage], d)
	})
	var lastSet string
	backupRun := func(transport backup.Transport, noStats bool) func() int64 {
		ctx := ctx
		if transport == backup.TransportFIFO && !noStats {
			ctx = traced
		}
		return func() int64 {
			os.Setenv(backup.TransportEnv, string(transport))
			defer os.Unsetenv(backup.TransportEnv)
			root := filepath.Join(s.dir, fmt.Sprintf("sets-%s-nostats=%v-%d", transport, noStats, time.Now().UnixNano()))
			set, err := backup.Run(ctx, e, backup.Options{Root: root, Services: []string{postgis.Service}, Database: "gis", NoStats: noStats})
			if err != nil {
				b.Fatal(err)
			}
			lastSet = set
			info, _ := os.Stat(filepath.Join(set, "postgis", "gis.dump.zst"))
			return info.Size()
		}
	}
	// (e) first, alone, for this process's peak RSS; then every variant in
	// rounds, (e) again among them.
	rssBefore := maxRSS()
	ex := &result{name: "(e) postgis:backup (helper + FIFO, zstd -1 beside pg_dump)", f: backupRun(backup.TransportFIFO, false)}
	ex.f()
	rss := maxRSS()
	fifoSet := lastSet
	e0 := &result{name: "(e0) postgis:backup -nostats (no verification stats)", f: backupRun(backup.TransportFIFO, true)}
	ee := &result{name: "(e') postgis:backup over the exec stream (remote engines)", f: backupRun(backup.TransportExec, false)}
	rounds(runs, a, ex, p, bb, c, d, e0, ee)

	// Restore: pg_restore from an uncompressed local file in the container,
	// against postgis:restore from the set; both replace gis with --clean.
	rawDump := filepath.Join(s.dir, "raw.dump")
	s.execToFile(append(pgdump, "-Fc", "-Z0", "gis"), rawDump)
	putFile(b, e, id, rawDump, "/tmp/raw.dump")
	r0 := &result{name: "(r0) pg_restore --clean from an uncompressed file in the container", f: func() int64 {
		s.sh("pg_restore -h " + postgis.Socket + " -U " + s.usr + " -d gis --clean --if-exists --exit-on-error /tmp/raw.dump")
		return 0
	}}
	src, err := backup.Resolve("", fifoSet)
	if err != nil {
		b.Fatal(err)
	}
	r1 := &result{name: "(r1) postgis:restore from the set", f: func() int64 {
		if err := backup.RestorePostGIS(ctx, e, backup.RestorePostGISOptions{Source: src, Database: "gis", Yes: true}); err != nil {
			b.Fatal(err)
		}
		return 0
	}}
	rounds(runs, r0, r1)

	fmt.Printf("\nbackup of %s of PostGIS data, median of %d interleaved runs (%d cores)\n", dbSize, runs, runtime.NumCPU())
	fmt.Printf("  %-70s %8s  %10s  %s\n", "", "time", "size", "busy CPU (all processes)")
	for _, r := range []*result{a, p, bb, c, d, ex, e0, ee, r0, r1} {
		if len(r.times) == 0 {
			continue
		}
		size := ""
		if r.size > 0 {
			size = postgis.HumanBytes(r.size)
		}
		fmt.Printf("  %-70s %8s  %10s  %s\n", r.name, r.median().Round(10*time.Millisecond), size, median(r.cpu).Round(10*time.Millisecond))
	}
	ratio := func(x, y *result) float64 {
		if len(x.times) == 0 || len(y.times) == 0 {
			return math.NaN() // a variant OSGS_BENCH_VARIANTS left out
		}
		return x.median().Seconds() / y.median().Seconds()
	}
	fmt.Printf("\n  (e)/(p) = %.2f   goal <= 0.8 (postgis:backup against the stock pipeline, stats on)\n", ratio(ex, p))
	fmt.Printf("  size (e)/(p) = %.4f   goal <= 1 (%d against %d bytes)\n", float64(ex.size)/float64(p.size), ex.size, p.size)
	fmt.Printf("  (e0)/(p) = %.2f  (without stats)\n", ratio(e0, p))
	fmt.Printf("  (e)/(a) = %.2f   goal <= 1.5\n", ratio(ex, a))
	fmt.Printf("  (e0)/(a) = %.2f  (the same without the verification stats)\n", ratio(e0, a))
	fmt.Printf("  (c)/(e) = %.2f   goal >= 4   (c)/(e0) = %.2f\n", ratio(c, ex), ratio(c, e0))
	fmt.Printf("  (d)/(e) = %.2f   goal >= 4\n", ratio(d, ex))
	fmt.Printf("  (b)/(e) = %.2f   goal >= 1\n", ratio(bb, ex))
	fmt.Printf("  size (e)/(c) = %.2f   goal <= 1\n", float64(ex.size)/float64(c.size))
	fmt.Printf("  (r1)/(r0) = %.2f   goal <= 1.2\n", ratio(r1, r0))
	// On n cores no run can take less time than its CPU time / n.
	n := float64(runtime.NumCPU())
	fmt.Printf("  CPU floor: (e) needs %.1f CPU-s, so at least %.2f s on %d cores = %.2f x (a)\n",
		median(ex.cpu).Seconds(), median(ex.cpu).Seconds()/n, runtime.NumCPU(), median(ex.cpu).Seconds()/n/a.median().Seconds())
	fmt.Printf("  peak RSS of this process during (e): %s (before: %s)   goal < 64 MiB\n", postgis.HumanBytes(rss), postgis.HumanBytes(rssBefore))
	fmt.Printf("\n  where (e)'s time goes (median of %d runs per stage; the dump stage includes compression and the stats scan beside it):\n", len(stages[stageOrder[0]]))
	for _, st := range stageOrder {
		fmt.Printf("    %-60s %8s\n", st, median(stages[st]).Round(time.Millisecond))
	}
	b.ReportMetric(ratio(ex, p), "e/p")
	b.ReportMetric(ratio(ex, a), "e/a")
	b.ReportMetric(ratio(c, ex), "c/e")
	b.ReportMetric(ratio(r1, r0), "r1/r0")
	b.ReportMetric(float64(rss)/(1<<20), "peakRSS-MiB")
}

func untarOne(b *testing.B, r io.Reader, dst string) int64 {
	tr := tar.NewReader(r)
	if _, err := tr.Next(); err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(dst)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	n, err := io.Copy(f, tr)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

func putFile(b *testing.B, e *engine.Engine, id, src, dst string) {
	putFileMode(b, e, id, src, dst, 0o644)
}

// putFileMode copies src into container id at dst, with mode.
func putFileMode(b *testing.B, e *engine.Engine, id, src, dst string, mode int64) {
	f, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	info, _ := f.Stat()
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		tw.WriteHeader(&tar.Header{Name: filepath.Base(dst), Mode: mode, Size: info.Size(), Uid: 0, Gid: 0})
		io.Copy(tw, f)
		pw.CloseWithError(tw.Close())
	}()
	if _, err := e.Docker().CopyToContainer(context.Background(), id, client.CopyToContainerOptions{DestinationPath: filepath.Dir(dst), Content: pr}); err != nil {
		b.Fatal(err)
	}
}
