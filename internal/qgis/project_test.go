package qgis

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/osgs/osgs/internal/catalog"
	"github.com/osgs/osgs/internal/postgis"
)

func readPlaces(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/places.qgs")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseProject(t *testing.T) {
	p, err := ParseProject(readPlaces(t))
	if err != nil {
		t.Fatal(err)
	}
	// The main annotation layer is not a map layer.
	want := []Layer{{ID: "places_b347d0c8_58f5_45a0_9826_f8782c29e6d6", Name: "places", Provider: "postgres",
		Source: `service='osgs' key='id' srid=4326 type=Point checkPrimaryKeyUnicity='1' table="public"."places" (geom)`}}
	if !reflect.DeepEqual(p.Layers, want) {
		t.Errorf("layers %+v", p.Layers)
	}
	if _, err := ParseProject([]byte("<html>not a project")); !errors.Is(err, ErrRefused) {
		t.Errorf("not a project: %v", err)
	}
}

func TestNames(t *testing.T) {
	for _, ok := range []string{"places", "Roads_2026", "a.b-c", "7"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".hidden", "a/b", "a b", "..", "a..b", "é", strings.Repeat("x", 64), "-x", "map", "static", "project", "index.json"} {
		if err := CheckName(bad); !errors.Is(err, ErrRefused) {
			t.Errorf("%q accepted", bad)
		}
	}
	for in, want := range map[string]string{"/x/places.qgz": "places", `C:\maps\roads.qgs`: "roads", "a.b.qgs": "a.b"} {
		if got := ProjectName(in); got != want {
			t.Errorf("%s: %s", in, got)
		}
	}
}

func TestSourcePolicy(t *testing.T) {
	pol, err := SourcePolicy(map[string]string{"POSTGRES_DBS": "gis,osm", "QGIS_SERVER_DATA_DIRS": "/io/data/shared", "QGIS_SERVER_REMOTE_HOSTS": "Tile.OSM.org"}, "roads")
	if err != nil || pol.ProjectDir != "/io/data/roads" || !reflect.DeepEqual(pol.Services, []string{"osgs", "osm"}) && !reflect.DeepEqual(pol.Services, []string{"osgs", "gis", "osm"}) ||
		!reflect.DeepEqual(pol.DataDirs, []string{"/io/data/shared"}) || !reflect.DeepEqual(pol.RemoteHosts, []string{"tile.osm.org"}) {
		t.Errorf("%+v %v", pol, err)
	}
	for _, bad := range []string{"/etc", "io/data/x", "/io/data/../../etc", "/"} {
		if _, err := SourcePolicy(map[string]string{"QGIS_SERVER_DATA_DIRS": bad}, "roads"); !errors.Is(err, ErrRefused) {
			t.Errorf("data folder %q accepted", bad)
		}
	}
}

func TestBadLayers(t *testing.T) {
	p := &Project{Layers: []Layer{{ID: "roads_1f2e", Name: "roads"}, {ID: "rivers_99", Name: "rivers"}}}
	log := "12:00:01 WARNING Server[1]: something\n12:00:01 CRITICAL Server[1]: Error, Layer(s) roads_1f2e, lakes not valid in project /io/data/x/.osgs-publish-1.qgz\n"
	if got := BadLayers(log, p); !reflect.DeepEqual(got, []string{"roads", "lakes"}) {
		t.Errorf("%v", got)
	}
	if got := BadLayers("all fine", p); got != nil {
		t.Errorf("%v", got)
	}
}

func TestServiceFileText(t *testing.T) {
	s := postgis.Settings{Host: "gis.example.org", Port: "5433", User: "osgs", Databases: []string{"gis", "osm"}}
	got := ServiceFileText(s, Services(map[string]string{"POSTGRES_DBS": "gis, osm"}), "qgis_server", "pw")
	for _, want := range []string{"\n[osgs]\nhost=gis.example.org\nport=5433\ndbname=gis\nuser=qgis_server\npassword=pw\nsslmode=require\n", "\n[gis]\n", "\n[osm]\nhost=gis.example.org\nport=5433\ndbname=osm\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "[") != 3 {
		t.Errorf("services:\n%s", got)
	}
}

func TestWriteServiceFile(t *testing.T) {
	dir := t.TempDir()
	cat := &catalog.Catalog{Services: []catalog.Service{{Name: "qgis-server", DBRole: &catalog.DBRole{Name: "qgis_server", Password: "QGIS_SERVER_DB_PASSWORD"}}}}
	settings := map[string]string{"POSTGRES_DBS": "gis", "QGIS_SERVER_DB_PASSWORD": "s3cret-pw", "POSTGRES_PASSWORD": "super-pw"}
	s := postgis.Settings{Host: "127.0.0.1", Port: "5432", User: "osgs", Databases: []string{"gis"}}
	path, err := WriteServiceFile(dir, cat, settings, s, ServiceFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || path != filepath.Join(dir, "config", "pg_service.conf") {
		t.Fatalf("%s: %v %v", path, fi, err)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "user=qgis_server\npassword=s3cret-pw\n") || strings.Contains(string(b), "super-pw") {
		t.Errorf("%s", b)
	}
	if _, err := WriteServiceFile(dir, cat, settings, s, ServiceFileOptions{Role: "osgs", Out: filepath.Join(dir, "super.conf")}); err != nil {
		t.Errorf("the superuser, asked for by name: %v", err)
	}
	for _, o := range []ServiceFileOptions{{Role: "postgres"}, {Role: "qgis_server", Out: filepath.Join(dir, "missing", "x.conf")}} {
		if _, err := WriteServiceFile(dir, cat, settings, s, o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	delete(settings, "QGIS_SERVER_DB_PASSWORD")
	if _, err := WriteServiceFile(dir, cat, settings, s, ServiceFileOptions{}); !errors.Is(err, ErrRefused) {
		t.Errorf("no password yet: %v", err)
	}
}
