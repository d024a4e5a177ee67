package osm_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/gisdata"
	"github.com/osgs/osgs/internal/osm"
	"github.com/osgs/osgs/internal/osm/osmtest"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/testenv"
	"github.com/osgs/osgs/internal/tools"
)

func query(t *testing.T, ctx context.Context, h *tools.Helper, sql string) string {
	t.Helper()
	rows, err := h.Query(ctx, "osm", sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if len(rows) == 0 {
		return ""
	}
	return rows[0][0]
}

// run runs a script in the test's own tools helper and copies outputs out.
func run(t *testing.T, ctx context.Context, h *tools.Helper, script, dir string, outputs ...string) {
	t.Helper()
	var errb bytes.Buffer
	if err := h.Run(ctx, []string{"bash", "-euc", "cd /work; " + script}, nil, nil, &errb); err != nil {
		t.Fatalf("%v: %s", err, errb.String())
	}
	for _, o := range outputs {
		f, err := os.Create(filepath.Join(dir, o))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.Get(ctx, o, f); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
}

func osmiumCount(t *testing.T, ctx context.Context, h *tools.Helper, file, filter, kind string) int64 {
	t.Helper()
	out, err := h.Output(ctx, "bash", "-euc", fmt.Sprintf("cd /work; osmium tags-filter -R --overwrite -o /tmp/f.osm.pbf %s %s >/dev/null && osmium fileinfo -e -g data.count.%s /tmp/f.osm.pbf", file, filter, kind))
	if err != nil {
		t.Fatalf("osmium %s: %v", filter, err)
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	return n
}

// TestMirror imports a real extract (Karlsruhe's boundary, from osmium-tool's
// examples) merged with a synthetic town that has every kind of object the
// style keeps, checks each table against osmium's own counts, applies a
// change made with osmium derive-changes, and checks that a failed import
// or update leaves the mirror as it was.
func TestMirror(t *testing.T) {
	real := filepath.Join(testenv.DebData(t, "osmium-tool", "usr/share/doc/osmium-tool/examples/extract-example-config/"), "karlsruhe.osm.bz2")
	ctx, _, e := testenv.Start(t, 30*time.Minute, nil, postgis.Service)
	dir := t.TempDir()
	town := osmtest.Town{Blocks: 30, Lon: 8.6, Lat: 49.1}
	f, err := os.Create(filepath.Join(dir, "town.osm"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := town.Write(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The changed town: a renamed street and a new place.
	var changed bytes.Buffer
	if _, err := town.Write(&changed); err != nil {
		t.Fatal(err)
	}
	edited := changed.String()
	at := strings.Index(edited, `v="Street 3"/>`)
	start := strings.LastIndex(edited[:at], " <way id=")
	way := strings.Replace(edited[start:at], `version="1" timestamp="2026-11-01T00:00:00Z"`, `version="2" timestamp="2026-11-02T00:00:00Z"`, 1)
	edited = edited[:start] + way + `v="Harbour Street"/>` + edited[at+len(`v="Street 3"/>`):]
	edited = strings.Replace(edited, ` <way id=`, fmt.Sprintf(` <node id="19000000000" version="1" timestamp="2026-11-02T00:00:00Z" changeset="2" uid="1" user="osgs" lat="49.11" lon="8.61">`+"\n"+`  <tag k="place" v="hamlet"/>`+"\n"+`  <tag k="name" v="Newhamlet"/>`+"\n </node>\n <way id="), 1)
	if err := os.WriteFile(filepath.Join(dir, "town2.osm"), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	clip := filepath.Join(dir, "clip.geojson")
	os.WriteFile(clip, []byte(`{"type":"Polygon","coordinates":[[[8.59,49.09],[8.6155,49.09],[8.6155,49.1155],[8.59,49.1155],[8.59,49.09]]]}`), 0o644)

	h, err := tools.Start(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, p := range []string{real, filepath.Join(dir, "town.osm"), filepath.Join(dir, "town2.osm")} {
		if err := gisdata.Upload(ctx, h, p, nil); err != nil {
			t.Fatal(err)
		}
	}
	run(t, ctx, h, `osmium merge karlsruhe.osm.bz2 town.osm -o extract.osm.pbf
osmium derive-changes town.osm town2.osm -o change.osc.gz
head -c 5000 extract.osm.pbf > broken.osm.pbf`, dir, "extract.osm.pbf", "change.osc.gz", "broken.osm.pbf")
	// The Karlsruhe boundary relation's admin_level is real data.
	boundaries := osmiumCount(t, ctx, h, "extract.osm.pbf", "r/boundary=administrative", "relations")

	var prog bytes.Buffer
	res, err := osm.Import(ctx, e, osm.Options{File: filepath.Join(dir, "extract.osm.pbf"), Progress: gisdata.NewProgress(&prog, false)})
	if err != nil {
		t.Fatal(err)
	}
	for table, n := range map[string]int64{
		"roads": osmiumCount(t, ctx, h, "extract.osm.pbf", "w/highway", "ways"), "railways": want.Railways, "waterways": want.Waterways,
		"buildings": osmiumCount(t, ctx, h, "extract.osm.pbf", "w/building", "ways") + osmiumCount(t, ctx, h, "extract.osm.pbf", "r/building", "relations"),
		"landuse":   osmiumCount(t, ctx, h, "extract.osm.pbf", "w/landuse", "ways"), "water": osmiumCount(t, ctx, h, "extract.osm.pbf", "w/natural=water", "ways"),
		"places": osmiumCount(t, ctx, h, "extract.osm.pbf", "n/place", "nodes"), "pois": osmiumCount(t, ctx, h, "extract.osm.pbf", "n/amenity", "nodes"),
		"boundaries": boundaries,
	} {
		if res.Counts[table] != n {
			t.Errorf("%s: %d rows, osmium counts %d", table, res.Counts[table], n)
		}
	}
	if res.Counts["roads"] != want.Roads || boundaries != want.Boundaries+1 {
		t.Errorf("roads %d (town has %d), boundaries %d (town and Karlsruhe: %d)", res.Counts["roads"], want.Roads, boundaries, want.Boundaries+1)
	}
	if got := query(t, ctx, h, "SELECT count(*) FROM osm.boundaries WHERE admin_level IS NOT NULL AND ST_SRID(geom) = 3857 AND GeometryType(geom) = 'MULTIPOLYGON'"); got != strconv.FormatInt(boundaries, 10) {
		t.Errorf("%s boundaries with admin_level as 3857 multipolygons", got)
	}
	if got := query(t, ctx, h, "SELECT count(*) FROM osm.buildings WHERE name = 'Courtyard' AND ST_NumInteriorRings(ST_GeometryN(geom, 1)) = 1"); got != "1" {
		t.Errorf("the multipolygon building with its courtyard: %s", got)
	}
	if !strings.Contains(prog.String(), "osm2pgsql extract.osm.pbf: ") {
		t.Errorf("progress: %q", prog.String())
	}

	st, err := osm.ReadStatus(ctx, e, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(st.DataTime, "2026-11-01") || st.File != "extract.osm.pbf" || st.Sequence != "" {
		t.Errorf("status %+v", st)
	}

	t.Run("update from a change file", func(t *testing.T) {
		if got := query(t, ctx, h, "SELECT count(*) FROM osm.roads WHERE name = 'Harbour Street'"); got != "0" {
			t.Fatalf("already renamed: %s", got)
		}
		if _, err := osm.Update(ctx, e, osm.Options{File: filepath.Join(dir, "change.osc.gz")}); err != nil {
			t.Fatal(err)
		}
		if got := query(t, ctx, h, "SELECT count(*) FROM osm.roads WHERE name = 'Harbour Street'") + query(t, ctx, h, "SELECT count(*) FROM osm.roads WHERE name = 'Street 3'"); got != "10" {
			t.Errorf("renamed street: %s (want 1 Harbour Street, 0 Street 3)", got)
		}
		if got := query(t, ctx, h, "SELECT place FROM osm.places WHERE name = 'Newhamlet'"); got != "hamlet" {
			t.Errorf("new place: %q", got)
		}
		st, err := osm.ReadStatus(ctx, e, "")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(st.DataTime, "2026-11-02") || st.LastSource != "change.osc.gz" {
			t.Errorf("status after the update: %+v", st)
		}
	})

	before := fmt.Sprint(mustCounts(t, ctx, e))
	t.Run("a failed import leaves the mirror", func(t *testing.T) {
		_, err := osm.Import(ctx, e, osm.Options{File: filepath.Join(dir, "broken.osm.pbf")})
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Fatalf("import of a cut-off file: %v, want a one-line error", err)
		}
		lctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(4*time.Second, cancel)
		_, err = osm.Import(lctx, e, osm.Options{File: filepath.Join(dir, "extract.osm.pbf")})
		cancel()
		if err == nil {
			t.Log("the import finished before it was cancelled")
		}
		if after := fmt.Sprint(mustCounts(t, ctx, e)); after != before && err != nil {
			t.Errorf("counts before %s, after %s", before, after)
		}
		if n := query(t, ctx, h, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'osm\\_import\\_%'"); n != "0" {
			t.Errorf("%s import schemas left", n)
		}
	})
	t.Run("a bad change file changes nothing", func(t *testing.T) {
		// Counted again: the import above may have finished before its
		// cancel, and then replaced the mirror (without the update).
		before := fmt.Sprint(mustCounts(t, ctx, e))
		bad := filepath.Join(dir, "bad.osc")
		os.WriteFile(bad, []byte("<osmChange version=\"0.6\"><modify><node id=\"1\""), 0o644)
		if _, err := osm.Update(ctx, e, osm.Options{File: bad}); !errors.Is(err, gisdata.ErrRefused) {
			t.Fatalf("update: %v, want refused", err)
		}
		if after := fmt.Sprint(mustCounts(t, ctx, e)); after != before {
			t.Errorf("counts before %s, after %s", before, after)
		}
		if _, err := osm.Update(ctx, e, osm.Options{}); !errors.Is(err, gisdata.ErrRefused) {
			t.Errorf("update without a file or a replication server: %v, want refused", err)
		}
	})
	t.Run("update from a replication server", func(t *testing.T) {
		// A replication server on the project network: a tools helper
		// serving sequence 2 (the change) after sequence 1 (the import).
		srv, err := tools.Start(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		ip, err := srv.IP(ctx)
		if err != nil {
			t.Fatal(err)
		}
		url := "http://" + ip + ":8000"
		if err := gisdata.Upload(ctx, srv, filepath.Join(dir, "change.osc.gz"), nil); err != nil {
			t.Fatal(err)
		}
		var errb bytes.Buffer
		state := func(seq int, ts string) string {
			return fmt.Sprintf("printf '#osgs\\nsequenceNumber=%d\\ntimestamp=%s\\n' > repl/000/000/%03d.state.txt", seq, strings.ReplaceAll(ts, ":", "\\\\:"), seq)
		}
		script := "cd /work && mkdir -p repl/000/000 && cp change.osc.gz repl/000/000/002.osc.gz && " +
			state(1, "2026-11-01T00:00:00Z") + " && " + state(2, "2026-11-02T00:00:00Z") + " && cp repl/000/000/002.state.txt repl/state.txt"
		if err := srv.Run(ctx, []string{"bash", "-euc", script}, nil, nil, &errb); err != nil {
			t.Fatalf("%v: %s", err, errb.String())
		}
		sctx, stop := context.WithCancel(ctx)
		defer stop()
		go srv.Run(sctx, []string{"python3", "-m", "http.server", "8000", "--bind", "0.0.0.0", "--directory", "/work/repl"}, nil, nil, nil)
		// The extract names that server and its sequence 1, as Geofabrik's do.
		run(t, ctx, h, fmt.Sprintf(`osmium cat --overwrite town.osm -o repl.osm.pbf --output-header=osmosis_replication_base_url=%s --output-header=osmosis_replication_sequence_number=1 --output-header=osmosis_replication_timestamp=2026-11-01T00:00:00Z`, url), dir, "repl.osm.pbf")
		if _, err := osm.Import(ctx, e, osm.Options{File: filepath.Join(dir, "repl.osm.pbf")}); err != nil {
			t.Fatal(err)
		}
		st, err := osm.ReadStatus(ctx, e, "")
		if err != nil {
			t.Fatal(err)
		}
		if st.Sequence != "1" {
			t.Fatalf("replication sequence after the import: %q, want 1", st.Sequence)
		}
		if _, err := osm.Update(ctx, e, osm.Options{}); err != nil {
			t.Fatal(err)
		}
		if got := query(t, ctx, h, "SELECT count(*) FROM osm.roads WHERE name = 'Harbour Street'"); got != "1" {
			t.Errorf("the server's change: %s Harbour Streets", got)
		}
		st, err = osm.ReadStatus(ctx, e, "")
		if err != nil {
			t.Fatal(err)
		}
		if st.Sequence != "2" || st.LastSource != "replication" || !strings.HasPrefix(st.DataTime, "2026-11-02") {
			t.Errorf("status after the update: %+v", st)
		}
	})
	t.Run("clipped import", func(t *testing.T) {
		res, err := osm.Import(ctx, e, osm.Options{File: filepath.Join(dir, "extract.osm.pbf"), Clip: clip})
		if err != nil {
			t.Fatal(err)
		}
		if res.Counts["roads"] == 0 || res.Counts["roads"] >= want.Roads || res.Counts["buildings"] >= want.Buildings {
			t.Errorf("clipped counts %v", res.Counts)
		}
		if out := query(t, ctx, h, "SELECT count(*) FROM osm.buildings WHERE NOT ST_Intersects(ST_Transform(geom, 4326), ST_MakeEnvelope(8.59, 49.09, 8.6155, 49.1155, 4326))"); out != "0" {
			t.Errorf("%s buildings outside the clip polygon", out)
		}
	})
}

func mustCounts(t *testing.T, ctx context.Context, e *engine.Engine) map[string]int64 {
	t.Helper()
	st, err := osm.ReadStatus(ctx, e, "")
	if err != nil {
		t.Fatal(err)
	}
	return st.Counts
}
