package bench

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/osgs/osgs/internal/backup"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/offsite"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/testenv"
)

// BenchmarkOffsite measures, in interleaved rounds against versitygw (TLS,
// loopback; or, with OSGS_BENCH_LINK_MBIT, behind a link of that many
// Mbit/s each way, as an off-site server is) on a PostGIS set of
// OSGS_BENCH_MB (default 300) of data:
//
//   - (a) backup:push against (b) a plain minio-go upload of the same files
//     (PutObject with their sizes): goal at least 0.9x b's throughput;
//
//   - (c) backup:all -push (one pass) against (d) backup:all, then
//     backup:push.
//
//     go test -run '^$' -bench Offsite -benchtime 1x -timeout 60m ./internal/bench
func BenchmarkOffsite(b *testing.B) {
	testenv.RequireDocker(b)
	mb, runs := envInt("OSGS_BENCH_MB", 300), envInt("OSGS_BENCH_RUNS", 3)
	var s3 *testenv.S3
	if link := envInt("OSGS_BENCH_LINK_MBIT", 0); link > 0 {
		s3 = testenv.StartS3Link(b, link)
		b.Logf("the S3 server is behind a %d Mbit/s link (tc tbf on a veth pair)", link)
	} else {
		s3 = testenv.StartS3(b)
	}
	b.Setenv("AWS_ACCESS_KEY_ID", s3.Access)
	b.Setenv("AWS_SECRET_ACCESS_KEY", s3.Secret)
	co := testenv.NewCheckout(b, map[string]string{"BACKUP_S3_CA_FILE": s3.CAFile, "POSTGIS_PITR": "off"})
	co.Cleanup(b)
	e := co.Engine(b)
	e.Out, e.Err = io.Discard, io.Discard // go test cuts a benchmark's long log: keep it to the figures
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Minute)
	defer cancel()
	if err := e.Up(ctx, engine.UpOptions{Services: []string{postgis.Service}}); err != nil {
		b.Fatal(err)
	}
	if _, _, err := offsite.Keygen(e, filepath.Join(b.TempDir(), "id.txt")); err != nil {
		b.Fatal(err)
	}
	// Points with random attributes: compressible like real data, not trivially.
	rows := mb * 1024 * 1024 / 120
	if _, err := postgis.Query(ctx, e, "gis", fmt.Sprintf(`CREATE TABLE pts AS SELECT i AS id, md5(i::text) AS a, random() AS b,
	  ST_SetSRID(ST_MakePoint(random() * 360 - 180, random() * 180 - 90), 4326) AS geom FROM generate_series(1, %d) i`, rows)); err != nil {
		b.Fatal(err)
	}
	root := filepath.Join(co.Dir, "backups")
	base, err := backup.Run(ctx, e, backup.Options{Root: root, Services: []string{postgis.Service}, Config: true, NoStats: true})
	if err != nil {
		b.Fatal(err)
	}
	m, _ := backup.ReadManifest(base)
	var size int64
	for _, f := range m.Files {
		size += f.Size
	}
	b.Logf("set of %d files, %.1f MiB stored (%d rows)", len(m.Files), float64(size)/(1<<20), rows)

	round := 0
	remoteAt := func(prefix string) *offsite.Remote {
		e.Env.Set("BACKUP_REMOTE", s3.URL("bench", fmt.Sprintf("%s-%d-%d", prefix, round, time.Now().UnixNano())))
		r, err := offsite.Open(ctx, e, "")
		if err != nil {
			b.Fatal(err)
		}
		return r
	}
	u, _ := url.Parse(s3.URL("bench", ""))
	mc, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(s3.Access, s3.Secret, ""), Secure: true,
		Transport: testenv.CATransport(b, s3.CAFile), BucketLookup: minio.BucketLookupPath})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	newSet := func(mirror func(string) (backup.Mirror, error)) string {
		now = now.Add(time.Minute)
		dir, err := backup.Run(ctx, e, backup.Options{Root: root, Services: []string{postgis.Service}, Config: true, NoStats: true, Now: now, Mirror: mirror})
		if err != nil {
			b.Fatal(err)
		}
		return dir
	}
	push := &result{name: "(a) backup:push (age, multipart stream)", f: func() int64 {
		r := remoteAt("push")
		defer r.Close()
		res, err := r.Push(ctx, base, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		return res.Bytes
	}}
	plain := &result{name: "(b) minio-go PutObject of the same files", f: func() int64 {
		prefix := fmt.Sprintf("plain-%d-%d/", round, time.Now().UnixNano())
		var n int64
		for _, f := range append(m.Files, backup.Entry{Path: backup.ManifestName}) {
			p := filepath.Join(base, filepath.FromSlash(f.Path))
			in, err := os.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			st, _ := in.Stat()
			info, err := mc.PutObject(ctx, "bench", prefix+f.Path, in, st.Size(), minio.PutObjectOptions{ContentType: "application/octet-stream"})
			in.Close()
			if err != nil {
				b.Fatal(err)
			}
			n += info.Size
		}
		return n
	}}
	onePass := &result{name: "(c) backup:all -push (one pass)", f: func() int64 {
		r := remoteAt("onepass")
		defer r.Close()
		dir := newSet(func(set string) (backup.Mirror, error) { return r.Mirror(ctx, set) })
		defer os.RemoveAll(dir)
		return 0
	}}
	twoPass := &result{name: "(d) backup:all, then backup:push", f: func() int64 {
		r := remoteAt("twopass")
		defer r.Close()
		dir := newSet(nil)
		defer os.RemoveAll(dir)
		if _, err := r.Push(ctx, dir, time.Now()); err != nil {
			b.Fatal(err)
		}
		return 0
	}}
	all := []*result{push, plain, onePass, twoPass}
	for round = 0; round < runs; round++ {
		// The order rotates per round, so no variant always goes first.
		for i := range all {
			r := all[(i+round)%len(all)]
			if !selected(r) {
				continue
			}
			c0, start := busyCPU(), time.Now()
			if n := r.f(); n > 0 {
				r.size = n
			}
			r.times = append(r.times, time.Since(start))
			r.cpu = append(r.cpu, busyCPU()-c0)
		}
	}
	for _, r := range all {
		if len(r.times) > 0 {
			r.report(b)
		}
	}
	if len(push.times) > 0 && len(plain.times) > 0 {
		mibs := func(r *result) float64 { return float64(size) / (1 << 20) / r.median().Seconds() }
		b.Logf("push throughput %.1f MiB/s against minio-go's %.1f MiB/s: %.2fx (goal at least 0.9x); stored %.1f MiB encrypted against %.1f MiB plain",
			mibs(push), mibs(plain), plain.median().Seconds()/push.median().Seconds(), float64(push.size)/(1<<20), float64(plain.size)/(1<<20))
	}
	if len(push.times) > 0 && len(plain.times) > 0 {
		// What encryption alone costs: on loopback both uploads share the
		// cores with the server, so push's own work bounds the ratio.
		floor := sealCPU(b, base, m.Files)
		pc, uc := median(plain.cpu), median(push.cpu)
		busy := func(cpu, wall time.Duration) float64 {
			return 100 * cpu.Seconds() / wall.Seconds() / float64(runtime.NumCPU())
		}
		limit := "the cores had room, so it can overlap the upload"
		if pb := busy(pc, plain.median()); pb >= 70 {
			limit = fmt.Sprintf("the plain upload keeps the cores %.0f%% busy already, and at that load the crypto alone caps push at %.2fx", pb, pc.Seconds()/(pc+floor).Seconds())
		}
		b.Logf("busy CPU (machine, server included): push %.2f s (%.0f%% of %d cores), plain %.2f s (%.0f%%); push's own crypto (age sealing and the two sha256, in-process, one pass) is %.2f CPU-s of the %.2f more: %s",
			uc.Seconds(), busy(uc, push.median()), runtime.NumCPU(), pc.Seconds(), busy(pc, plain.median()), floor.Seconds(), (uc - pc).Seconds(), limit)
	}
	if len(onePass.times) > 0 && len(twoPass.times) > 0 {
		b.Logf("backup:all -push / (backup:all; backup:push): %.2fx the time", onePass.median().Seconds()/twoPass.median().Seconds())
	}
}

