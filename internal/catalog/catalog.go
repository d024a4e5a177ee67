// Package catalog discovers the services osgs knows about.
//
// A service is a folder services/<name>/ holding a compose fragment,
// compose.yaml, that defines a compose service of the same name in a profile
// of the same name. osgs-specific facts (description, settings, secrets, what
// to back up) live in the service's `x-osgs` extension, which compose ignores.
// Adding a service therefore means adding one folder.
package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Setting is one .env key a service needs.
type Setting struct {
	Key     string `yaml:"key"`
	Default string `yaml:"default"`
	// Secret settings are generated with crypto/rand when missing and are
	// never printed.
	Secret bool   `yaml:"secret"`
	Help   string `yaml:"help"`
}

// Volume is a named volume a service keeps data in.
type Volume struct {
	Name   string `yaml:"name"`   // compose volume name (the project prefix is added by compose)
	Path   string `yaml:"path"`   // mount point inside the service's container
	Backup bool   `yaml:"backup"` // saved by <service>:backup as a tar stream
	// Mirror marks content that osgs writes (qgis:publish, files:put, a
	// restore) and the service only reads. On a swarm, every node of the
	// service's role keeps a copy, brought up to date after each write and
	// by each deploy, so the service can run replicas on several nodes: it
	// is not pinned to the db node for this volume's sake.
	Mirror bool `yaml:"mirror"`
	// Owner ("uid:gid") is set on the volume's root before the service
	// starts, for images that run as a user but mount a volume that would
	// otherwise be created root-owned.
	Owner string `yaml:"owner"`
}

// Location is one path the nginx front door serves for a service.
type Location struct {
	// Path is the nginx location prefix, such as /mapproxy/.
	Path string `yaml:"path"`
	// Port is the service's HTTP port on its network with nginx.
	Port int `yaml:"port"`
	// Strip removes Path from the URI before proxying (for services that
	// expect to live at /).
	Strip bool `yaml:"strip"`
	// Protected puts the location behind the site's basic-auth users.
	Protected bool `yaml:"protected"`
	// Websocket passes Upgrade headers through (Jupyter, Node-RED).
	Websocket bool `yaml:"websocket"`
}

// DBRole is the PostgreSQL role a service logs in as: never the superuser,
// and with only the rights it needs. Its fields name settings in .env.
type DBRole struct {
	// Name is the role's name.
	Name string `yaml:"name"`
	// Password names the (secret) setting that holds its password.
	Password string `yaml:"password"`
	// Schemas names the setting listing the schemas it may read
	// (comma-separated); it can see nothing else.
	Schemas string `yaml:"schemas"`
	// Write names the setting that, when "true", also lets it insert,
	// update and delete in those schemas (QGIS Server's WFS-T). Empty:
	// read-only, always.
	Write string `yaml:"write"`
	// Create makes the schemas (owned by the superuser) in every database
	// when they are missing, for services whose schema is where the admin
	// publishes (the feature and tile services).
	Create bool `yaml:"create"`
}

// GoToolchain is the Go release the programs osgs builds are built with:
// the newest patch release of the Go osgs requires, fetched from the
// module proxy when the host's go is older (its standard library fixes
// reach the images).
const GoToolchain = "go1.26.10"

// GoBuild is a Go program that a service's image carries. Debian's Go is too
// old for these programs and no registry answers, so osgs builds the module
// at its pinned version from the Go module proxy with the host's Go, into
// the service's build context under GoBuildDir, where its Dockerfile
// COPYs it from.
type GoBuild struct {
	// Module is the module path, such as github.com/CrunchyData/pg_featureserv.
	Module string `yaml:"module"`
	// Version is the exact version (the proxy here serves no version lists),
	// or "local" for a program of this checkout's own module, built from
	// the working tree.
	Version string `yaml:"version"`
	// Package is the main package to build; the module itself when empty.
	Package string `yaml:"package"`
	// Binary is the program's file name in GoBuildDir.
	Binary string `yaml:"binary"`
	// Cgo builds with cgo (against the host's C libraries, which are
	// Debian bookworm's like the image's).
	Cgo bool `yaml:"cgo"`
	// Files are files or folders of the module (templates, assets) copied
	// to GoBuildDir under the same relative path.
	Files []string `yaml:"files"`
	// Sources are the folders of this checkout whose files a local
	// program is built from; their contents enter the image's context hash.
	Sources []string `yaml:"sources"`
	// Require lists "module version" pairs the build requires besides
	// Module: Go's version selection takes the higher, so a program is
	// built with current patch releases of its dependencies.
	Require []string `yaml:"require"`
	// Accept lists vulnerabilities govulncheck may find called, each with
	// why it does not apply ("GO-2026-1234: reason").
	Accept []string `yaml:"accept"`
}

