package qgis

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/osgs/osgs/internal/config"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/nginx"
	"github.com/osgs/osgs/internal/qgis/qgsfile"
)

// Service is QGIS Server's catalog name.
const Service = "qgis-server"

// ProjectsDir is the qgis_projects volume's mount point in the container.
const ProjectsDir = "/io/data"

// projectsVolume is that volume's catalog name.
const projectsVolume = "qgis_projects"

// CatalogDir holds a link to each published project: the folder QGIS
// Server's landing page lists (it does not look into sub-folders).
const CatalogDir = ProjectsDir + "/.osgs-catalog"

// owner is the uid:gid QGIS Server runs as, which owns what it serves.
const owner = 1000

// Services are the pg_service names QGIS Server has (its
// pg_service.conf.tmpl): osgs, the first database, and one per database.
func Services(settings map[string]string) []string {
	out := []string{"osgs"}
	for _, db := range config.SplitList(settings["POSTGRES_DBS"]) {
		if db != "osgs" {
			out = append(out, db)
		}
	}
	return out
}

// PublishOptions say what to publish.
type PublishOptions struct {
	File string // a .qgs or .qgz on this machine
	Name string // the name it is served under; the file's base name when empty
	// Force publishes a project saved by a QGIS newer than the server's.
	Force bool
}

// Info is a published project.
type Info struct {
	Name    string
	Project *Project
	URLs    URLs
}

// URLs are where a published project answers.
type URLs struct {
	OGC      string // WMS, WFS, WCS and WMTS (SERVICE=...)
	Features string // QGIS Server's OGC API Features
}

// ProjectURLs are the public URLs of project name.
func ProjectURLs(e *engine.Engine, name string) URLs {
	base := nginx.SiteURL(e.Env.Map()) + "/ogc/" + name
	return URLs{OGC: base, Features: base + "/wfs3/"}
}

// Publish checks a project file and, when every layer is valid in QGIS
// Server itself, serves it as name. A refused project leaves the previous
// version served, and nothing of the new one behind.
func Publish(ctx context.Context, e *engine.Engine, o PublishOptions) (*Info, error) {
	name := o.Name
	if name == "" {
		name = ProjectName(o.File)
	}
	if err := CheckName(name); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(o.File)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRefused, err)
	}
	archive, err := qgsfile.Read(o.File, data)
	if err != nil {
		return nil, err
	}
	p, err := ParseProject(archive.QGS)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.File, err)
	}
	if len(p.Layers) == 0 {
		return nil, fmt.Errorf("%w: %s has no layers", ErrRefused, o.File)
	}
	pol, err := SourcePolicy(e.Env.Map(), name)
	if err != nil {
		return nil, err
	}
	if probs := qgsfile.Check(p, pol); len(probs) > 0 {
		return nil, refusal(name, probs)
	}
	// The server gets an archive osgs packed from the checked parts only.
	if data, err = archive.Pack(name); err != nil {
		return nil, err
	}
	id, err := e.ContainerOf(ctx, Service)
	if err != nil {
		return nil, err
	}
	if !o.Force {
		if err := checkVersion(ctx, e, id, name, p); err != nil {
			return nil, err
		}
	}
	dir := path.Join(ProjectsDir, name)
	created, err := ensureDir(ctx, e, id, dir)
	if err != nil {
		return nil, err
	}
	stage := path.Join(dir, ".osgs-publish-"+randHex()+".qgz")
	committed := false
	defer func() {
		if committed {
			return
		}
		clean := []string{"rm", "-f", stage}
		if created {
			clean = []string{"rm", "-rf", dir}
		}
		_ = e.Exec(context.WithoutCancel(ctx), id, clean, engine.ExecOptions{Stdout: io.Discard, Stderr: io.Discard})
	}()
	if err := e.WriteFile(ctx, id, stage, data, 0o644, owner, owner); err != nil {
		return nil, err
	}
	if err := checkResolved(ctx, e, id, p, pol); err != nil {
		return nil, err
	}
	if err := Check(ctx, e, id, stage, name, p); err != nil {
		return nil, err
	}
	if err := e.Exec(ctx, id, []string{"mv", "-f", stage, path.Join(dir, name+".qgz")}, engine.ExecOptions{Stdout: io.Discard, Stderr: io.Discard}); err != nil {
		return nil, fmt.Errorf("publish %s: %w", name, err)
	}
	committed = true
	link := []string{"sh", "-c", `mkdir -p "$1" && ln -sfn "../$2/$2.qgz" "$1/$2.qgz"`, "sh", CatalogDir, name}
	if err := e.Exec(ctx, id, link, engine.ExecOptions{Stdout: io.Discard, Stderr: io.Discard}); err != nil {
		return nil, fmt.Errorf("publish %s: served, but not listed on the landing page: %w", name, err)
	}
	if err := e.Mirror(ctx, Service, projectsVolume); err != nil {
		return nil, fmt.Errorf("publish %s: served by one replica, not yet by the others: %w", name, err)
	}
	return &Info{Name: name, Project: p, URLs: ProjectURLs(e, name)}, nil
}