// sealCPU is the process CPU time of push's own work on the set's files,
// without the upload: each file read once, hashed, sealed with age to a
// new recipient, and the sealed bytes hashed.
func sealCPU(b *testing.B, dir string, files []backup.Entry) time.Duration {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		b.Fatal(err)
	}
	c0 := processCPU()
	for _, f := range files {
		in, err := os.Open(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil {
			b.Fatal(err)
		}
		var w io.WriteCloser = nopCloser{sha256.New()} // a file sealed already is stored as it is
		if !offsite.StoredAs(f.Path).AsStored {
			if w, err = age.Encrypt(sha256.New(), id.Recipient()); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := io.Copy(io.MultiWriter(sha256.New(), w), in); err != nil {
			b.Fatal(err)
		}
		in.Close()
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	return processCPU() - c0
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// BenchmarkWALArchiving measures pgbench's write load (TPC-B-like, 4
// clients, OSGS_BENCH_SECONDS each, default 30) with WAL archiving to
// pgBackRest's repository 1 on and off, in interleaved rounds.
//
//	go test -run '^$' -bench WALArchiving -benchtime 1x -timeout 60m ./internal/bench
func BenchmarkWALArchiving(b *testing.B) {
	testenv.RequireDocker(b)
	runs, secs := envInt("OSGS_BENCH_RUNS", 3), envInt("OSGS_BENCH_SECONDS", 30)
	co := testenv.NewCheckout(b, nil)
	co.Cleanup(b)
	e := co.Engine(b)
	e.Out, e.Err = io.Discard, io.Discard
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Minute)
	defer cancel()
	tpsRe := regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)
	user := e.Env.Value("POSTGRES_USER")
	if user == "" {
		user = "osgs"
	}
	pgbench := func(args ...string) string {
		out, err := e.Output(ctx, postgis.Service, postgis.OSUser, append([]string{"pgbench", "-h", postgis.Socket, "-U", user}, args...)...)
		if err != nil {
			b.Fatalf("pgbench %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	mode := func(on string) {
		e.Env.Set("POSTGIS_PITR", on)
		if err := e.Up(ctx, engine.UpOptions{Services: []string{postgis.Service}}); err != nil {
			b.Fatal(err)
		}
	}
	mode("on")
	pgbench("-i", "-q", "-s", "20", "gis")
	tps := map[string][]float64{}
	for i := 0; i < runs; i++ {
		order := []string{"on", "off"}
		if i%2 == 1 { // the order alternates, so neither always goes first
			order = []string{"off", "on"}
		}
		for _, on := range order {
			mode(on)
			m := tpsRe.FindStringSubmatch(pgbench("-c", "4", "-j", "2", "-T", strconv.Itoa(secs), "gis"))
			if m == nil {
				b.Fatal("pgbench printed no tps")
			}
			v, _ := strconv.ParseFloat(m[1], 64)
			tps[on] = append(tps[on], v)
		}
	}
	b.Logf("pgbench tps with archiving on %v, off %v: medians %.0f against %.0f, %.2fx", tps["on"], tps["off"], medianOf(tps["on"]), medianOf(tps["off"]), medianOf(tps["on"])/medianOf(tps["off"]))
}