// LocalVersion marks a Go program of this checkout's own module.
const LocalVersion = "local"

// Local reports whether g is built from this checkout.
func (g GoBuild) Local() bool { return g.Version == LocalVersion }

// GoBuildDir is the folder of a build context that holds the Go programs
// osgs built for it (never checked in).
const GoBuildDir = ".gobuild"

// Stamp identifies what a build of g produces; it enters the image's
// context hash in place of the binary.
func (g GoBuild) Stamp() string {
	return fmt.Sprintf("%s@%s pkg=%s bin=%s cgo=%t files=%s sources=%s require=%s toolchain=%s", g.Module, g.Version, g.PackagePath(), g.Binary, g.Cgo, strings.Join(g.Files, ","), strings.Join(g.Sources, ","), strings.Join(g.Require, ","), GoToolchain)
}

// PackagePath is the package go build builds.
func (g GoBuild) PackagePath() string {
	if g.Package == "" {
		return g.Module
	}
	return g.Package
}

var (
	versionRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+incompatible)?$`)
	binaryRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	moduleRE  = regexp.MustCompile(`^[a-z0-9.-]+\.[a-z]+(/[A-Za-z0-9_.~-]+)+$`)
)

func (g GoBuild) check() error {
	switch {
	case !moduleRE.MatchString(g.Module):
		return fmt.Errorf("module %q is not a module path", g.Module)
	case g.Local() && len(g.Sources) == 0:
		return fmt.Errorf("local program %s needs its sources: folders", g.Binary)
	case !g.Local() && len(g.Sources) > 0:
		return fmt.Errorf("sources: are for local programs only (%s)", g.Module)
	case !g.Local() && !versionRE.MatchString(g.Version):
		return fmt.Errorf("version %q of %s must be an exact version such as v1.2.3", g.Version, g.Module)
	case g.Package != "" && g.Package != g.Module && !strings.HasPrefix(g.Package, g.Module+"/"):
		return fmt.Errorf("package %q is not in module %s", g.Package, g.Module)
	case !binaryRE.MatchString(g.Binary):
		return fmt.Errorf("binary %q must be a plain file name", g.Binary)
	}
	for _, f := range append(slices.Clone(g.Files), g.Sources...) {
		if f == "" || !filepath.IsLocal(f) {
			return fmt.Errorf("path %q must be relative, inside the module", f)
		}
	}
	return nil
}

// Service is one catalog entry.
type Service struct {
	Name        string
	Dir         string // folder holding compose.yaml, relative to the project root
	Description string
	Settings    []Setting
	Volumes     []Volume
	Image       string
	Built       bool     // has a build: section, i.e. the image is ours
	Ports       []string // published ports as written in the fragment
	// Database marks the PostgreSQL service whose databases are dumped with pg_dump.
	Database bool
	// FrontDoor marks the service that publishes the web ports and proxies
	// to every web service (nginx): it shares each one's network.
	FrontDoor bool
	// DatabaseClient marks a service that logs in to PostGIS with a role
	// osgs makes in its own code rather than through DBRole (PostgREST's
	// authenticator): like a service with a DBRole, it is on the database
	// network.
	DatabaseClient bool
	// Web lists the paths nginx proxies to the service.
	Web []Location
	// NginxTemplate is the service's own nginx location template
	// (nginx.conf.tmpl in its folder), relative to the project root; empty
	// when it has none. It is for what Web cannot say, such as FastCGI.
	NginxTemplate string
	// URL is the path users open, when it is not the first web path (for a
	// service with its own nginx template).
	URL string
	// Quiesce says how the service is held still while its volumes are
	// copied, for services whose volumes hold live state (an H2, BoltDB or
	// SQLite database): "stop" or "pause"; empty for files that are only
	// written by hand.
	Quiesce string
	// DBRole is the database role the service logs in as, if it uses PostGIS.
	DBRole *DBRole
	// GoBuilds are the Go programs built for its image.
	GoBuilds []GoBuild
}

// NginxTemplateName is the optional per-service nginx template file.
const NginxTemplateName = "nginx.conf.tmpl"

// HasWeb reports whether nginx serves the service.
func (s Service) HasWeb() bool { return len(s.Web) > 0 || s.NginxTemplate != "" }

// UsesDatabase reports whether the service logs in to PostGIS: it has a
// database role, or says it is a database client.
func (s Service) UsesDatabase() bool { return s.DBRole != nil || s.DatabaseClient }

// Mirrors reports whether the service declares its volume name mirrored.
func (s Service) Mirrors(name string) bool {
	return slices.ContainsFunc(s.Volumes, func(v Volume) bool { return v.Name == name && v.Mirror })
}

// meta is the x-osgs block.
type meta struct {
	Description string     `yaml:"description"`
	Settings    []Setting  `yaml:"settings"`
	Volumes     []Volume   `yaml:"volumes"`
	Database    bool       `yaml:"database"`
	FrontDoor   bool       `yaml:"front_door"`
	DBClient    bool       `yaml:"database_client"`
	Web         []Location `yaml:"web"`
	URL         string     `yaml:"url"`
	Quiesce     string     `yaml:"quiesce"`
	DBRole      *DBRole    `yaml:"database_role"`
	GoBuilds    []GoBuild  `yaml:"go_build"`
}

type fragment struct {
	Services map[string]struct {
		Osgs     yaml.Node `yaml:"x-osgs"`
		Profiles []string  `yaml:"profiles"`
		Image    string    `yaml:"image"`
		Build    yaml.Node `yaml:"build"`
		Ports    []any     `yaml:"ports"`
	} `yaml:"services"`
}

var (
	nameRE  = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	ownerRE = regexp.MustCompile(`^[0-9]+:[0-9]+$`)
	roleRE  = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
)

// Catalog is the ordered set of known services.
type Catalog struct {
	Services []Service
}

// ServicesDir is where service folders live, relative to the project root.
const ServicesDir = "services"

// Load reads every services/<name>/compose.yaml under root.
func Load(root string) (*Catalog, error) {
	entries, err := os.ReadDir(filepath.Join(root, ServicesDir))
	if err != nil {
		return nil, fmt.Errorf("read service catalog: %w", err)
	}
	c := &Catalog{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		rel := filepath.Join(ServicesDir, e.Name(), "compose.yaml")
		data, err := os.ReadFile(filepath.Join(root, rel))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		s, err := parse(e.Name(), rel, data)
		if err != nil {
			return nil, err
		}
		tmpl := filepath.Join(ServicesDir, e.Name(), NginxTemplateName)
		if _, err := os.Stat(filepath.Join(root, tmpl)); err == nil {
			s.NginxTemplate = tmpl
		}
		c.Services = append(c.Services, s)
	}
	sort.Slice(c.Services, func(i, j int) bool { return c.Services[i].Name < c.Services[j].Name })
	if err := c.checkRoles(); err != nil {
		return nil, err
	}
	return c, nil
}

// DatabaseNetwork is the network the database shares with the services
// that log in to it; no service may take its name (a web service's
// network is named after the service).
const DatabaseNetwork = "database"

// checkRoles: at most one front door and one database, and no service
// named like the database network.
func (c *Catalog) checkRoles() error {
	var doors, dbs []string
	for _, s := range c.Services {
		if s.FrontDoor {
			doors = append(doors, s.Name)
		}
		if s.Database {
			dbs = append(dbs, s.Name)
		}
		if s.Name == DatabaseNetwork {
			return fmt.Errorf("services/%s: the name %q is the database network's", s.Name, s.Name)
		}
	}
	if len(doors) > 1 {
		return fmt.Errorf("services %s all say x-osgs.front_door: only one may", strings.Join(doors, ", "))
	}
	if len(dbs) > 1 {
		return fmt.Errorf("services %s all say x-osgs.database: only one may", strings.Join(dbs, ", "))
	}
	return nil
}

// FrontDoor is the service that proxies to every web service (nginx), or
// "" when the catalog has none.
func (c *Catalog) FrontDoor() string {
	for _, s := range c.Services {
		if s.FrontDoor {
			return s.Name
		}
	}
	return ""
}

func parse(name, rel string, data []byte) (Service, error) {
	if !nameRE.MatchString(name) {
		return Service{}, fmt.Errorf("%s: service folder name %q must be lower-case letters, digits and dashes", rel, name)
	}
	var f fragment
	if err := yaml.Unmarshal(data, &f); err != nil {
		return Service{}, fmt.Errorf("%s: %w", rel, err)
	}
	def, ok := f.Services[name]
	if !ok {
		return Service{}, fmt.Errorf("%s: defines no service named %q", rel, name)
	}
	if def.Osgs.IsZero() {
		return Service{}, fmt.Errorf("%s: service %q has no x-osgs block", rel, name)
	}
	m, err := decodeMeta(&def.Osgs)
	if err != nil {
		return Service{}, fmt.Errorf("%s: x-osgs: %w", rel, err)
	}
	for svc, d := range f.Services {
		if !slices.Contains(d.Profiles, name) {
			return Service{}, fmt.Errorf("%s: service %q must be in profile %q", rel, svc, name)
		}
	}
	if def.Image == "" {
		return Service{}, fmt.Errorf("%s: service %q needs an image: name", rel, name)
	}
	if strings.HasSuffix(def.Image, ":latest") || !strings.Contains(lastSegment(def.Image), ":") {
		return Service{}, fmt.Errorf("%s: image %q must carry a pinned tag", rel, def.Image)
	}
	s := Service{
		Name:           name,
		Dir:            filepath.Dir(rel),
		Description:    strings.TrimSpace(m.Description),
		Settings:       m.Settings,
		Volumes:        m.Volumes,
		Image:          def.Image,
		Built:          !def.Build.IsZero(),
		Database:       m.Database,
		FrontDoor:      m.FrontDoor,
		DatabaseClient: m.DBClient,
		Web:            m.Web,
		URL:            m.URL,
		Quiesce:        m.Quiesce,
		DBRole:         m.DBRole,
		GoBuilds:       m.GoBuilds,
	}
	for _, g := range s.GoBuilds {
		if err := g.check(); err != nil {
			return Service{}, fmt.Errorf("%s: x-osgs.go_build: %w", rel, err)
		}
		if !s.Built {
			return Service{}, fmt.Errorf("%s: x-osgs.go_build needs a build: section whose Dockerfile copies %s/%s", rel, GoBuildDir, g.Binary)
		}
	}
	if r := s.DBRole; r != nil && (!roleRE.MatchString(r.Name) || r.Password == "" || r.Schemas == "") {
		return Service{}, fmt.Errorf("%s: x-osgs.database_role needs a lower-case name and the settings of its password and schemas", rel)
	}
	if s.Quiesce != "" && s.Quiesce != "stop" && s.Quiesce != "pause" {
		return Service{}, fmt.Errorf("%s: x-osgs.quiesce %q must be stop or pause", rel, s.Quiesce)
	}
	if s.URL == "" && len(s.Web) > 0 {
		s.URL = s.Web[0].Path
	}
	if s.Description == "" {
		return Service{}, fmt.Errorf("%s: x-osgs.description is empty", rel)
	}
	for _, p := range def.Ports {
		s.Ports = append(s.Ports, fmt.Sprint(p))
	}
	for _, l := range s.Web {
		if !strings.HasPrefix(l.Path, "/") || strings.ContainsAny(l.Path, " ;{}\"'\n") {
			return Service{}, fmt.Errorf("%s: web path %q must start with / and hold no spaces, quotes, braces or semicolons", rel, l.Path)
		}
		if l.Port <= 0 || l.Port > 65535 {
			return Service{}, fmt.Errorf("%s: web path %q needs its port (1-65535)", rel, l.Path)
		}
	}
	for _, v := range s.Volumes {
		if v.Owner != "" && !ownerRE.MatchString(v.Owner) {
			return Service{}, fmt.Errorf("%s: volume %s: owner %q must be uid:gid in digits", rel, v.Name, v.Owner)
		}
	}
	for _, st := range s.Settings {
		if st.Key == "" {
			return Service{}, fmt.Errorf("%s: a setting has no key", rel)
		}
	}
	return s, nil
}

// decodeMeta decodes the x-osgs block strictly: a misspelt key (protect:
// for protected:) is an error, never a silently ignored flag.
func decodeMeta(n *yaml.Node) (*meta, error) {
	raw, err := yaml.Marshal(n)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var m meta
	if err := dec.Decode(&m); err != nil {
		return nil, errors.New(strings.Join(strings.Fields(err.Error()), " "))
	}
	return &m, nil
}

func lastSegment(image string) string {
	if i := strings.LastIndexByte(image, '/'); i >= 0 {
		return image[i+1:]
	}
	return image
}

// Names lists the service names in order.
func (c *Catalog) Names() []string {
	out := make([]string, len(c.Services))
	for i, s := range c.Services {
		out[i] = s.Name
	}
	return out
}

// Get returns the named service, or an error naming the known ones.
func (c *Catalog) Get(name string) (Service, error) {
	for _, s := range c.Services {
		if s.Name == name {
			return s, nil
		}
	}
	return Service{}, &UnknownServiceError{Name: name, Known: c.Names()}
}

// UnknownServiceError reports a service name that is not in the catalog.
type UnknownServiceError struct {
	Name  string
	Known []string
}

func (e *UnknownServiceError) Error() string {
	return fmt.Sprintf("unknown service %q (known: %s)", e.Name, strings.Join(e.Known, ", "))
}

// Settings lists every setting of every service, in catalog order, without
// duplicate keys (the first definition wins).
func (c *Catalog) Settings() []Setting {
	seen := map[string]bool{}
	var out []Setting
	for _, s := range c.Services {
		for _, st := range s.Settings {
			if !seen[st.Key] {
				seen[st.Key] = true
				out = append(out, st)
			}
		}
	}
	return out
}
