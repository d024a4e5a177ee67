package mapproxy

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/osgs/osgs/internal/engine"
)

func TestParseLevels(t *testing.T) {
	for in, want := range map[string][2]int{"0-6": {0, 6}, "3": {3, 3}, " 2 - 14 ": {2, 14}, "0-30": {0, 30}} {
		from, to, err := ParseLevels(in)
		if err != nil || from != want[0] || to != want[1] {
			t.Errorf("%q: %d %d %v", in, from, to, err)
		}
	}
	for _, in := range []string{"", "6-0", "-1", "0-31", "a-b", "1-2-3", "1,2"} {
		if _, _, err := ParseLevels(in); !errors.Is(err, ErrRefused) {
			t.Errorf("%q accepted: %v", in, err)
		}
	}
}

func TestParseBBox(t *testing.T) {
	if b, err := ParseBBox("8.3, 48.9,8.5,49.1"); err != nil || !reflect.DeepEqual(b, []float64{8.3, 48.9, 8.5, 49.1}) {
		t.Errorf("%v %v", b, err)
	}
	for _, in := range []string{"", "1,2,3", "1,2,3,x", "5,0,1,1", "0,5,1,1", "1,1,1,1"} {
		if _, err := ParseBBox(in); !errors.Is(err, ErrRefused) {
			t.Errorf("%q accepted: %v", in, err)
		}
	}
}

func TestCaches(t *testing.T) {
	got, err := Caches([]byte("caches:\n  b_cache: {grids: [g]}\n  a_cache: {grids: [g]}\nlayers: []\n"))
	if err != nil || !reflect.DeepEqual(got, []string{"a_cache", "b_cache"}) {
		t.Errorf("%v %v", got, err)
	}
	if _, err := Caches([]byte("caches: [\n")); err == nil {
		t.Error("a broken configuration read")
	}
}

// The task files are what mapproxy-seed's documentation (seed.yaml) shows.
func TestSeedConfig(t *testing.T) {
	b, err := SeedConfig(SeedOptions{From: 0, To: 4, BBox: []float64{8.3, 48.9, 8.5, 49.1}, Caches: []string{"source_cache"}})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Seeds map[string]struct {
			Caches    []string       `yaml:"caches"`
			Levels    map[string]int `yaml:"levels"`
			Coverages []string       `yaml:"coverages"`
		} `yaml:"seeds"`
		Coverages map[string]struct {
			BBox []float64 `yaml:"bbox"`
			SRS  string    `yaml:"srs"`
		} `yaml:"coverages"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	s := doc.Seeds[seedTask]
	if !reflect.DeepEqual(s.Caches, []string{"source_cache"}) || s.Levels["from"] != 0 || s.Levels["to"] != 4 || !reflect.DeepEqual(s.Coverages, []string{coverage}) {
		t.Errorf("seed task %+v in\n%s", s, b)
	}
	if c := doc.Coverages[coverage]; c.SRS != "EPSG:4326" || !reflect.DeepEqual(c.BBox, []float64{8.3, 48.9, 8.5, 49.1}) {
		t.Errorf("coverage %+v", c)
	}
	whole, _ := SeedConfig(SeedOptions{To: 2, Caches: []string{"c"}})
	if strings.Contains(string(whole), "coverages") {
		t.Errorf("no bbox, yet a coverage:\n%s", whole)
	}
	clean, _ := CleanupConfig([]string{"c"})
	if !strings.Contains(string(clean), "remove_all: true") || !strings.Contains(string(clean), cleanupTask) {
		t.Errorf("cleanup:\n%s", clean)
	}
	if a := strings.Join(SeedArgs(seedTask, 4), " "); a != "mapproxy-seed -f /mapproxy/config/mapproxy.yaml -s /dev/stdin --progress-file /mapproxy/cache/.osgs-seed-progress --seed osgs_seed --continue -c 4" {
		t.Error(a)
	}
	if a := strings.Join(SeedArgs(cleanupTask, 0), " "); !strings.HasSuffix(a, "--cleanup osgs_cleanup") {
		t.Error(a)
	}
}

// TestSourceTLS: MapProxy verifies the source's certificate unless the
// source is the stack's own nginx, or the setting says otherwise.
func TestSourceTLS(t *testing.T) {
	tmpl, err := os.ReadFile("../../services/mapproxy/mapproxy.yaml.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ url, verify, noChecks string }{
		{"https://nginx/ogc/demo", "auto", "true"},
		{"https://maps.example.org/wms", "auto", "false"},
		{"https://nginx.example.org/wms", "auto", "false"},
		{"https://maps.example.org/wms", "false", "true"},
		{"https://nginx/ogc/demo", "true", "false"},
	} {
		out, err := engine.RenderTemplate("mapproxy.yaml", tmpl, map[string]string{"OSGS_DOMAIN": "x", "MAPPROXY_SOURCE_LAYERS": "a", "MAPPROXY_SOURCE_URL": c.url, "MAPPROXY_SOURCE_VERIFY_TLS": c.verify})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "ssl_no_cert_checks: "+c.noChecks+"\n") {
			t.Errorf("%s %s: want ssl_no_cert_checks %s", c.url, c.verify, c.noChecks)
		}
	}
}
