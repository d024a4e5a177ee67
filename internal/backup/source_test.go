package backup

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/osgs/osgs/internal/catalog"
	"github.com/osgs/osgs/internal/engine"
)

// plan, against the real catalog: which sources a set of services makes.
func TestPlanSources(t *testing.T) {
	cat, err := catalog.Load(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	e := &engine.Engine{Catalog: cat}
	describe := func(srcs []DataSource) []string {
		var out []string
		for _, s := range srcs {
			switch s := s.(type) {
			case dumpSource:
				out = append(out, "dump "+s.database)
			case volumeSource:
				var vols []string
				for _, v := range s.volumes {
					vols = append(vols, v.Name)
				}
				out = append(out, fmt.Sprintf("%s %v %s", s.service, vols, s.quiesce))
			default:
				t.Fatalf("unexpected source %T", s)
			}
		}
		return out
	}
	for _, tc := range []struct {
		services []string
		opts     Options
		want     []string
		empty    []string
	}{
		{[]string{"postgis"}, Options{}, []string{"dump "}, nil},
		{[]string{"postgis"}, Options{Database: "gis"}, []string{"dump gis"}, nil},
		// One source per volume: they copy in parallel.
		{[]string{"qgis-server"}, Options{}, []string{"qgis-server [qgis_projects] ", "qgis-server [qgis_fonts] ", "qgis-server [qgis_svg] "}, nil},
		// Held still: one source for all its volumes, with the mode.
		{[]string{"mosquitto"}, Options{}, []string{"mosquitto [mosquitto-data] pause"}, nil},
		{[]string{"node-red"}, Options{}, []string{"node-red [node-red-data] stop"}, nil},
		// Nothing to save.
		{[]string{"nginx", "features"}, Options{}, nil, []string{"nginx", "features"}},
	} {
		srcs, empty := plan(e, tc.services, tc.opts)
		if got := describe(srcs); !slices.Equal(got, tc.want) || !slices.Equal(empty, tc.empty) {
			t.Errorf("plan(%v) = %q, empty %v; want %q, empty %v", tc.services, got, empty, tc.want, tc.empty)
		}
	}
}
