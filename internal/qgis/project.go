// Package qgis publishes QGIS projects to QGIS Server (qgis:publish,
// qgis:projects, qgis:unpublish) and writes the pg_service file a desktop
// user authors projects with (postgis:servicefile).
//
// A project is published as /io/data/<name>/<name>.qgz in the qgis_projects
// volume, which nginx serves at /ogc/<name>. It is first staged beside the
// file it replaces and checked by QGIS Server itself (qgis_mapserv.fcgi run
// once as CGI in the service's container, strict about bad layers); only a
// project whose every layer is valid is renamed into place, so a refused
// one leaves the previous version served.
//
// Reading projects and their data sources is pure (project.go, tested in
// project_test.go); publish.go talks to the container.
package qgis

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/osgs/osgs/internal/qgis/qgsfile"
)

// ErrRefused marks a project or request refused before anything changed.
var ErrRefused = qgsfile.ErrRefused

// Layer is one map layer of a project.
type Layer = qgsfile.Layer

// Project is what osgs reads of a .qgs.
type Project = qgsfile.Project

// Problem is one layer that cannot work on the server.
type Problem = qgsfile.Problem

// nameRE is what nginx's location accepts as a project name.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// reserved are the landing page's own paths under /ogc/.
var reserved = []string{"map", "static", "project", "index.json", "index.html"}

// CheckName refuses a name nginx would not route to the project, one a
// hidden staging file could take, and the landing page's own paths.
func CheckName(name string) error {
	if !nameRE.MatchString(name) || strings.Contains(name, "..") {
		return fmt.Errorf("%w: project name %q: letters, digits, '_', '-' and '.' only, starting with a letter or digit", ErrRefused, name)
	}
	if slices.Contains(reserved, name) {
		return fmt.Errorf("%w: project name %q is a path of QGIS Server's landing page at /ogc/; choose another with -name", ErrRefused, name)
	}
	return nil
}

// ProjectName is the name a file publishes under: its base name without
// .qgs or .qgz.
func ProjectName(file string) string {
	base := path.Base(strings.ReplaceAll(file, `\`, "/"))
	return strings.TrimSuffix(strings.TrimSuffix(base, ".qgz"), ".qgs")
}

// ParseProject reads the layers of a project's XML.
func ParseProject(qgs []byte) (*Project, error) { return qgsfile.Parse(qgs) }

// badLayersRE is QGIS Server's own report (QgsConfigCache, 3.22) of a
// project it refuses to load because of bad layers.
var badLayersRE = regexp.MustCompile(`Layer\(s\) (.*) not valid in project`)

// BadLayers reads the names (or ids) of the layers QGIS Server found
// invalid from its log, mapped to layer names.
func BadLayers(log string, p *Project) []string {
	byID := map[string]string{}
	for _, l := range p.Layers {
		byID[l.ID] = l.Name
	}
	var out []string
	for _, m := range badLayersRE.FindAllStringSubmatch(log, -1) {
		for _, n := range strings.Split(m[1], ", ") {
			if name, ok := byID[n]; ok {
				n = name
			}
			if n = strings.TrimSpace(n); n != "" && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}