// ServerVersion is the release of QGIS Server in container id, from its
// Debian package.
func ServerVersion(ctx context.Context, e *engine.Engine, id string) (qgsfile.Version, error) {
	var out bytes.Buffer
	if err := e.Exec(ctx, id, []string{"dpkg-query", "-W", "-f=${Version}", "qgis-server-bin"}, engine.ExecOptions{Stdout: &out, Stderr: io.Discard}); err != nil {
		return qgsfile.Version{}, fmt.Errorf("read QGIS Server's version: %w", err)
	}
	return qgsfile.ParseVersion(strings.TrimSpace(out.String()))
}

// checkVersion refuses a project saved by a QGIS release (major.minor)
// newer than QGIS Server's, which would open it without a word and drop
// what it does not know. A project that names no version passes.
func checkVersion(ctx context.Context, e *engine.Engine, id, name string, p *Project) error {
	if p.Version == "" {
		return nil
	}
	saved, err := qgsfile.ParseVersion(p.Version)
	if err != nil {
		return fmt.Errorf("%w: %s: %v (publish with -force to serve it anyway)", ErrRefused, name, err)
	}
	server, err := ServerVersion(ctx, e, id)
	if err != nil {
		return fmt.Errorf("%w (publish with -force to serve it anyway)", err)
	}
	if (qgsfile.Version{Major: saved.Major, Minor: saved.Minor}).Newer(qgsfile.Version{Major: server.Major, Minor: server.Minor}) {
		return fmt.Errorf("%w: %s was saved by QGIS %s, newer than QGIS Server %s, which would drop what it does not know (symbology, labels, expressions): save it from QGIS %d.%d, or publish with -force",
			ErrRefused, name, p.Version, server, server.Major, server.Minor)
	}
	return nil
}

func refusal(name string, probs []Problem) error {
	parts := make([]string, len(probs))
	for i, p := range probs {
		parts[i] = p.String()
	}
	return fmt.Errorf("%w: project %s: %s", ErrRefused, name, strings.Join(parts, "; "))
}

// Check loads the project at file in QGIS Server, strict about bad layers
// (QGIS_SERVER_IGNORE_BAD_LAYERS=false): qgis_mapserv.fcgi answers one WMS
// GetCapabilities as CGI in the running container, with the same
// pg_service.conf, fonts and files as the served projects. A layer QGIS
// cannot load (a missing table, a wrong service, a file that is not on the
// server) is named.
func Check(ctx context.Context, e *engine.Engine, id, file, name string, p *Project) error {
	var stdout, stderr bytes.Buffer
	err := e.Exec(ctx, id, []string{"/usr/lib/cgi-bin/qgis_mapserv.fcgi"}, engine.ExecOptions{
		Env: []string{
			"REQUEST_METHOD=GET", "QUERY_STRING=SERVICE=WMS&REQUEST=GetCapabilities",
			"SERVER_NAME=localhost", "SERVER_PORT=80", "SCRIPT_NAME=/ogc/" + name,
			"QGIS_PROJECT_FILE=" + file, "QGIS_SERVER_IGNORE_BAD_LAYERS=false",
			"QGIS_SERVER_LOG_STDERR=1", "QGIS_SERVER_LOG_LEVEL=1",
		},
		Stdout: &stdout, Stderr: &stderr,
	})
	if bad := BadLayers(stderr.String(), p); len(bad) > 0 {
		probs := make([]Problem, len(bad))
		for i, b := range bad {
			probs[i] = Problem{Layer: b, Reason: "not valid in QGIS Server (its table, file or service is missing on the server, or the server may not read it)"}
		}
		return refusal(name, probs)
	}
	if err != nil {
		return fmt.Errorf("check %s in QGIS Server: %w", name, err)
	}
	if !strings.Contains(stdout.String(), "<WMS_Capabilities") {
		return fmt.Errorf("%w: project %s: QGIS Server did not load it: %s", ErrRefused, name, serverError(stdout.String(), stderr.String()))
	}
	return nil
}

