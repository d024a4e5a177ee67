package qgsfile

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
)

// Policy is what a published project's layers may reach on the server.
type Policy struct {
	// Services are the pg_service names the server has; a PostgreSQL layer
	// names one and nothing else of the connection.
	Services []string
	// ProjectDir is the project's own folder on the server; relative paths
	// resolve against it.
	ProjectDir string
	// DataDirs are further folders file layers may read.
	DataDirs []string
	// RemoteHosts are the hosts remote layers (WMS, WFS, XYZ, ...) may
	// reach; "*" allows any. Empty refuses every remote source.
	RemoteHosts []string
}

// Problem is one layer that cannot be published.
type Problem struct {
	Layer  string // its name
	Reason string
}

func (p Problem) String() string { return fmt.Sprintf("layer %q: %s", p.Layer, p.Reason) }

// Reach is where a layer's data source leads: files on the server, remote
// URLs, or a PostgreSQL connection.
type Reach struct {
	Paths []string // local files, as the source names them
	URLs  []string
	Conn  *URI // a PostgreSQL or SpatiaLite connection
	// Problems are what a search of the whole source found beyond its
	// parts: a credential or a URL in any spelling.
	Problems []string
}

// Check finds every layer whose source carries credentials in any form,
// reaches a file outside the project's folder and the data folders, goes
// through a GDAL virtual file system or another scheme, or reaches a remote
// host the policy does not allow; and every layer of a provider osgs does
// not know (it cannot tell where those lead).
func Check(p *Project, pol Policy) []Problem {
	var out []Problem
	for _, l := range p.Layers {
		name := l.Name
		if name == "" {
			name = l.ID
		}
		for _, reason := range pol.layer(l) {
			out = append(out, Problem{name, reason})
		}
	}
	return out
}

func (pol Policy) layer(l Layer) []string {
	if l.Embedded != "" {
		return []string{fmt.Sprintf("it is embedded from the project %q; copy the layer into this project", l.Embedded)}
	}
	if l.Provider == "" && l.Source == "" {
		return nil // an annotation or group layer: no data source
	}
	r, err := Decode(l.Provider, l.Source)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	if r.Conn != nil {
		out = append(out, pol.conn(l.Provider, r.Conn)...)
	}
	for _, p := range r.Paths {
		if reason := pol.path(p); reason != "" {
			out = append(out, reason)
		}
	}
	for _, u := range r.URLs {
		if reason := pol.remote(u); reason != "" {
			out = append(out, reason)
		}
	}
	if len(out) == 0 {
		out = r.Problems
	}
	return out
}

// pgRefused are the keys of a connection that would log in as someone
// else, or elsewhere, than the service's role on the stack's server.
var pgRefused = []string{"user", "password", "authcfg", "host", "hostaddr", "port", "driver", "sslmode", "requiressl", "options", "krbsrvname", "gsslib", "tty", "connect_timeout", "sslcert", "sslkey", "passfile"}

func (pol Policy) conn(provider string, u *URI) []string {
	var out []string
	for _, k := range u.Order {
		if slices.Contains(pgRefused, k) {
			out = append(out, fmt.Sprintf("its data source sets %s=; a layer names only service='%s' (the server logs in as its own role)", k, pol.Services[0]))
		}
	}
	if provider == "spatialite" {
		return out
	}
	svc, db := u.Keys["service"], u.Keys["dbname"]
	switch {
	case svc == "":
		out = append(out, fmt.Sprintf("its data source names no service; use service='%s' (or one of %s)", pol.Services[0], strings.Join(pol.Services, ", ")))
	case !slices.Contains(pol.Services, svc):
		out = append(out, fmt.Sprintf("service %q is not one osgs provides (%s)", svc, strings.Join(pol.Services, ", ")))
	}
	if db != "" && db != svc && !(svc == pol.Services[0] && slices.Contains(pol.Services, db)) {
		out = append(out, fmt.Sprintf("dbname %q differs from its service's database; name the database's own service instead", db))
	}
	return out
}

// schemeRE is a URL scheme or a GDAL driver prefix ("PG:", "WMS:",
// "http:", "GPKG:") at the start of a path.
var schemeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+._-]*:`)

// path checks a file a layer reads. QGIS resolves "./" and "../" against
// the project's folder and takes any other path as it is, so a relative
// path without them would resolve against the server's working folder.
func (pol Policy) path(p string) string {
	lower := strings.ToLower(p)
	switch {
	case strings.Contains(lower, "/vsi") || strings.HasPrefix(lower, "vsi"):
		return fmt.Sprintf("its source %q goes through a GDAL virtual file system", p)
	case schemeRE.MatchString(p):
		return fmt.Sprintf("its source %q is not a file path (a URL scheme or a driver prefix)", p)
	case strings.ContainsAny(p, "\\\x00"):
		return fmt.Sprintf("its source %q has a backslash or a NUL", p)
	}
	abs := p
	switch {
	case p == "." || p == ".." || strings.HasPrefix(p, "./") || strings.HasPrefix(p, "../"):
		abs = path.Join(pol.ProjectDir, p)
	case !strings.HasPrefix(p, "/"):
		return fmt.Sprintf("its source %q is a relative path QGIS would not resolve against the project's folder; write ./%s", p, p)
	}
	abs = path.Clean(abs)
	if Inside(abs, append([]string{pol.ProjectDir}, pol.DataDirs...)) {
		return ""
	}
	return fmt.Sprintf("its file %s is outside the project's folder %s%s", abs, pol.ProjectDir, dataDirsNote(pol.DataDirs))
}

func dataDirsNote(dirs []string) string {
	if len(dirs) == 0 {
		return ""
	}
	return " and the data folders (" + strings.Join(dirs, ", ") + ")"
}

// Inside reports whether the clean absolute path p is one of roots or lies
// below one.
func Inside(p string, roots []string) bool {
	for _, r := range roots {
		r = path.Clean(r)
		if r != "/" && r != "." && (p == r || strings.HasPrefix(p, r+"/")) {
			return true
		}
	}
	return false
}

func (pol Policy) remote(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Sprintf("its source reaches %q, which is not an http(s) URL", raw)
	}
	if u.User != nil {
		return "its source's URL carries a user or password"
	}
	host := strings.ToLower(u.Hostname())
	if slices.Contains(pol.RemoteHosts, "*") || slices.Contains(pol.RemoteHosts, host) {
		return ""
	}
	return fmt.Sprintf("its source reaches the remote host %s; allow it in QGIS_SERVER_REMOTE_HOSTS", host)
}
