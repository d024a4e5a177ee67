package qgsfile

import (
	"archive/zip"
	"bytes"
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
)

const minimal = `<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22.16"><title>T</title><projectlayers>
<maplayer type="vector"><id>a_1</id><layername>a</layername><provider encoding="UTF-8">postgres</provider><datasource>service='osgs' table="public"."a" (geom)</datasource></maplayer>
</projectlayers></qgis>`

type entry struct {
	name string
	mode fs.FileMode
}

func zipOf(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name}
		h.SetMode(e.mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if e.mode.IsRegular() || e.mode&fs.ModeSymlink != 0 {
			w.Write([]byte(minimal))
		}
	}
	zw.Close()
	return b.Bytes()
}

func TestReadArchive(t *testing.T) {
	ok := zipOf(t, entry{"t.qgs", 0o644}, entry{"t.qgd", 0o644})
	a, err := Read("x/T.QGZ", ok)
	if err != nil || string(a.QGS) != minimal || a.QGD == nil {
		t.Fatalf("%v", err)
	}
	packed, err := a.Pack("roads")
	if err != nil {
		t.Fatal(err)
	}
	zr, _ := zip.NewReader(bytes.NewReader(packed), int64(len(packed)))
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	if !reflect.DeepEqual(names, []string{"roads.qgs", "roads.qgd"}) {
		t.Errorf("packed %v", names)
	}
	if a, err := Read("p.qgs", []byte(minimal)); err != nil || string(a.QGS) != minimal {
		t.Error("a .qgs is read as it is")
	}
	for name, data := range map[string][]byte{
		"parent path":           zipOf(t, entry{"t.qgs", 0o644}, entry{"../../../../../../io/data/other/other.qgz", 0o644}),
		"absolute path":         zipOf(t, entry{"t.qgs", 0o644}, entry{"/tmp/a.qgd", 0o644}),
		"nested project first":  zipOf(t, entry{"sub/evil.qgs", 0o644}, entry{"t.qgs", 0o644}),
		"nested project only":   zipOf(t, entry{"sub/t.qgs", 0o644}),
		"backslash path":        zipOf(t, entry{`..\..\t.qgs`, 0o644}),
		"drive letter":          zipOf(t, entry{`C:t.qgs`, 0o644}),
		"two projects":          zipOf(t, entry{"a.qgs", 0o644}, entry{"b.QGS", 0o644}),
		"no project":            zipOf(t, entry{"a.qgd", 0o644}),
		"symlink":               zipOf(t, entry{"t.qgs", fs.ModeSymlink | 0o777}),
		"folder":                zipOf(t, entry{"t.qgs", 0o644}, entry{"d/", fs.ModeDir | 0o755}),
		"hidden file":           zipOf(t, entry{"t.qgs", 0o644}, entry{".osgs-catalog", 0o644}),
		"another file":          zipOf(t, entry{"t.qgs", 0o644}, entry{"x.sh", 0o755}),
		"two auxiliary stores":  zipOf(t, entry{"t.qgs", 0o644}, entry{"a.qgd", 0o644}, entry{"b.qgd", 0o644}),
		"not a zip":             []byte("PK? no"),
		"project with NUL name": zipOf(t, entry{"t\x00.qgs", 0o644}),
	} {
		if _, err := Read("p.qgz", data); !errors.Is(err, ErrRefused) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Read("p.qgis", []byte(minimal)); !errors.Is(err, ErrRefused) {
		t.Error("another extension accepted")
	}
}

func TestParse(t *testing.T) {
	p, err := Parse([]byte(minimal))
	if err != nil || p.Title != "T" || len(p.Layers) != 1 || p.Layers[0] != (Layer{ID: "a_1", Name: "a", Provider: "postgres", Source: `service='osgs' table="public"."a" (geom)`}) {
		t.Fatalf("%+v %v", p, err)
	}
	// QGIS loads every <maplayer> of the document, wherever it stands.
	hidden := strings.Replace(minimal, "</qgis>", `<properties><x><maplayer><id>h</id><layername>hidden</layername><provider>ogr</provider><datasource>/etc/passwd</datasource></maplayer></x></properties></qgis>`, 1)
	if p, err := Parse([]byte(hidden)); err != nil || len(p.Layers) != 2 || p.Layers[1].Source != "/etc/passwd" {
		t.Errorf("a layer outside <projectlayers>: %+v %v", p, err)
	}
	embedded := strings.Replace(minimal, "</projectlayers>", `<maplayer embedded="1" project="/io/data/other/other.qgz" id="e_1"/></projectlayers>`, 1)
	if p, err := Parse([]byte(embedded)); err != nil || p.Layers[1].Embedded != "/io/data/other/other.qgz" {
		t.Errorf("embedded: %+v %v", p, err)
	}
	for name, doc := range map[string]string{
		"two data sources": strings.Replace(minimal, "<datasource>", "<datasource>/etc/passwd</datasource><datasource>", 1),
		"two providers":    strings.Replace(minimal, "<provider", "<provider>ogr</provider><provider", 1),
		"an entity":        strings.Replace(minimal, "'SYSTEM'>", "'SYSTEM' [<!ENTITY c \"user=postgres\">]>", 1),
		"undeclared":       strings.Replace(minimal, "service='osgs'", "service='osgs' &c;", 1),
		"not a project":    "<html>not a project",
		"another root":     "<project/>",
		"nested layers":    strings.Replace(minimal, "</maplayer>", "<maplayer/></maplayer>", 1),
	} {
		if _, err := Parse([]byte(doc)); !errors.Is(err, ErrRefused) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestParseURI(t *testing.T) {
	u := ParseURI(`dbname='gis' host=10.0.0.1 port=5432 user = 'ana' password='p w\'x' sslmode=disable key='id' table="public"."t" (geom) sql="user" = 'x'`)
	want := map[string]string{"dbname": "gis", "host": "10.0.0.1", "port": "5432", "user": "ana", "password": `p w'x`, "sslmode": "disable", "key": "id"}
	if !reflect.DeepEqual(u.Keys, want) || u.Schema != "public" || u.Table != "t" || u.Geom != "geom" || u.SQL != `"user" = 'x'` {
		t.Errorf("%+v", u)
	}
	for src, user := range map[string]string{
		`service=osgs username=postgres`:        "postgres",
		"service=osgs\tuser\t=\t\"postgres\"":   "postgres",
		`service='osgs\' user=x' user=postgres`: "postgres",
		"service=osgs\u00a0user=postgres":       "postgres",
		`=user=postgres`:                        "postgres",
	} {
		if got := ParseURI(src).Keys["user"]; got != user {
			t.Errorf("%q: user %q, want %q", src, got, user)
		}
	}
}

func check(provider, source string, pol Policy) []Problem {
	return Check(&Project{Layers: []Layer{{Name: "l", Provider: provider, Source: source}}}, pol)
}

var pol = Policy{Services: []string{"osgs", "gis"}, ProjectDir: "/io/data/roads", DataDirs: []string{"/io/data/shared"}}

func TestCheckAccepts(t *testing.T) {
	for _, c := range [][2]string{
		{"postgres", `service='osgs' key='id' srid=4326 type=Point checkPrimaryKeyUnicity='1' table="public"."places" (geom)`},
		{"postgres", `service='gis' table="public"."t" (geom) sql="user" = 'ana' AND "password_set"=true`},
		{"postgres", `dbname='gis' service='osgs' table="public"."t" (geom)`},
		{"postgresraster", `service='osgs' table="public"."dem" (rast)`},
		{"ogr", `./data/roads.gpkg|layername=roads`},
		{"ogr", `/io/data/roads/roads.shp`},
		{"ogr", `/io/data/shared/admin.gpkg|layername=user`},
		{"gdal", `./dem.tif`},
		{"gdal", `GPKG:/io/data/roads/r.gpkg:dem`},
		{"delimitedtext", `file:///io/data/roads/pts.csv?type=csv&xField=x&yField=y&crs=EPSG:4326`},
		{"delimitedtext", `file:./pts.csv?type=csv&wktField=wkt`},
		{"spatialite", `dbname='./s.sqlite' table="t" (geom)`},
		{"gpx", `./track.gpx?type=track`},
		{"memory", `Point?crs=EPSG:4326&field=id:integer`},
		{"virtual", `?layer_ref=a_1&query=SELECT%20*%20FROM%20a`},
		{"vectortile", `type=mbtiles&url=/io/data/roads/t.mbtiles`},
		{"", ""},
	} {
		if probs := check(c[0], c[1], pol); len(probs) > 0 {
			t.Errorf("%s %s: %v", c[0], c[1], probs)
		}
	}
}

func TestCheckRefuses(t *testing.T) {
	for _, c := range [][2]string{
		{"postgres", `service='osgs' user='osgs' password='x' table="public"."t" (geom)`},
		{"postgres", `service='osgs' user = 'osgs' password = 'x' table="public"."t" (geom)`},
		{"postgres", "service='osgs'\tusername=\"postgres\" table=\"t\""},
		{"postgres", `service='osgs' authcfg=abc1234 table="t"`},
		{"postgres", `service='osgs' host=evil.example.org table="t"`},
		{"postgres", `service='osgs' sslmode=disable table="t"`},
		{"postgres", `service='prod' table="t"`},
		{"postgres", `dbname='gis' host=postgis table="t"`},
		{"postgres", `service='gis' dbname='postgres' table="t"`},
		{"postgres", `service='osgs\' user=x' table="t"`},
		{"postgresraster", `service='osgs' password=x table="t"`},
		{"ogr", `PG:dbname=gis user=postgres|layername=t`},
		{"ogr", `PG:"service=osgs"|layername=t`},
		{"ogr", `/etc/passwd`},
		{"ogr", `/io/data/other/other.gpkg`},
		{"ogr", `./../other/x.gpkg`},
		{"ogr", `etc/passwd`},
		{"ogr", `/vsicurl/http://example.org/x.geojson`},
		{"ogr", `/vsizip//io/data/roads/x.zip/../../../../etc/passwd`},
		{"ogr", `/io/data/roads/vsizip/x`},
		{"ogr", `http://example.org/x.geojson`},
		{"ogr", `WFS:http://example.org/wfs`},
		{"gdal", `/vsicurl/https://example.org/dem.tif`},
		{"gdal", `WMS:http://example.org/wms`},
		{"gdal", `GPKG:/etc/x.gpkg:dem`},
		{"gdal", `NETCDF:"/etc/x.nc":v`},
		{"delimitedtext", `file:///etc/postgresql-common/pg_service.conf?type=csv&delimiter=%3D`},
		{"delimitedtext", `file:///etc/passwd?type=csv&delimiter=:`},
		{"delimitedtext", `file://localhost/etc/passwd?type=csv`},
		{"delimitedtext", `file:./../../../etc/passwd?type=csv`},
		{"delimitedtext", `http://example.org/x.csv?type=csv`},
		{"delimitedtext", `file:///io/data/roads/%2e%2e/%2e%2e/%2e%2e/etc/passwd?type=csv`},
		{"spatialite", `dbname='/etc/x.sqlite' table="t"`},
		{"gpx", `/etc/x.gpx?type=track`},
		{"mdal", `/etc/x.nc`},
		{"virtual", `?layer=ogr:%2Fetc%2Fpasswd:p:UTF-8&query=SELECT%20*%20FROM%20p`},
		{"virtual", `?layer=postgres:service%3D'osgs'%20user%3Dpostgres%20table%3D%22t%22:p:UTF-8`},
		{"wms", `crs=EPSG:3857&format=image/png&type=xyz&url=https://tile.openstreetmap.org/%7Bz%7D/%7Bx%7D/%7By%7D.png`},
		{"wms", `url=https://example.org/wms&username=ana&password=x&layers=a`},
		{"wms", `url=file:///etc/passwd&layers=a`},
		{"wfs", `url='https://example.org/wfs' typename='a'`},
		{"vectortile", `type=mbtiles&url=/etc/x.mbtiles`},
		{"grass", `/x`},
		{"WFS3", `url=x`},
		{"memory", `Point?crs=EPSG:4326&password=x`},
	} {
		if probs := check(c[0], c[1], pol); len(probs) == 0 {
			t.Errorf("%s %s accepted", c[0], c[1])
		}
	}
	emb := &Project{Layers: []Layer{{Name: "e", Embedded: "/io/data/x/x.qgz"}}}
	if len(Check(emb, pol)) == 0 {
		t.Error("an embedded layer accepted")
	}
}

func TestRemoteHosts(t *testing.T) {
	xyz := `type=xyz&url=https://tile.openstreetmap.org/%7Bz%7D/%7Bx%7D/%7By%7D.png&zmax=19`
	open := pol
	open.RemoteHosts = []string{"tile.openstreetmap.org"}
	if probs := check("wms", xyz, open); len(probs) > 0 {
		t.Errorf("allowed host: %v", probs)
	}
	for _, src := range []string{
		`type=xyz&url=https://evil.example.org/%7Bz%7D.png`,
		`type=xyz&url=https://ana:pw@tile.openstreetmap.org/%7Bz%7D.png`,
		`type=xyz&url=https://tile.openstreetmap.org/%7Bz%7D.png?access_token=abc`,
		`url=https://tile.openstreetmap.org/wms&http-header:Authorization=Basic%20x`,
	} {
		if probs := check("wms", src, open); len(probs) == 0 {
			t.Errorf("%s accepted", src)
		}
	}
}

// FuzzCheck: no source crashes the parser, and one Check accepts never
// carries a credential key QGIS would read or a path outside the folders.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{`service='osgs' table="t" (g)`, `./a.gpkg|layername=x`, `file:///io/data/roads/a.csv?type=csv`, `?layer=ogr:%2Fetc%2Fpasswd:p:UTF-8`, `service='osgs\' user=x'`} {
		for _, p := range []string{"postgres", "ogr", "delimitedtext", "virtual", "wms"} {
			f.Add(p, s)
		}
	}
	f.Fuzz(func(t *testing.T, provider, source string) {
		probs := check(provider, source, pol)
		if len(probs) > 0 {
			return
		}
		if provider == "postgres" || provider == "postgresraster" {
			u := ParseURI(source)
			for _, k := range []string{"user", "password", "authcfg", "host", "port"} {
				if _, ok := u.Keys[k]; ok {
					t.Fatalf("accepted %q with %s", source, k)
				}
			}
		}
	})
}

// FuzzParse: no document crashes the reader.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte(`<qgis><maplayer><datasource>a</datasource></maplayer></qgis>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		p, err := Parse(doc)
		if err == nil && p == nil {
			t.Fatal("no project and no error")
		}
	})
}

