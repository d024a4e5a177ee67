package gen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/osgs/osgs/internal/catalog"
)

// TestGeneratedFilesAreCurrent fails when compose.yaml or the mage
// namespaces no longer match the catalog: run `go generate ./mage`.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	root := filepath.Join("..", "..")
	cat, err := catalog.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	files, err := Render(cat)
	if err != nil {
		t.Fatal(err)
	}
	for rel, want := range files {
		got, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s is stale: run `go generate ./mage`", rel)
		}
	}
}

func TestTypeName(t *testing.T) {
	for in, want := range map[string]string{"postgis": "Postgis", "qgis-server": "QgisServer", "node-red": "NodeRed", "file_browser": "FileBrowser"} {
		if got := TypeName(in); got != want {
			t.Errorf("TypeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRenderTwoServices(t *testing.T) {
	cat := &catalog.Catalog{Services: []catalog.Service{
		{Name: "a-b", Dir: "services/a-b", Description: "First"},
		{Name: "c", Dir: "services/c", Description: "Second.", Volumes: []catalog.Volume{{Name: "v", Backup: true}}},
	}}
	files, err := Render(cat)
	if err != nil {
		t.Fatal(err)
	}
	compose := string(files[ComposePath])
	for _, want := range []string{"  - services/a-b/compose.yaml\n", "  - services/c/compose.yaml\n"} {
		if !contains(compose, want) {
			t.Errorf("compose.yaml lacks %q", want)
		}
	}
	ns := string(files[NamespacesPath])
	if strings.Contains(ns, "func (AB) Backup") || !strings.Contains(ns, "func (C) Backup(ctx context.Context) error") {
		t.Error("backup verbs must exist exactly for services with backed-up volumes")
	}
	for _, want := range []string{"type AB mg.Namespace", `func (AB) Up(ctx context.Context) error { return up(ctx, "a-b") }`, "// C manages c: Second.\n"} {
		if !contains(ns, want) {
			t.Errorf("namespaces lack %q", want)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
