package convert

import (
	"reflect"
	"testing"

	"github.com/osgs/osgs/internal/catalog"
)

func TestPlaceRoles(t *testing.T) {
	svc := map[string]catalog.Service{
		"postgis":      {Name: "postgis", Database: true, Ports: []string{"5432"}},
		"nginx":        {Name: "nginx", Ports: []string{"80", "443"}},
		"certbot":      {Name: "certbot", Volumes: []catalog.Volume{{Name: "certbot-certs", Backup: true}}},
		"qgis-server":  {Name: "qgis-server", Volumes: []catalog.Volume{{Name: "qgis_projects", Backup: true, Mirror: true}}},
		"file-browser": {Name: "file-browser", Volumes: []catalog.Volume{{Name: "file-browser-db", Backup: true}, {Name: "qgis_projects"}}},
		"mapproxy":     {Name: "mapproxy", Volumes: []catalog.Volume{{Name: "mapproxy-cache"}}},
		"features":     {Name: "features"},
		"mosquitto":    {Name: "mosquitto", Ports: []string{"1883"}, Volumes: []catalog.Volume{{Name: "mosquitto-data", Backup: true}}},
	}
	vols := map[string][]string{
		"nginx":        {"nginx-config", "certbot-certs"},
		"certbot":      {"certbot-certs"},
		"qgis-server":  {"qgis_projects"},
		"file-browser": {"qgis_projects"},
		"mapproxy":     {"mapproxy-cache"},
		"mosquitto":    {"mosquitto-data"},
	}
	want := map[string]Role{
		"postgis": DB, "nginx": Edge, "certbot": Edge, "qgis-server": DB, "file-browser": DB,
		"mapproxy": Web, "features": Web, "mosquitto": DB,
	}
	if got := PlaceRoles(svc, vols); !reflect.DeepEqual(got, want) {
		t.Fatalf("roles = %v\nwant    %v", got, want)
	}
	// Without File Browser, which writes the projects, QGIS Server only
	// reads its mirrored volumes: a web service, free to run replicas.
	delete(svc, "file-browser")
	delete(vols, "file-browser")
	want["qgis-server"] = Web
	delete(want, "file-browser")
	if got := PlaceRoles(svc, vols); !reflect.DeepEqual(got, want) {
		t.Fatalf("without file-browser: roles = %v\nwant    %v", got, want)
	}
	// A backed-up volume that is not mirrored pins it to the db node.
	svc["qgis-server"] = catalog.Service{Name: "qgis-server", Volumes: []catalog.Volume{{Name: "qgis_projects", Backup: true}}}
	want["qgis-server"] = DB
	if got := PlaceRoles(svc, vols); !reflect.DeepEqual(got, want) {
		t.Fatalf("unmirrored: roles = %v\nwant    %v", got, want)
	}
}

func TestParseRoles(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []Role
		ok   bool
	}{
		{"db", []Role{DB}, true},
		{"db, web,db", []Role{DB, Web}, true},
		{"edge,web", []Role{Edge, Web}, true},
		{"gpu", nil, false},
		{"", nil, false},
	} {
		got, err := ParseRoles(c.in)
		if (err == nil) != c.ok || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseRoles(%q) = %v, %v", c.in, got, err)
		}
	}
}
