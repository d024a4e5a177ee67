package testenv

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/osgs/osgs/internal/debootstrap"
)

var debMu sync.Mutex

// DebData returns a folder holding the files under prefix (such as
// "usr/share/doc/osmium-tool/examples/") of a Debian package: real data
// sets that Debian ships (Natural Earth in python3-geopandas, an
// OpenStreetMap extract in osmium-tool), fetched from the signed mirror and
// checked against its index like the base image's packages. They are kept
// in the user's cache folder.
func DebData(t testing.TB, pkg, prefix string) string {
	t.Helper()
	debMu.Lock()
	defer debMu.Unlock()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	root := filepath.Join(cache, "osgs", "testdata")
	dir := filepath.Join(root, pkg, filepath.FromSlash(prefix))
	if _, err := os.Stat(filepath.Join(root, pkg, ".complete")); err == nil {
		return dir
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(root, "fetch-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	debs, err := debootstrap.Fetch(context.Background(), debootstrap.Options{Mirror: os.Getenv("OSGS_DEBIAN_MIRROR")}, tmp, pkg)
	if err != nil {
		t.Fatalf("test data from the Debian mirror: %v", err)
	}
	out := filepath.Join(tmp, "out")
	if _, err := debootstrap.ExtractFiles(debs[0], "", out); err != nil {
		t.Fatalf("test data: %v", err)
	}
	if err := os.WriteFile(filepath.Join(out, ".complete"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(root, pkg))
	if err := os.Rename(out, filepath.Join(root, pkg)); err != nil {
		t.Fatal(err)
	}
	return dir
}
