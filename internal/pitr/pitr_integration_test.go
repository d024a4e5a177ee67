package pitr_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/pitr"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/testenv"
)

const canary = "osgs-pitr-canary-51c2"

// TestPointInTimeRecovery: load data and note the time, change and drop
// tables, recover to the noted time (from repository 1, then from the
// encrypted S3 repository 2), and compare row counts and geometry digests.
// A time outside the range is refused and nothing is touched.
func TestPointInTimeRecovery(t *testing.T) {
	testenv.RequireDocker(t)
	s3 := testenv.StartS3For(t)
	co := testenv.NewCheckout(t, map[string]string{
		"BACKUP_REMOTE":     s3.URL("osgs-pitr", "site"),
		"BACKUP_S3_CA_FILE": s3.CAFile,
	})
	co.Cleanup(t)
	t.Setenv("AWS_ACCESS_KEY_ID", s3.Access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3.Secret)
	e := co.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	// Up runs pitr.Setup: the stanza and a first full backup in both repositories.
	if err := e.Up(ctx, engine.UpOptions{Services: []string{postgis.Service}}); err != nil {
		t.Fatal(err)
	}
	psql := func(sql string) string {
		t.Helper()
		rows, err := postgis.Query(ctx, e, "gis", sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		var out []string
		for _, r := range rows {
			out = append(out, strings.Join(r, " "))
		}
		return strings.Join(out, "\n")
	}
	digest := func() string {
		return psql(`SELECT (SELECT count(*) FROM parcels) || ' ' || (SELECT md5(string_agg(md5(ST_AsEWKB(geom)) || note, '' ORDER BY id)) FROM parcels)
		  || ' ' || (SELECT count(*) FROM roads) || ' ' || (SELECT count(*) FROM pg_tables WHERE tablename = 'later')`)
	}
	psql(`CREATE TABLE parcels (id serial PRIMARY KEY, note text, geom geometry(Polygon, 4326));
	  INSERT INTO parcels (note, geom) SELECT '` + canary + ` ' || i,
	   ST_Buffer(ST_SetSRID(ST_MakePoint(20 + (i % 100) / 10.0, -30 + (i / 100) / 10.0), 4326), 0.01, 4) FROM generate_series(1, 25000) i;
	  CREATE TABLE roads AS SELECT i AS id, ST_MakeLine(ST_MakePoint(i, 0), ST_MakePoint(i, 1)) AS geom FROM generate_series(1, 3000) i`)
	want := digest()
	if !strings.HasPrefix(want, "25000 ") || !strings.HasSuffix(want, " 3000 0") {
		t.Fatalf("fixture digest %q", want)
	}
	time.Sleep(1100 * time.Millisecond)
	target, err := time.Parse("2006-01-02 15:04:05-07", psql(`SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00'`))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	psql(`UPDATE parcels SET geom = ST_Translate(geom, 1, 1) WHERE id % 3 = 0; DELETE FROM parcels WHERE id > 20000;
	  DROP TABLE roads; CREATE TABLE later (x int)`)
	changed := psql(`SELECT count(*) FROM parcels`)
	if changed != "20000" {
		t.Fatalf("after the changes: %s parcels", changed)
	}

	// Refusals touch nothing: the same container keeps running.
	before, _ := e.ContainerOf(ctx, postgis.Service)
	err = pitr.Recover(ctx, e, pitr.RecoverOptions{Target: target.Add(-24 * time.Hour), Yes: true})
	if !errors.Is(err, engine.ErrModel) || !strings.Contains(err.Error(), "outside the recoverable range") {
		t.Fatalf("a target before the first backup: %v", err)
	}
	err = pitr.Recover(ctx, e, pitr.RecoverOptions{Target: time.Now().Add(time.Hour), Yes: true})
	if err == nil || !strings.Contains(err.Error(), "outside the recoverable range") {
		t.Fatalf("a target in the future: %v", err)
	}
	var confirm *engine.ConfirmError
	if err := pitr.Recover(ctx, e, pitr.RecoverOptions{Target: target}); !errors.As(err, &confirm) {
		t.Fatalf("without -yes: %v", err)
	}
	if after, _ := e.ContainerOf(ctx, postgis.Service); after != before || psql(`SELECT count(*) FROM parcels`) != "20000" {
		t.Fatal("a refused recovery touched the server")
	}

	for _, repo := range []int{1, 2} {
		start := time.Now()
		if err := pitr.Recover(ctx, e, pitr.RecoverOptions{Target: target, Repo: repo, Yes: true}); err != nil {
			t.Fatalf("recover from repository %d: %v", repo, err)
		}
		if got := digest(); got != want {
			t.Fatalf("after recovering from repository %d to %s: %q, want %q", repo, target, got, want)
		}
		t.Logf("recovery from repository %d took %s", repo, time.Since(start).Round(time.Second))
		psql(`DELETE FROM parcels WHERE id < 100`) // the next round must undo this too
	}

	var status bytes.Buffer
	if err := pitr.Status(ctx, e, &status); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"WAL archiving: on", "recoverable:", "aes-256-cbc", "full"} {
		if !strings.Contains(status.String(), w) {
			t.Errorf("postgis:wal lacks %q:\n%s", w, status.String())
		}
	}
	// Repository 2 holds data, none of it readable.
	var stored int
	filepath.WalkDir(filepath.Join(s3.Data, "osgs-pitr"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			stored++
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(canary)) {
				t.Errorf("%s holds plaintext", p)
			}
		}
		return nil
	})
	if stored < 5 {
		t.Fatalf("repository 2 holds %d files", stored)
	}
}
