package gisdata

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestColumnType(t *testing.T) {
	for _, c := range []struct {
		name      string
		l         Layer
		nlt, dims string
	}{
		{"declared", Layer{Flat: "Point"}, "POINT", "XY"},
		{"declared multi, 3D", Layer{Flat: "Multi Polygon", Z: true}, "MULTIPOLYGON", "XYZ"},
		{"scanned single", Layer{Flat: "Polygon", Types: []string{"Polygon"}}, "POLYGON", "XY"},
		{"mixed polygons", Layer{Flat: "Polygon", Types: []string{"Polygon", "Multi Polygon"}}, "MULTIPOLYGON", "XY"},
		{"mixed, as OGR SQL names them", Layer{Flat: "Polygon", Types: []string{"POLYGON", "MULTIPOLYGON"}}, "MULTIPOLYGON", "XY"},
		{"mixed lines, M", Layer{Flat: "Unknown (any)", M: true, Types: []string{"Line String", "Multi Line String"}}, "MULTILINESTRING", "XYM"},
		{"mixed points, ZM", Layer{Flat: "Point", Z: true, M: true, Types: []string{"Point", "Multi Point"}}, "MULTIPOINT", "XYZM"},
		{"curves and lines", Layer{Flat: "Unknown (any)", Types: []string{"Line String", "Circular String"}}, "MULTICURVE", "XY"},
		{"surfaces", Layer{Flat: "Unknown (any)", Types: []string{"Polygon", "Curve Polygon"}}, "MULTISURFACE", "XY"},
		{"unrelated", Layer{Flat: "Unknown (any)", Types: []string{"Point", "Polygon"}}, "GEOMETRY", "XY"},
		{"all null", Layer{Flat: "Point", Types: []string{}}, "POINT", "XY"},
		{"no geometry", Layer{Flat: "None"}, "NONE", "XY"},
	} {
		nlt, dims := ColumnType(c.l)
		if nlt != c.nlt || dims != c.dims {
			t.Errorf("%s: %s %s, want %s %s", c.name, nlt, dims, c.nlt, c.dims)
		}
	}
}

func TestNeedsScan(t *testing.T) {
	if !needsScan("ESRI Shapefile", Layer{Flat: "Polygon"}) || !needsScan("GPKG", Layer{Flat: "Unknown (any)"}) {
		t.Error("shapefiles and undeclared types must be scanned")
	}
	if needsScan("GPKG", Layer{Flat: "Multi Polygon"}) || needsScan("CSV", Layer{Flat: "None"}) {
		t.Error("a declared GeoPackage type, or no geometry, needs no scan")
	}
}

