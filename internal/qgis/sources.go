package qgis

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/osgs/osgs/internal/config"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/qgis/qgsfile"
)

// volumeRoots are the folders of QGIS Server's volumes.
var volumeRoots = []string{ProjectsDir, "/io/svg", "/usr/share/fonts/truetype/osgs"}

// SourcePolicy is what the layers of project name may reach: the services
// osgs provides, the project's own folder, the data folders
// QGIS_SERVER_DATA_DIRS lists (inside QGIS Server's volumes) and the remote
// hosts QGIS_SERVER_REMOTE_HOSTS lists.
func SourcePolicy(settings map[string]string, name string) (qgsfile.Policy, error) {
	pol := qgsfile.Policy{
		Services:    Services(settings),
		ProjectDir:  path.Join(ProjectsDir, name),
		RemoteHosts: config.SplitList(strings.ToLower(settings["QGIS_SERVER_REMOTE_HOSTS"])),
	}
	for _, d := range config.SplitList(settings["QGIS_SERVER_DATA_DIRS"]) {
		clean := path.Clean(d)
		if !path.IsAbs(d) || !qgsfile.Inside(clean, volumeRoots) {
			return pol, fmt.Errorf("%w: QGIS_SERVER_DATA_DIRS names %q, which is not a folder inside QGIS Server's volumes (%s)", ErrRefused, d, strings.Join(volumeRoots, ", "))
		}
		pol.DataDirs = append(pol.DataDirs, clean)
	}
	return pol, nil
}

// checkResolved resolves every file the project's layers read inside the
// server's container, symbolic links and all, and refuses one that then
// lies outside the folders the policy allows.
func checkResolved(ctx context.Context, e *engine.Engine, id string, p *Project, pol qgsfile.Policy) error {
	var files []string
	owner := map[string]string{}
	for _, l := range p.Layers {
		r, err := qgsfile.Decode(l.Provider, l.Source)
		if err != nil {
			continue // Check refused it already
		}
		for _, f := range r.Paths {
			if !strings.HasPrefix(f, "/") {
				f = path.Join(pol.ProjectDir, f)
			}
			files = append(files, f)
			owner[f] = l.Name
		}
	}
	if len(files) == 0 {
		return nil
	}
	var out bytes.Buffer
	script := `for f; do realpath -m -- "$f" || exit 1; done`
	if err := e.Exec(ctx, id, append([]string{"sh", "-c", script, "sh"}, files...), engine.ExecOptions{Stdout: &out, Stderr: io.Discard}); err != nil {
		return fmt.Errorf("resolve the project's files in %s: %w", Service, err)
	}
	resolved := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(resolved) != len(files) {
		return fmt.Errorf("resolve the project's files in %s: %d answers for %d files", Service, len(resolved), len(files))
	}
	roots := append([]string{pol.ProjectDir}, pol.DataDirs...)
	var probs []Problem
	for i, f := range files {
		if !qgsfile.Inside(resolved[i], roots) {
			probs = append(probs, Problem{Layer: owner[f], Reason: fmt.Sprintf("its file %s leads through a symbolic link to %s, outside the project's folder", f, resolved[i])})
		}
	}
	if len(probs) > 0 {
		return refusal(path.Base(pol.ProjectDir), probs)
	}
	return nil
}
