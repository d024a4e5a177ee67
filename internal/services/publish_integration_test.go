package services_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/maptile"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/testenv"
)

// publishFixture makes the published data: points in 4326 with names and
// populations, polygons in UTM 32N (25832), a view over the points, and a
// private table outside the published schema.
func publishFixture(ctx context.Context, t *testing.T, e *engine.Engine) *pgx.Conn {
	t.Helper()
	s := postgis.Load(e)
	conn, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%s dbname=gis user=%s password=%s sslmode=require", s.Host, s.Port, s.User, e.Env.Value("POSTGRES_PASSWORD")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	for _, q := range []string{
		// 40 x 25 points around Karlsruhe, 0.01 degrees apart.
		`CREATE TABLE publish.places (fid serial PRIMARY KEY, name text NOT NULL, pop integer, area numeric, tags jsonb, geom geometry(Point, 4326))`,
		`INSERT INTO publish.places (name, pop, area, tags, geom)
		 SELECT 'p-' || i || '-' || j, i * 100 + j, (i + j) / 4.0, jsonb_build_object('i', i), ST_SetSRID(ST_MakePoint(8.2 + i * 0.01, 48.9 + j * 0.01), 4326)
		 FROM generate_series(0, 39) i, generate_series(0, 24) j`,
		`CREATE TABLE publish.parks (fid serial PRIMARY KEY, name text, geom geometry(Polygon, 25832))`,
		// Two squares of 500 m in UTM 32N, near Karlsruhe's centre.
		`INSERT INTO publish.parks (name, geom) VALUES
		 ('Schlossgarten', ST_MakeEnvelope(456000, 5430000, 456500, 5430500, 25832)),
		 ('Stadtgarten', ST_MakeEnvelope(456000, 5428000, 456500, 5428500, 25832))`,
		`CREATE VIEW publish.big_places AS SELECT fid, name, pop, geom FROM publish.places WHERE pop >= 3000`,
		`CREATE TABLE public.secret_sites (fid serial PRIMARY KEY, code text, geom geometry(Point, 4326))`,
		`INSERT INTO public.secret_sites (code, geom) VALUES ('s3cret-site', ST_SetSRID(ST_MakePoint(8.3, 49.0), 4326))`,
		`ANALYZE publish.places`, `ANALYZE publish.parks`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return conn
}