// serverError is the one line that says why QGIS Server refused a project:
// its ServiceException, else the last line it logged.
func serverError(out, log string) string {
	if i := strings.Index(out, "<ServiceException"); i >= 0 {
		msg := out[i:]
		if j := strings.Index(msg, ">"); j >= 0 {
			msg = msg[j+1:]
		}
		if j := strings.Index(msg, "</ServiceException>"); j >= 0 {
			msg = msg[:j]
		}
		return strings.Join(strings.Fields(msg), " ")
	}
	lines := strings.Split(strings.TrimSpace(log), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// ensureDir makes dir (owned by QGIS Server's user) and reports whether it
// had to.
func ensureDir(ctx context.Context, e *engine.Engine, id, dir string) (bool, error) {
	var out bytes.Buffer
	err := e.Exec(ctx, id, []string{"sh", "-c", `if [ -d "$1" ]; then echo kept; else mkdir -m 0755 "$1" && echo made; fi`, "sh", dir}, engine.ExecOptions{Stdout: &out, Stderr: &out})
	if err != nil {
		return false, fmt.Errorf("make %s: %w", dir, err)
	}
	return strings.TrimSpace(out.String()) == "made", nil
}

// Projects lists the published projects with their layers.
func Projects(ctx context.Context, e *engine.Engine) ([]Info, error) {
	id, err := e.ContainerOf(ctx, Service)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	script := `cd "$1" && for d in */; do n=${d%/}; [ -f "$n/$n.qgz" ] && printf '%s\n' "$n"; done; true`
	if err := e.Exec(ctx, id, []string{"sh", "-c", script, "sh", ProjectsDir}, engine.ExecOptions{Stdout: &out, Stderr: io.Discard}); err != nil {
		return nil, fmt.Errorf("list %s: %w", ProjectsDir, err)
	}
	var infos []Info
	for _, name := range strings.Fields(out.String()) {
		file := path.Join(ProjectsDir, name, name+".qgz")
		data, err := e.ReadFile(ctx, id, file)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", file, err)
		}
		info := Info{Name: name, URLs: ProjectURLs(e, name)}
		if a, err := qgsfile.Read(file, data); err == nil {
			info.Project, _ = ParseProject(a.QGS)
		}
		infos = append(infos, info)
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name < infos[j].Name })
	return infos, nil
}

// PrintProjects writes the qgis:projects table.
func PrintProjects(w io.Writer, infos []Info) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROJECT\tSAVED BY QGIS\tLAYERS\tOGC (WMS, WFS, WMTS)\tOGC API FEATURES")
	for _, i := range infos {
		layers, version := "(unreadable)", ""
		if i.Project != nil {
			version = i.Project.Version
			names := make([]string, len(i.Project.Layers))
			for k, l := range i.Project.Layers {
				names[k] = l.Name
			}
			layers = strings.Join(names, ", ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", i.Name, version, layers, i.URLs.OGC, i.URLs.Features)
	}
	tw.Flush()
}

// Unpublish removes a published project (its whole folder, with any files
// published beside it). It refuses without yes.
func Unpublish(ctx context.Context, e *engine.Engine, name string, yes bool) error {
	if err := CheckName(name); err != nil {
		return err
	}
	id, err := e.ContainerOf(ctx, Service)
	if err != nil {
		return err
	}
	dir := path.Join(ProjectsDir, name)
	if err := e.Exec(ctx, id, []string{"test", "-f", path.Join(dir, name+".qgz")}, engine.ExecOptions{Stdout: io.Discard, Stderr: io.Discard}); err != nil {
		var x *engine.ExitError
		if errors.As(err, &x) {
			return fmt.Errorf("%w: no project %q is published (see qgis:projects)", ErrRefused, name)
		}
		return err
	}
	if !yes {
		return &engine.ConfirmError{What: "remove the published project " + name + " and its folder"}
	}
	if err := e.Exec(ctx, id, []string{"rm", "-rf", path.Join(CatalogDir, name+".qgz"), dir}, engine.ExecOptions{Stdout: io.Discard, Stderr: io.Discard}); err != nil {
		return err
	}
	if err := e.Mirror(ctx, Service, projectsVolume); err != nil {
		return fmt.Errorf("unpublish %s: removed from one replica, not yet from the others: %w", name, err)
	}
	return nil
}

func randHex() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
