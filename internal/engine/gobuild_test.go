package engine

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/osgs/osgs/internal/catalog"
)

func TestGoBuildCommands(t *testing.T) {
	g := catalog.GoBuild{Module: "github.com/CrunchyData/pg_featureserv", Version: "v1.3.1", Binary: "pg_featureserv"}
	want := [][]string{
		{"get", "github.com/CrunchyData/pg_featureserv@v1.3.1"},
		{"build", "-trimpath", "-ldflags=-s -w", "-o", "/out/pg_featureserv", "github.com/CrunchyData/pg_featureserv"},
	}
	if got := goBuildCommands(g, "/out/pg_featureserv"); !reflect.DeepEqual(got, want) {
		t.Errorf("%q", got)
	}
	g.Package = "github.com/go-spatial/tegola/cmd/tegola"
	if got := goBuildCommands(g, "/o")[0][1]; got != "github.com/go-spatial/tegola/cmd/tegola@v1.3.1" {
		t.Error(got)
	}
	for _, c := range []struct {
		g    catalog.GoBuild
		want []string
	}{
		{catalog.GoBuild{Version: "v1.0.0"}, []string{"GOFLAGS=-mod=mod", "GOTOOLCHAIN=" + catalog.GoToolchain, "GOWORK=off", "CGO_ENABLED=0"}},
		{catalog.GoBuild{Version: "v1.0.0", Cgo: true}, []string{"GOFLAGS=-mod=mod", "GOTOOLCHAIN=" + catalog.GoToolchain, "GOWORK=off", "CGO_ENABLED=1"}},
		{catalog.GoBuild{Version: "local"}, []string{"GOFLAGS=-mod=readonly", "GOTOOLCHAIN=" + catalog.GoToolchain, "GOWORK=off", "CGO_ENABLED=0"}},
	} {
		if got := goBuildEnv(c.g); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%+v: %q", c.g, got)
		}
	}
	if m := goBuildModule(g); !strings.Contains(m, "require github.com/CrunchyData/pg_featureserv v1.3.1") {
		t.Error(m)
	}
}

// The context hash counts a Go program by its stamp, not its bytes: a
// fresh checkout (no .gobuild) hashes like one that built it, a new
// version or changed local sources change it.
func TestContextHashAndGoBuildStamp(t *testing.T) {
	root := t.TempDir()
	ctxDir := filepath.Join(root, "services", "x")
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(ctxDir, "Dockerfile"), "FROM x\n")
	write(filepath.Join(root, "go.mod"), "module m\n")
	write(filepath.Join(root, "go.sum"), "")
	write(filepath.Join(root, "cmd", "p", "main.go"), "package main\n")
	local := []catalog.GoBuild{{Module: "m", Version: "local", Binary: "p", Sources: []string{"cmd/p"}}}
	hash := func(builds []catalog.GoBuild) string {
		t.Helper()
		stamp, err := goBuildsStamp(root, builds)
		if err != nil {
			t.Fatal(err)
		}
		h, err := contextHash(ctxDir, stamp)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	before := hash(local)
	write(filepath.Join(ctxDir, catalog.GoBuildDir, "p"), "binary")
	write(filepath.Join(ctxDir, catalog.GoBuildDir+".tmp-1", "p"), "half")
	if hash(local) != before {
		t.Error("the built program changed the context hash")
	}
	write(filepath.Join(root, "cmd", "p", "main.go"), "package main // changed\n")
	if hash(local) == before {
		t.Error("a changed local source left the context hash as it was")
	}
	mod := []catalog.GoBuild{{Module: "example.org/a", Version: "v1.0.0", Binary: "a"}}
	v1 := hash(mod)
	mod[0].Version = "v1.0.1"
	if hash(mod) == v1 {
		t.Error("a new version left the context hash as it was")
	}
	if _, err := goBuildsStamp(root, []catalog.GoBuild{{Version: "local", Sources: []string{"missing"}}}); err == nil {
		t.Error("missing sources hashed")
	}
}
