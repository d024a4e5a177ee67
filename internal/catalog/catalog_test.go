package catalog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRealCatalog(t *testing.T) {
	c, err := Load(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	pg, err := c.Get("postgis")
	if err != nil {
		t.Fatal(err)
	}
	if !pg.Built || !pg.Database || pg.Description == "" {
		t.Fatalf("postgis entry: %+v", pg)
	}
	secret := false
	for _, s := range pg.Settings {
		secret = secret || (s.Key == "POSTGRES_PASSWORD" && s.Secret)
	}
	if !secret {
		t.Fatal("POSTGRES_PASSWORD is not a secret setting")
	}
	// Only the front door may publish ports; others publish only what .env configures.
	for _, s := range c.Services {
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "${") {
				t.Errorf("%s publishes %q, which is not configurable", s.Name, p)
			}
		}
	}
}

func TestUnknownService(t *testing.T) {
	c := &Catalog{Services: []Service{{Name: "postgis"}}}
	_, err := c.Get("geoserve")
	if err == nil || !strings.Contains(err.Error(), `unknown service "geoserve" (known: postgis)`) {
		t.Fatalf("err = %v", err)
	}
}

func TestFragmentValidation(t *testing.T) {
	cases := map[string]string{
		"no such service":     "services:\n  other:\n    profiles: [x]\n    image: a:1\n    x-osgs: {description: d}\n",
		"wrong profile":       "services:\n  x:\n    profiles: [y]\n    image: a:1\n    x-osgs: {description: d}\n",
		"latest tag":          "services:\n  x:\n    profiles: [x]\n    image: a:latest\n    x-osgs: {description: d}\n",
		"untagged":            "services:\n  x:\n    profiles: [x]\n    image: registry:5000/a\n    x-osgs: {description: d}\n",
		"no x-osgs":           "services:\n  x:\n    profiles: [x]\n    image: a:1\n",
		"no description":      "services:\n  x:\n    profiles: [x]\n    image: a:1\n    x-osgs: {}\n",
		"yaml syntax":         "services: [\n",
		"setting with no key": "services:\n  x:\n    profiles: [x]\n    image: a:1\n    x-osgs: {description: d, settings: [{default: 1}]}\n",
		// A misspelt flag must not leave a location silently public.
		"misspelt web key":    "services:\n  x:\n    profiles: [x]\n    image: a:1\n    x-osgs: {description: d, web: [{path: /x/, port: 80, protect: true}]}\n",
		"unknown x-osgs key":  "services:\n  x:\n    profiles: [x]\n    image: a:1\n    x-osgs: {description: d, backups: true}\n",
		"misspelt volume key": "services:\n  x:\n    profiles: [x]\n    image: a:1\n    x-osgs: {description: d, volumes: [{name: v, path: /v, backups: true}]}\n",
		// Go programs: pinned, in their module, plain names, and only for built images.
		"go_build without build":   "services:\n  x:\n    profiles: [x]\n    image: a:1\n    x-osgs: {description: d, go_build: [{module: example.org/a, version: v1.0.0, binary: a}]}\n",
		"go_build unpinned":        "services:\n  x:\n    profiles: [x]\n    image: a:1\n    build: .\n    x-osgs: {description: d, go_build: [{module: example.org/a, version: latest, binary: a}]}\n",
		"go_build foreign package": "services:\n  x:\n    profiles: [x]\n    image: a:1\n    build: .\n    x-osgs: {description: d, go_build: [{module: example.org/a, version: v1.0.0, package: example.org/b, binary: a}]}\n",
		"go_build binary path":     "services:\n  x:\n    profiles: [x]\n    image: a:1\n    build: .\n    x-osgs: {description: d, go_build: [{module: example.org/a, version: v1.0.0, binary: ../a}]}\n",
		"go_build file outside":    "services:\n  x:\n    profiles: [x]\n    image: a:1\n    build: .\n    x-osgs: {description: d, go_build: [{module: example.org/a, version: v1.0.0, binary: a, files: [../etc]}]}\n",
		"local without sources":    "services:\n  x:\n    profiles: [x]\n    image: a:1\n    build: .\n    x-osgs: {description: d, go_build: [{module: example.org/a, version: local, binary: a}]}\n",
		"go_build misspelt key":    "services:\n  x:\n    profiles: [x]\n    image: a:1\n    build: .\n    x-osgs: {description: d, go_build: [{module: example.org/a, version: v1.0.0, binary: a, cgo_enabled: true}]}\n",
	}
	for name, y := range cases {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			os.MkdirAll(filepath.Join(root, "services", "x"), 0o755)
			os.WriteFile(filepath.Join(root, "services", "x", "compose.yaml"), []byte(y), 0o644)
			if _, err := Load(root); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestSettingsDeduplicated(t *testing.T) {
	c := &Catalog{Services: []Service{
		{Name: "a", Settings: []Setting{{Key: "K", Default: "1"}}},
		{Name: "b", Settings: []Setting{{Key: "K", Default: "2"}, {Key: "L"}}},
	}}
	got := c.Settings()
	if len(got) != 2 || got[0].Default != "1" {
		t.Fatalf("settings = %+v", got)
	}
}