func TestTableName(t *testing.T) {
	for in, want := range map[string]string{
		"ne_110m_admin_0_countries": "ne_110m_admin_0_countries",
		"Roads (2024)":              "roads_2024",
		"2024 parcels":              "t_2024_parcels",
		"Straßen":                   "stra_en",
		"***":                       "layer",
		strings.Repeat("a", 70):     strings.Repeat("a", 63),
	} {
		if got := TableName(in); got != want {
			t.Errorf("TableName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestChooseSRS(t *testing.T) {
	epsg := &SRS{Auth: "EPSG", Code: "27700"}
	custom := &SRS{Proj4: "+proj=tmerc +lat_0=0"}
	for _, c := range []struct {
		name   string
		driver string
		src    *SRS
		target *TargetSRS
		match  int
		args   []string
		srid   int
		note   bool
	}{
		{"keep EPSG", "GPKG", epsg, nil, 0, nil, 27700, false},
		{"reproject to EPSG", "GPKG", epsg, &TargetSRS{SRID: 3857, AuthName: "EPSG", AuthSRID: 3857}, 0, []string{"-t_srs", "EPSG:3857"}, 3857, false},
		{"reproject to custom", "GPKG", epsg, &TargetSRS{SRID: 990001, SRText: "PROJCS[x]"}, 0, []string{"-t_srs", "PROJCS[x]"}, 990001, false},
		{"assign to a CRS-less source", "ESRI Shapefile", nil, &TargetSRS{SRID: 2056, AuthName: "EPSG", AuthSRID: 2056}, 0, []string{"-a_srs", "EPSG:2056"}, 2056, false},
		{"custom matched", "GPKG", custom, nil, 990002, nil, 990002, false},
		{"custom unmatched", "GPKG", custom, nil, 0, nil, 0, true},
		{"CSV assumed WGS 84", "CSV", nil, nil, 0, []string{"-a_srs", "EPSG:4326"}, 4326, true},
		{"no CRS", "GML", nil, nil, 0, nil, 0, true},
	} {
		got := ChooseSRS(c.driver, c.src, c.target, c.match)
		if !slices.Equal(got.Args, c.args) || got.SRID != c.srid || (got.Note != "") != c.note {
			t.Errorf("%s: %+v", c.name, got)
		}
	}
}

func TestOgr2ogrArgs(t *testing.T) {
	l := LayerLoad{Layer: Layer{Name: "roads"}, Schema: "public", Table: "roads", Staging: "_osgs_load_x_0", NLT: "MULTILINESTRING", Dim: "XY"}
	argv := strings.Join(Ogr2ogrArgs(nil, "/work/r.gpkg", "service=osgs dbname='gis'", l, true), " ")
	for _, want := range []string{
		"-update", "PG_USE_COPY YES", "-doo PRELUDE_STATEMENTS=BEGIN",
		`-doo CLOSING_STATEMENTS=CREATE INDEX "_osgs_load_x_0_geom_idx" ON "public"."_osgs_load_x_0" USING gist (geom); COMMIT`,
		"-nln _osgs_load_x_0", "-lco FID=fid", "-lco PRECISION=NO", "-nlt MULTILINESTRING -dim XY", "-preserve_fid",
	} {
		if !strings.Contains(argv, want) {
			t.Errorf("argv lacks %q: %s", want, argv)
		}
	}
	l.Append = true
	argv = strings.Join(Ogr2ogrArgs(nil, "/work/r.gpkg", "c", l, false), " ")
	if !strings.Contains(argv, "-append") || !strings.Contains(argv, "-nln roads") || strings.Contains(argv, "CREATE INDEX") {
		t.Errorf("append argv: %s", argv)
	}
}

func TestFinalizeSQL(t *testing.T) {
	l := LayerLoad{Schema: "s", Table: "t", Staging: "_osgs_load_x_0"}
	sql := FinalizeSQL([]LayerLoad{l}, ModeReplace, "it's loaded")
	for _, want := range []string{`DROP TABLE IF EXISTS "s"."t";`, `ALTER TABLE "s"."_osgs_load_x_0" RENAME TO "t";`, `COMMENT ON TABLE "s"."t" IS 'it''s loaded';`, `ANALYZE "s"."t";`} {
		if !strings.Contains(sql, want) {
			t.Errorf("lacks %q:\n%s", want, sql)
		}
	}
	if strings.Contains(FinalizeSQL([]LayerLoad{l}, ModeCreate, "c"), "DROP") {
		t.Error("create drops a table")
	}
}

func TestOverviewFactors(t *testing.T) {
	for _, c := range []struct {
		w, h int
		want []int
	}{
		{100, 100, nil}, {600, 400, []int{2}}, {4096, 1024, []int{2, 4, 8, 16}}, {1 << 20, 10, []int{2, 4, 8, 16, 32, 64, 128, 256}},
	} {
		if got := OverviewFactors(c.w, c.h); !slices.Equal(got, c.want) {
			t.Errorf("%dx%d: %v, want %v", c.w, c.h, got, c.want)
		}
	}
}

func TestResolveSource(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	shp := write("roads.shp", "x")
	write("roads.SHX", "x")
	write("roads.dbf", "x")
	write("roads.prj", "x")
	write("other.txt", "x")
	s, err := ResolveSource(shp)
	if err != nil || s.Format != "ESRI Shapefile" || !reflect.DeepEqual(s.Files, []string{"roads.shp", "roads.SHX", "roads.dbf", "roads.prj"}) || s.Size != 4 {
		t.Fatalf("shapefile: %+v %v", s, err)
	}
	write("gdb/a.gdb/a0000001.gdbtable", "x")
	if s, err := ResolveSource(filepath.Join(dir, "gdb", "a.gdb")); err != nil || s.Format != "OpenFileGDB" || s.Open != "/work/a.gdb" {
		t.Fatalf("gdb: %+v %v", s, err)
	}
	write("wkt.csv", "id,WKT\n1,POINT(1 2)\n")
	write("xy.csv", "name;lon;lat\n")
	if s, _ := ResolveSource(filepath.Join(dir, "wkt.csv")); s.CSVWKT == "" {
		t.Error("a CSV with a WKT column")
	}
	if s, _ := ResolveSource(filepath.Join(dir, "xy.csv")); s.CSVWKT != "" {
		t.Error("a CSV with lon/lat columns")
	}
	zip := write("data.zip", "PK")
	if s, _ := ResolveSource(zip); s.Open != "/vsizip//work/data.zip" {
		t.Errorf("zip opens %s", s.Open)
	}
	write("lonely.shp", "x")
	write("empty.gpkg", "")
	write("doc.xyz", "x")
	write("noshp/readme.txt", "x")
	for name, want := range map[string]string{
		"lonely.shp": ".shx file is missing", "empty.gpkg": "is empty", "doc.xyz": "unsupported format",
		"missing.gpkg": "no such file", "noshp": "has no .shp",
	} {
		_, err := ResolveSource(filepath.Join(dir, name))
		if err == nil || !strings.Contains(err.Error(), want) || !isRefused(err) {
			t.Errorf("%s: %v, want a refusal with %q", name, err, want)
		}
	}
}

func isRefused(err error) bool { _, ok := err.(*refusedError); return ok }

func TestGDALProgress(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, false)
	now := time.Unix(0, 0)
	p.now = func() time.Time { now = now.Add(11 * time.Second); return now }
	p.Step("load roads")
	g := &gdalProgress{p: p, total: 1000, unit: "features"}
	for _, chunk := range []string{"0...1", "0...20...30", "...40...50...60...70...80...90...100 - done.\n"} {
		g.Write([]byte(chunk))
	}
	out := buf.String()
	if !strings.Contains(out, "load roads: 100 of 1000 features (10%)") || !strings.Contains(out, "1000 of 1000 features (100%)") {
		t.Errorf("progress lines:\n%s", out)
	}
	if strings.Contains(out, "\r") {
		t.Error("a pipe got carriage returns")
	}
	buf.Reset()
	tty := NewProgress(&buf, true)
	tty.Step("upload")
	tty.Bytes(50, 100)
	tty.Done("done")
	if !strings.HasPrefix(buf.String(), "\rupload: ") || !strings.HasSuffix(buf.String(), "\n") {
		t.Errorf("terminal line: %q", buf.String())
	}
}

func TestGDALFailure(t *testing.T) {
	stderr := "Warning 1: something\nERROR 1: COPY statement failed.\nERROR:  numeric field overflow\nDETAIL:  A field ...\nCONTEXT:  COPY t, line 99, column pop_est\n\nERROR 1: ERROR:  relation \"public.x\" does not exist\n"
	got := gdalFailure(stderr)
	if got != "COPY statement failed.; ERROR: numeric field overflow; CONTEXT: COPY t, line 99, column pop_est" {
		t.Errorf("got %q", got)
	}
	if gdalFailure("Warning 1: fine\n") != "" {
		t.Error("warnings are not failures")
	}
}

func TestChooseExportFormat(t *testing.T) {
	for file, want := range map[string]string{"a.gpkg": "gpkg", "a.GeoJSON": "geojson", "a.fgb": "fgb", "a.shp.zip": "shp", "a.csv": "csv"} {
		if f, err := ChooseExportFormat(file, ""); err != nil || f.Name != want {
			t.Errorf("%s: %v %v", file, f.Name, err)
		}
	}
	if f, _ := ChooseExportFormat("out.dat", "fgb"); f.Driver != "FlatGeobuf" {
		t.Error("-format wins")
	}
	if _, err := ChooseExportFormat("out.dat", ""); !isRefused(err) {
		t.Error("an unknown ending is refused")
	}
}
