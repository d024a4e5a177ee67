// Package vulncheck holds the test that runs govulncheck on every Go
// program osgs builds: osgs itself (its targets and osgs-tiles) and each
// catalog go_build module, against Go's vulnerability database as the
// module proxy serves it (golang.org/x/vulndb's OSV files, indexed by its
// own indexdb), so it needs no other host.
package vulncheck

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/osgs/osgs/internal/catalog"
)

// Tools are pinned; the database is the newest the proxy has.
const (
	govulncheck = "golang.org/x/vuln/cmd/govulncheck@v1.1.4"
	vulndb      = "golang.org/x/vulndb"
)

// database builds a v1 vulnerability database from the proxy's newest
// golang.org/x/vulndb and returns its file:// URL.
func database(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", vulndb+"@latest").Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v", vulndb, err)
	}
	var mod struct{ Dir, Version string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download %s: %s", vulndb, out)
	}
	db := t.TempDir()
	cmd := exec.Command("go", "run", vulndb+"/cmd/indexdb@"+mod.Version, "-vulns", filepath.Join(mod.Dir, "data", "osv"), "-out", db)
	cmd.Dir = t.TempDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("indexdb: %v: %s", err, out)
	}
	t.Logf("vulnerability database: %s@%s", vulndb, mod.Version)
	return "file://" + db
}

// called runs govulncheck in dir on pattern and returns the IDs of the
// vulnerabilities whose vulnerable functions the code calls.
func called(t *testing.T, db, dir, pattern string) []string {
	t.Helper()
	cmd := exec.Command("go", "run", govulncheck, "-db", db, "-format", "json", pattern)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN="+catalog.GoToolchain, "GOFLAGS=-mod=mod", "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("govulncheck %s in %s: %v: %s", pattern, dir, err, stderr.String())
	}
	var ids []string
	dec := json.NewDecoder(bufio.NewReader(bytes.NewReader(out)))
	for dec.More() {
		var msg struct {
			Finding *struct {
				OSV   string `json:"osv"`
				Trace []struct {
					Function string `json:"function"`
				} `json:"trace"`
			} `json:"finding"`
		}
		if err := dec.Decode(&msg); err != nil {
			t.Fatalf("govulncheck output: %v", err)
		}
		f := msg.Finding
		if f != nil && len(f.Trace) > 0 && f.Trace[0].Function != "" && !slices.Contains(ids, f.OSV) {
			ids = append(ids, f.OSV)
		}
	}
	return ids
}

// TestGovulncheck fails on a vulnerability a program calls, unless its
// go_build entry accepts it with a reason.
func TestGovulncheck(t *testing.T) {
	if testing.Short() {
		t.Skip("govulncheck needs the module proxy")
	}
	root, _ := filepath.Abs("../..")
	cat, err := catalog.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	db := database(t)
	t.Run("osgs", func(t *testing.T) {
		if ids := called(t, db, root, "./..."); len(ids) > 0 {
			t.Errorf("osgs calls vulnerable code: %s", strings.Join(ids, ", "))
		}
	})
	for _, s := range cat.Services {
		for _, g := range s.GoBuilds {
			if g.Local() {
				continue // part of osgs, above
			}
			t.Run(s.Name+"/"+g.Binary, func(t *testing.T) {
				dir := t.TempDir()
				mod := "module osgs.local/vulncheck\n\ngo 1.26\n\nrequire " + g.Module + " " + g.Version + "\n"
				for _, r := range g.Require {
					mod += "require " + r + "\n"
				}
				os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o600)
				get := exec.Command("go", "get", g.PackagePath()+"@"+g.Version)
				get.Dir, get.Env = dir, append(os.Environ(), "GOTOOLCHAIN="+catalog.GoToolchain, "GOFLAGS=-mod=mod", "GOWORK=off")
				if out, err := get.CombinedOutput(); err != nil {
					t.Fatalf("go get: %v: %s", err, out)
				}
				for _, id := range called(t, db, dir, g.PackagePath()) {
					if !slices.ContainsFunc(g.Accept, func(a string) bool { return strings.HasPrefix(a, id+":") }) {
						t.Errorf("%s calls %s (https://pkg.go.dev/vuln/%s): upgrade it with require:, or accept it in go_build with the reason", g.Binary, id, id)
					}
				}
			})
		}
	}
}