// TestFeaturesAndTiles publishes tables through the publish schema and
// reads them back through nginx: pg_featureserv's OGC API Features at
// /features/ and osgs-tiles' vector tiles at /tiles/. Only the published
// schema is reachable, by URL or by SQL as the services' roles, and every
// link carries the public https address.
func TestFeaturesAndTiles(t *testing.T) {
	ctx, c, e := start(t, "nginx", "postgis", "features", "tiles")
	for svc, key := range map[string]string{"features": "FEATURES_DB_PASSWORD", "tiles": "TILES_DB_PASSWORD"} {
		secretNowhere(t, ctx, e, svc, e.Env.Value(key))
	}
	db := publishFixture(ctx, t, e)
	s := c.Site(t, e)

	t.Run("features", func(t *testing.T) {
		var cols struct {
			Collections []struct {
				ID    string `json:"id"`
				Links []struct {
					Href string `json:"href"`
				} `json:"links"`
			} `json:"collections"`
		}
		s.GetJSON("/features/collections.json", &cols)
		var ids []string
		for _, col := range cols.Collections {
			ids = append(ids, col.ID)
			for _, l := range col.Links {
				if !strings.HasPrefix(l.Href, s.Base()+"/features/") {
					t.Errorf("collection %s links to %s, not the public %s/features/", col.ID, l.Href, s.Base())
				}
			}
		}
		slices.Sort(ids)
		if want := []string{"publish.big_places", "publish.parks", "publish.places"}; !slices.Equal(ids, want) {
			t.Errorf("collections %v, want exactly %v", ids, want)
		}

		// A bbox filter returns exactly the rows PostGIS finds in it.
		bbox := []float64{8.25, 48.95, 8.4, 49.0}
		var want int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM publish.places WHERE ST_Intersects(geom, ST_MakeEnvelope($1, $2, $3, $4, 4326))`, bbox[0], bbox[1], bbox[2], bbox[3]).Scan(&want); err != nil {
			t.Fatal(err)
		}
		var fc struct {
			Type     string `json:"type"`
			Returned int    `json:"numberReturned"`
			Features []struct {
				ID         any            `json:"id"`
				Geometry   map[string]any `json:"geometry"`
				Properties map[string]any `json:"properties"`
			} `json:"features"`
		}
		s.GetJSON(fmt.Sprintf("/features/collections/publish.places/items.json?bbox=%g,%g,%g,%g&limit=10000", bbox[0], bbox[1], bbox[2], bbox[3]), &fc)
		if want == 0 || fc.Type != "FeatureCollection" || len(fc.Features) != want {
			t.Fatalf("bbox items: %d features (numberReturned %d), PostGIS counts %d", len(fc.Features), fc.Returned, want)
		}
		// Every feature's point is the table's, by name.
		for _, f := range fc.Features {
			var lon, lat float64
			if err := db.QueryRow(ctx, `SELECT ST_X(geom), ST_Y(geom) FROM publish.places WHERE name = $1`, f.Properties["name"]).Scan(&lon, &lat); err != nil {
				t.Fatalf("feature %v: %v", f.Properties, err)
			}
			xy, _ := f.Geometry["coordinates"].([]any)
			if f.Geometry["type"] != "Point" || len(xy) != 2 || math.Abs(xy[0].(float64)-lon) > 1e-9 || math.Abs(xy[1].(float64)-lat) > 1e-9 {
				t.Fatalf("feature %v has geometry %v, the table has POINT(%v %v)", f.Properties["name"], f.Geometry, lon, lat)
			}
		}
		// UTM polygons come back in longitude and latitude, where PostGIS puts them.
		s.GetJSON("/features/collections/publish.parks/items.json", &fc)
		if len(fc.Features) != 2 {
			t.Fatalf("parks: %d features", len(fc.Features))
		}
		for _, f := range fc.Features {
			var wantJSON string
			if err := db.QueryRow(ctx, `SELECT ST_AsGeoJSON(ST_Transform(geom, 4326))::json -> 'coordinates' FROM publish.parks WHERE name = $1`, f.Properties["name"]).Scan(&wantJSON); err != nil {
				t.Fatal(err)
			}
			var wantRings [][][2]float64
			json.Unmarshal([]byte(wantJSON), &wantRings)
			rings, _ := json.Marshal(f.Geometry["coordinates"])
			var got [][][2]float64
			json.Unmarshal(rings, &got)
			if len(got) != 1 || len(got[0]) != len(wantRings[0]) {
				t.Fatalf("park %v: rings %v, want %v", f.Properties["name"], got, wantRings)
			}
			for i := range got[0] {
				if math.Abs(got[0][i][0]-wantRings[0][i][0]) > 1e-6 || math.Abs(got[0][i][1]-wantRings[0][i][1]) > 1e-6 {
					t.Fatalf("park %v vertex %d: %v, want %v", f.Properties["name"], i, got[0][i], wantRings[0][i])
				}
			}
		}
		// The private table is not reachable by URL.
		if code, body := s.Get("/features/collections/public.secret_sites/items.json"); code != http.StatusNotFound || strings.Contains(string(body), "s3cret") {
			t.Errorf("the private table through /features/: %d %s", code, body)
		}
	})

	t.Run("tiles", func(t *testing.T) {
		var index []struct {
			ID       string `json:"id"`
			TileJSON string `json:"tilejson"`
		}
		s.GetJSON("/tiles/index.json", &index)
		var ids []string
		for _, l := range index {
			ids = append(ids, l.ID)
			if l.TileJSON != s.Base()+"/tiles/"+l.ID+".json" {
				t.Errorf("layer %s: TileJSON at %s", l.ID, l.TileJSON)
			}
		}
		if want := []string{"big_places", "parks", "places"}; !slices.Equal(ids, want) {
			t.Errorf("tile layers %v, want exactly %v", ids, want)
		}
		var tj struct {
			Tiles        []string  `json:"tiles"`
			Bounds       []float64 `json:"bounds"`
			VectorLayers []struct {
				ID     string            `json:"id"`
				Fields map[string]string `json:"fields"`
			} `json:"vector_layers"`
		}
		s.GetJSON("/tiles/places.json", &tj)
		if len(tj.Tiles) != 1 || tj.Tiles[0] != s.Base()+"/tiles/places/{z}/{x}/{y}.pbf" {
			t.Errorf("TileJSON tiles %v", tj.Tiles)
		}
		if len(tj.Bounds) != 4 || math.Abs(tj.Bounds[0]-8.2) > 0.02 || math.Abs(tj.Bounds[3]-49.14) > 0.02 {
			t.Errorf("TileJSON bounds %v, want about [8.2 48.9 8.59 49.14]", tj.Bounds)
		}
		if len(tj.VectorLayers) != 1 || tj.VectorLayers[0].Fields["name"] != "String" || tj.VectorLayers[0].Fields["pop"] != "Number" {
			t.Errorf("TileJSON vector_layers %+v", tj.VectorLayers)
		}

		// The z14 tile holding p-10-5 has exactly the points PostGIS puts
		// in it (with its buffer), each where the table has it.
		tile := maptile.At(orb.Point{8.3, 48.95}, 14)
		var want int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM publish.places WHERE ST_Intersects(ST_Transform(geom, 3857), ST_TileEnvelope($1, $2, $3, margin => 64 / 4096.0))`, 14, int(tile.X), int(tile.Y)).Scan(&want); err != nil {
			t.Fatal(err)
		}
		layers := fetchTile(t, s, fmt.Sprintf("/tiles/places/14/%d/%d.pbf", tile.X, tile.Y))
		if len(layers) != 1 || layers[0].Name != "places" {
			t.Fatalf("tile layers %v", layers)
		}
		layers.ProjectToWGS84(tile)
		feats := layers[0].Features
		if want == 0 || len(feats) != want {
			t.Fatalf("z14 tile %v: %d features, PostGIS puts %d in it", tile, len(feats), want)
		}
		found := false
		for _, f := range feats {
			name, _ := f.Properties["name"].(string)
			var lon, lat float64
			var fid, pop int
			if err := db.QueryRow(ctx, `SELECT fid, pop, ST_X(geom), ST_Y(geom) FROM publish.places WHERE name = $1`, name).Scan(&fid, &pop, &lon, &lat); err != nil {
				t.Fatalf("tile feature %v: %v", f.Properties, err)
			}
			p := f.Geometry.(orb.Point)
			// One tile unit at z14 is 2.4 m: 1e-4 degrees is about 7 m.
			if math.Abs(p[0]-lon) > 1e-4 || math.Abs(p[1]-lat) > 1e-4 {
				t.Errorf("%s drawn at %v, the table has (%v %v)", name, p, lon, lat)
			}
			if fmt.Sprint(f.ID) != fmt.Sprint(fid) || f.Properties["pop"] != float64(pop) {
				t.Errorf("%s: id %v pop %v, the table has %d and %d", name, f.ID, f.Properties["pop"], fid, pop)
			}
			if name == "p-10-5" {
				found = true
				if _, ok := f.Properties["tags"].(string); !ok {
					t.Errorf("jsonb travels as text: %#v", f.Properties["tags"])
				}
			}
		}
		if !found {
			t.Error("p-10-5 is not in its tile")
		}

		// A UTM polygon lands in the tile that holds it, with its name.
		var lon, lat float64
		if err := db.QueryRow(ctx, `SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Transform(ST_Centroid(geom), 4326) c FROM publish.parks WHERE name = 'Schlossgarten') x`).Scan(&lon, &lat); err != nil {
			t.Fatal(err)
		}
		pt := maptile.At(orb.Point{lon, lat}, 15)
		parks := fetchTile(t, s, fmt.Sprintf("/tiles/parks/15/%d/%d.pbf", pt.X, pt.Y))
		if len(parks) != 1 || len(parks[0].Features) != 1 || parks[0].Features[0].Properties["name"] != "Schlossgarten" {
			t.Fatalf("parks tile %v: %+v", pt, parks)
		}
		if _, ok := parks[0].Features[0].Geometry.(orb.Polygon); !ok {
			t.Errorf("a park is a %T", parks[0].Features[0].Geometry)
		}
		// The view (no declared SRID) is served too; a tile far away is empty.
		// (pop >= 3000: the points east of 8.5).
		vt := maptile.At(orb.Point{8.55, 48.95}, 14)
		if l := fetchTile(t, s, fmt.Sprintf("/tiles/big_places/14/%d/%d.pbf", vt.X, vt.Y)); len(l) != 1 || len(l[0].Features) == 0 {
			t.Errorf("view tile %v: %+v", vt, l)
		}
		if l := fetchTile(t, s, fmt.Sprintf("/tiles/big_places/14/%d/%d.pbf", tile.X, tile.Y)); len(l) != 0 {
			t.Errorf("the view's rows are filtered, yet tile %v has %+v", tile, l)
		}
		if l := fetchTile(t, s, "/tiles/places/14/0/0.pbf"); len(l) != 0 {
			t.Errorf("an empty tile has %d layers", len(l))
		}
		// Nothing outside the schema, and no bad coordinates.
		for _, p := range []string{"/tiles/secret_sites/0/0/0.pbf", "/tiles/secret_sites.json", "/tiles/places/3/8/0.pbf", "/tiles/places/x/0/0.pbf"} {
			if code, body := s.Get(p); code != http.StatusNotFound || strings.Contains(string(body), "s3cret") {
				t.Errorf("GET %s: %d %s", p, code, body)
			}
		}
		// A table published later is served at once.
		if _, err := db.Exec(ctx, `CREATE TABLE publish.later AS SELECT 1 AS fid, ST_SetSRID(ST_MakePoint(8.3, 48.95), 4326)::geometry(Point, 4326) AS geom`); err != nil {
			t.Fatal(err)
		}
		if l := fetchTile(t, s, fmt.Sprintf("/tiles/later/14/%d/%d.pbf", tile.X, tile.Y)); len(l) != 1 || len(l[0].Features) != 1 {
			t.Errorf("a table published after start: %+v", l)
		}
	})

	// By SQL, as each service's role: the published schema reads, nothing
	// else does, and nothing writes.
	sets := postgis.Load(e)
	for role, key := range map[string]string{"features_reader": "FEATURES_DB_PASSWORD", "tiles_reader": "TILES_DB_PASSWORD"} {
		conn, err := pgx.Connect(ctx, fmt.Sprintf("host=%s port=%s dbname=gis user=%s password=%s sslmode=require", sets.Host, sets.Port, role, e.Env.Value(key)))
		if err != nil {
			t.Fatalf("login as %s: %v", role, err)
		}
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM publish.places`).Scan(&n); err != nil || n != 1000 {
			t.Errorf("%s reads publish.places: %d %v", role, n, err)
		}
		for _, q := range []string{
			`SELECT code FROM public.secret_sites`,
			`INSERT INTO publish.places (name) VALUES ('x')`,
			`DELETE FROM publish.places`,
			`CREATE TABLE publish.mine (id int)`,
		} {
			if _, err := conn.Exec(ctx, q); err == nil || !strings.Contains(err.Error(), "permission denied") {
				t.Errorf("%s: %s: %v, want permission denied", role, q, err)
			}
		}
		conn.Close(ctx)
	}
}

func fetchTile(t *testing.T, s *testenv.Site, path string) mvt.Layers {
	t.Helper()
	code, body := s.Get(path)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	layers, err := mvt.Unmarshal(body)
	if err != nil {
		t.Fatalf("GET %s: not a vector tile: %v", path, err)
	}
	return layers
}
