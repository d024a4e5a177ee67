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
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strings"
)

// ErrRefused marks a project or request refused before anything changed.
var ErrRefused = errors.New("refused")

// Layer is one map layer of a project.
type Layer struct {
	ID       string
	Name     string
	Provider string // postgres, ogr, gdal, wms, ...
	Source   string // the data source as QGIS wrote it
}

// Project is what osgs reads of a .qgs.
type Project struct {
	Title  string
	Layers []Layer
}

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

// ReadQGS reads the project XML of a .qgs, or of the one .qgs inside a .qgz.
func ReadQGS(file string, data []byte) ([]byte, error) {
	switch {
	case strings.HasSuffix(strings.ToLower(file), ".qgs"):
		return data, nil
	case strings.HasSuffix(strings.ToLower(file), ".qgz"):
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return nil, fmt.Errorf("%w: %s is not a .qgz (zip): %v", ErrRefused, file, err)
		}
		var qgs []*zip.File
		for _, f := range zr.File {
			if strings.HasSuffix(strings.ToLower(f.Name), ".qgs") && !strings.Contains(f.Name, "/") {
				qgs = append(qgs, f)
			}
		}
		if len(qgs) != 1 {
			return nil, fmt.Errorf("%w: %s holds %d .qgs files, want one", ErrRefused, file, len(qgs))
		}
		r, err := qgs[0].Open()
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrRefused, file, err)
		}
		defer r.Close()
		b, err := io.ReadAll(io.LimitReader(r, 512<<20))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrRefused, file, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("%w: %s is neither a .qgs nor a .qgz", ErrRefused, file)
}

// ParseProject reads the layers of a project's XML.
func ParseProject(qgs []byte) (*Project, error) {
	var doc struct {
		XMLName xml.Name `xml:"qgis"`
		Title   string   `xml:"title"`
		Layers  []struct {
			ID       string `xml:"id"`
			Name     string `xml:"layername"`
			Provider string `xml:"provider"`
			Source   string `xml:"datasource"`
		} `xml:"projectlayers>maplayer"`
	}
	if err := xml.Unmarshal(qgs, &doc); err != nil {
		return nil, fmt.Errorf("%w: not a QGIS project: %v", ErrRefused, err)
	}
	p := &Project{Title: strings.TrimSpace(doc.Title)}
	for _, l := range doc.Layers {
		p.Layers = append(p.Layers, Layer{ID: strings.TrimSpace(l.ID), Name: strings.TrimSpace(l.Name), Provider: strings.TrimSpace(l.Provider), Source: strings.TrimSpace(l.Source)})
	}
	return p, nil
}

// connKeyRE finds key='value' or key=value pairs of a PostgreSQL data source.
var connKeyRE = regexp.MustCompile(`(?:^|\s)(service|user|password|host|dbname|authcfg)=(?:'((?:[^'\\]|\\.)*)'|(\S+))`)

// Conn returns the connection keys of a postgres layer's data source.
func Conn(source string) map[string]string {
	out := map[string]string{}
	for _, m := range connKeyRE.FindAllStringSubmatch(source, -1) {
		v := m[2]
		if v == "" {
			v = m[3]
		}
		out[m[1]] = v
	}
	return out
}

// Problem is one layer that cannot work on the server.
type Problem struct {
	Layer  string // its name
	Reason string
}

func (p Problem) String() string { return fmt.Sprintf("layer %q: %s", p.Layer, p.Reason) }

// CheckSources finds PostgreSQL layers that do not use one of the services
// osgs provides, or that carry their own credentials (which would bypass the
// qgis_server role): what QGIS Server would only call "not valid".
func CheckSources(p *Project, services []string) []Problem {
	var out []Problem
	for _, l := range p.Layers {
		if l.Provider != "postgres" {
			continue
		}
		c := Conn(l.Source)
		switch {
		case c["password"] != "" || c["user"] != "" || c["authcfg"] != "":
			out = append(out, Problem{l.Name, "its data source carries a user, password or authcfg; use only service='" + services[0] + "' (the server logs in as qgis_server)"})
		case c["service"] == "":
			out = append(out, Problem{l.Name, fmt.Sprintf("its data source names no service; use service='%s' (or one of %s)", services[0], strings.Join(services, ", "))})
		case !slices.Contains(services, c["service"]):
			out = append(out, Problem{l.Name, fmt.Sprintf("service %q is not one osgs provides (%s)", c["service"], strings.Join(services, ", "))})
		}
	}
	return out
}

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

// MakeQGZ packs a project's XML as a .qgz holding <name>.qgs.
func MakeQGZ(name string, qgs []byte) ([]byte, error) {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, err := zw.Create(name + ".qgs")
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(qgs); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
