// Command cmd regenerates the files derived from the service catalog. Run it
// with `go generate ./mage` from the project root.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/osgs/osgs/internal/catalog"
	"github.com/osgs/osgs/internal/gen"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run() error {
	root, err := findRoot()
	if err != nil {
		return err
	}
	cat, err := catalog.Load(root)
	if err != nil {
		return err
	}
	files, err := gen.Render(cat)
	if err != nil {
		return err
	}
	for rel, content := range files {
		if err := os.WriteFile(filepath.Join(root, rel), content, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// findRoot walks up from the working directory to the folder with go.mod.
func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}
