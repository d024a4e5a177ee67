package engine

import (
	"reflect"
	"slices"
	"testing"

	"github.com/osgs/osgs/internal/catalog"
)

// TestSegments: each service of the real catalog is on the networks it
// needs and no more; the hubs join only the networks of active services.
func TestSegments(t *testing.T) {
	cat, err := catalog.Load("../..")
	if err != nil {
		t.Fatal(err)
	}
	active := []string{"nginx", "postgis", "hugo", "features", "qgis-server", "jupyter", "mosquitto"}
	got := Segments(cat, active, []string{"jupyter"})
	want := map[string][]string{
		"nginx":       {"features", "hugo", "jupyter", "qgis-server"},
		"postgis":     {"database", "database_features", "database_jupyter", "database_qgis-server"},
		"hugo":        {"hugo"},
		"features":    {"database_features", "features"},
		"qgis-server": {"database_qgis-server", "qgis-server"},
		"jupyter":     {"database_jupyter", "jupyter"},
		"mosquitto":   {"mosquitto"},
		"certbot":     {"certbot"},
		"tiles":       {"database_tiles", "tiles"},
		"postgrest":   {"database_postgrest", "postgrest"},
		"node-red":    {"node-red"},
		"metabase":    {"metabase"},
	}
	for name, nets := range want {
		if !reflect.DeepEqual(got[name], nets) {
			t.Errorf("%s: networks %v, want %v", name, got[name], nets)
		}
	}
	// No two services but a hub and its spoke share a network.
	members := map[string][]string{}
	for name, nets := range got {
		for _, n := range nets {
			members[n] = append(members[n], name)
		}
	}
	for n, m := range members {
		if len(m) > 2 || len(m) == 2 && !slices.Contains(m, HubOf(cat, n)) {
			t.Errorf("network %s holds %v: more than a hub and one service", n, m)
		}
	}
	// Without active services, the hubs have networks of their own.
	bare := Segments(cat, nil, nil)
	if !reflect.DeepEqual(bare["nginx"], []string{"nginx"}) || !reflect.DeepEqual(bare["postgis"], []string{"database"}) {
		t.Errorf("bare hubs: nginx %v, postgis %v", bare["nginx"], bare["postgis"])
	}
	if HubOf(cat, "database_features") != "postgis" || HubOf(cat, "features") != "nginx" || HubOf(cat, "mosquitto") != "" || HubOf(cat, "database") != "" {
		t.Error("HubOf")
	}
}
