package tileserver

import (
	"strings"
	"testing"
)

func TestParseRoute(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Route
		err  string
	}{
		{"", Route{Kind: "index"}, ""},
		{"index.json", Route{Kind: "index"}, ""},
		{"health", Route{Kind: "health"}, ""},
		{"roads.json", Route{Kind: "tilejson", Layer: "roads"}, ""},
		{"roads.geom.json", Route{Kind: "tilejson", Layer: "roads.geom"}, ""},
		{"roads/14/8529/5975.pbf", Route{Kind: "tile", Layer: "roads", Z: 14, X: 8529, Y: 5975}, ""},
		{"roads/0/0/0.mvt", Route{Kind: "tile", Layer: "roads", Z: 0, X: 0, Y: 0}, ""},
		{"roads/1/2/0.pbf", Route{}, "outside the grid"},
		{"roads/1/0/2.pbf", Route{}, "outside the grid"},
		{"roads/31/0/0.pbf", Route{}, "outside the grid"},
		{"roads/a/0/0.pbf", Route{}, "not a whole number"},
		{"roads/1/-1/0.pbf", Route{}, "not a whole number"},
		{"roads/1/0/0.png", Route{}, "ends in .pbf"},
		{"roads/1/0", Route{}, "not a tile path"},
		{"../x/1/0/0.pbf/y", Route{}, "not a tile path"},
	} {
		got, err := ParseRoute(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: %+v %v, want %+v", c.in, got, err, c.want)
		}
	}
}

func TestFieldType(t *testing.T) {
	for pg, want := range map[string]string{
		"integer": "Number", "bigint": "Number", "smallint": "Number", "double precision": "Number", "real": "Number", "numeric": "Number",
		"boolean": "Boolean", "text": "String", "character varying": "String", "jsonb": "String", "date": "String", "text[]": "String",
	} {
		if got := fieldType(pg); got != want {
			t.Errorf("%s: %s, want %s", pg, got, want)
		}
	}
}

func TestTileSQL(t *testing.T) {
	l := Layer{ID: "roads", Schema: "publish", Table: `Ro"ads`, Geometry: "geom", Key: "fid", Fields: []Field{
		{Name: "fid", Type: "Number", PGType: "integer"},
		{Name: "name", Type: "String", PGType: "text"},
		{Name: "lanes", Type: "Number", PGType: "numeric"},
		{Name: "open", Type: "Boolean", PGType: "boolean"},
	}}
	merc := TileSQL(l, 3857, 4096, 64)
	for _, want := range []string{
		`ST_TileEnvelope($1, $2, $3, margin => 0.015625)`,
		`ST_AsMVT(q, 'roads', 4096, '__osgs_mvt_geom', 'fid')`,
		`ST_AsMVTGeom(t."geom", e.b, 4096, 64, true)`,
		`t."fid", t."name"::text AS "name", t."lanes"::float8 AS "lanes", t."open"`,
		`FROM "publish"."Ro""ads" t, e`,
		`WHERE t."geom" && e.s`,
	} {
		if !strings.Contains(merc, want) {
			t.Errorf("3857 tile SQL lacks %s:\n%s", want, merc)
		}
	}
	if strings.Contains(merc, "ST_Transform") {
		t.Errorf("a 3857 layer is transformed:\n%s", merc)
	}
	geo := TileSQL(l, 4326, 4096, 64)
	for _, want := range []string{`ST_Transform(m, 4326) AS s`, `ST_Transform(ST_ClipByBox2D(t."geom", e.s), 3857)`} {
		if !strings.Contains(geo, want) {
			t.Errorf("4326 tile SQL lacks %s:\n%s", want, geo)
		}
	}
	l.Key = ""
	if s := TileSQL(l, 3857, 4096, 64); !strings.Contains(s, `ST_AsMVT(q, 'roads', 4096, '__osgs_mvt_geom')`) || !strings.Contains(s, `, t."fid",`) {
		t.Errorf("a layer without a key:\n%s", s)
	}
}

func TestBoundsSQL(t *testing.T) {
	l := Layer{Schema: "publish", Table: "t", Geometry: "g", SRID: 25832}
	if s := BoundsSQL(l); !strings.Contains(s, `ST_EstimatedExtent('publish', 't', 'g')`) || !strings.Contains(s, "25832 AS srid") {
		t.Error(s)
	}
	l.SRID = 0 // a view: no estimate, the SRID of its rows
	if s := BoundsSQL(l); strings.Contains(s, "ST_EstimatedExtent") || !strings.Contains(s, `(SELECT ST_SRID("g") FROM "publish"."t"`) {
		t.Error(s)
	}
}

func TestMakeTileJSON(t *testing.T) {
	l := Layer{ID: "roads", Key: "fid", Fields: []Field{{Name: "fid", Type: "Number"}, {Name: "name", Type: "String"}}}
	tj := MakeTileJSON(l, "https://example.org:8443/tiles/", 0, 14, []float64{8, 48, 9, 49})
	if tj.TileJSON != "3.0.0" || tj.Tiles[0] != "https://example.org:8443/tiles/roads/{z}/{x}/{y}.pbf" || tj.MaxZoom != 14 {
		t.Errorf("%+v", tj)
	}
	if len(tj.VectorLayers) != 1 || tj.VectorLayers[0].ID != "roads" || len(tj.VectorLayers[0].Fields) != 1 || tj.VectorLayers[0].Fields["name"] != "String" {
		t.Errorf("vector_layers %+v (the key is the feature id, not a field)", tj.VectorLayers)
	}
	if tj.Center[0] != 8.5 || tj.Center[1] != 48.5 || tj.Center[2] != 10 {
		t.Errorf("center %v", tj.Center)
	}
	if e := MakeTileJSON(l, "/", 0, 14, nil); e.Bounds != nil || e.Center != nil {
		t.Errorf("an empty layer has bounds %v", e.Bounds)
	}
}