func TestVersion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Version
		bad  bool
	}{
		{in: "3.40.1-Bratislava", want: Version{3, 40, 1}},
		{in: "3.22.16-Białowieża", want: Version{3, 22, 16}},
		{in: "3.22.16+dfsg-1", want: Version{3, 22, 16}},
		{in: "1:3.40.5+dfsg-1", want: Version{3, 40, 5}},
		{in: "3.99", want: Version{3, 99, 0}},
		{in: "Bratislava", bad: true},
		{in: "", bad: true},
	} {
		v, err := ParseVersion(tc.in)
		if tc.bad != (err != nil) || !tc.bad && v != tc.want {
			t.Errorf("ParseVersion(%q) = %v, %v", tc.in, v, err)
		}
	}
	if !(Version{3, 40, 1}).Newer(Version{3, 22, 16}) || (Version{3, 22, 16}).Newer(Version{3, 22, 16}) || (Version{3, 22, 9}).Newer(Version{3, 22, 16}) || !(Version{4, 0, 0}).Newer(Version{3, 99, 9}) {
		t.Error("Newer")
	}
	p, err := Parse([]byte(`<qgis version="3.40.1-Bratislava" projectname=""><projectlayers/></qgis>`))
	if err != nil || p.Version != "3.40.1-Bratislava" {
		t.Errorf("Parse: version %q, %v", p.Version, err)
	}
}
