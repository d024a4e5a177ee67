package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/osgs/osgs/internal/catalog"
	"github.com/osgs/osgs/internal/envfile"
)

func testCatalog() *catalog.Catalog {
	return &catalog.Catalog{Services: []catalog.Service{{
		Name: "db",
		Settings: []catalog.Setting{
			{Key: "DB_PORT", Default: "5432"},
			{Key: "DB_PASSWORD", Secret: true},
		},
	}}}
}

func TestEnsureCreatesThenKeeps(t *testing.T) {
	dir := t.TempDir()
	res, err := Ensure(dir, testCatalog())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || !strings.Contains(strings.Join(res.Added, ","), "DB_PASSWORD") {
		t.Fatalf("first run: %+v", res)
	}
	info, _ := os.Stat(Path(dir))
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", info.Mode().Perm())
	}
	pw := res.File.Value("DB_PASSWORD")
	if len(pw) < 20 {
		t.Fatalf("secret too short: %d", len(pw))
	}

	// The user edits a value and removes a key: both are respected on re-run.
	f, _ := envfile.Read(Path(dir))
	f.Set("DB_PORT", "6543")
	g := &envfile.File{}
	for _, k := range f.Keys() {
		if k != KeyDomain {
			g.Set(k, f.Value(k))
		}
	}
	g.Write(Path(dir))

	res, err = Ensure(dir, testCatalog())
	if err != nil {
		t.Fatal(err)
	}
	if res.Created || strings.Join(res.Added, ",") != KeyDomain {
		t.Fatalf("second run added %v", res.Added)
	}
	if res.File.Value("DB_PORT") != "6543" || res.File.Value("DB_PASSWORD") != pw {
		t.Fatal("existing values changed")
	}

	res, err = Ensure(dir, testCatalog())
	if err != nil || len(res.Added) != 0 {
		t.Fatalf("third run: %v %v", res.Added, err)
	}
}

func TestEnsureRefusesMalformed(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(Path(dir), []byte("garbage\n"), 0o600)
	if _, err := Ensure(dir, testCatalog()); err == nil {
		t.Fatal("malformed .env accepted")
	}
	if b, _ := os.ReadFile(Path(dir)); string(b) != "garbage\n" {
		t.Fatal("malformed .env was rewritten")
	}
}

func TestEnsureFixesMode(t *testing.T) {
	dir := t.TempDir()
	Ensure(dir, testCatalog())
	os.Chmod(Path(dir), 0o644)
	if _, err := Ensure(dir, testCatalog()); err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(filepath.Join(dir, ".env"))
	if info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", info.Mode().Perm())
	}
}

func TestSetEnabledNoDuplicatesNoCollateral(t *testing.T) {
	f := &envfile.File{}
	f.Set(KeyProfiles, "qgis-server, qgis-desktop,db,mergin-dbsync")
	if SetEnabled(f, "db", true) {
		t.Fatal("enabling an enabled service changed something")
	}
	SetEnabled(f, "geoserver", true)
	SetEnabled(f, "geoserver", true)
	SetEnabled(f, "qgis-server", false)
	SetEnabled(f, "db", false)
	if got := f.Value(KeyProfiles); got != "geoserver,mergin-dbsync,qgis-desktop" {
		t.Fatalf("profiles = %q", got)
	}
}

func TestProjectNameFromEnvironment(t *testing.T) {
	f := &envfile.File{}
	f.Set(KeyProjectName, "fromfile")
	t.Setenv(KeyProjectName, "")
	if got := ProjectName(f); got != "fromfile" {
		t.Fatalf("got %q", got)
	}
	t.Setenv(KeyProjectName, "fromenv")
	if got := ProjectName(f); got != "fromenv" {
		t.Fatalf("got %q", got)
	}
}

func TestSecrets(t *testing.T) {
	f := &envfile.File{}
	f.Set("DB_PASSWORD", "s3cretvalue")
	f.Set("DB_PORT", "5432")
	if got := Secrets(f, testCatalog()); len(got) != 1 || got[0] != "s3cretvalue" {
		t.Fatalf("secrets = %v", got)
	}
}
