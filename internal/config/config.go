// Package config turns the catalog's settings into the project's .env.
//
// Ensure is idempotent: it keeps every value that is already there, adds only
// what is missing (generating secrets with crypto/rand), and writes the file
// with mode 0600. It never prompts. The set of enabled services is kept in
// COMPOSE_PROFILES, which plain `docker compose` reads from the same file.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/osgs/osgs/internal/catalog"
	"github.com/osgs/osgs/internal/envfile"
)

// Core settings every stack has.
const (
	KeyProjectName = "COMPOSE_PROJECT_NAME"
	KeyProfiles    = "COMPOSE_PROFILES"
	KeyDomain      = "OSGS_DOMAIN"
	KeyTimezone    = "TZ"
	DefaultProject = "osgs"
	EnvFileName    = ".env"
)

// DefaultEnabled are the services a fresh checkout starts with.
var DefaultEnabled = []string{"nginx", "hugo", "postgis"}

// Path returns the .env path of the project at root.
func Path(root string) string { return filepath.Join(root, EnvFileName) }

func coreSettings() []catalog.Setting {
	return []catalog.Setting{
		{Key: KeyProjectName, Default: DefaultProject, Help: "compose project name; COMPOSE_PROJECT_NAME in the environment overrides it"},
		{Key: KeyDomain, Default: "localhost", Help: "public host name of the site"},
		{Key: KeyTimezone, Default: hostTimezone(), Help: "time zone of the services"},
		{Key: KeyProfiles, Default: strings.Join(DefaultEnabled, ","), Help: "enabled services; change with stack:enable and stack:disable"},
	}
}

// hostTimezone returns the host's IANA zone name, or Etc/UTC.
func hostTimezone() string {
	if tz := os.Getenv("TZ"); tz != "" && !strings.HasPrefix(tz, ":") {
		return tz
	}
	if b, err := os.ReadFile("/etc/timezone"); err == nil {
		if tz := strings.TrimSpace(string(b)); tz != "" {
			return tz
		}
	}
	if target, err := os.Readlink("/etc/localtime"); err == nil {
		if _, zone, ok := strings.Cut(target, "zoneinfo/"); ok {
			return zone
		}
	}
	return "Etc/UTC"
}

// Result reports what Ensure did.
type Result struct {
	File    *envfile.File
	Created bool     // the file did not exist
	Added   []string // keys added (secret values are never reported)
}

// Load reads the existing .env of root. A malformed file is an error.
func Load(root string) (*envfile.File, error) {
	f, err := envfile.Read(Path(root))
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Ensure creates or completes root/.env from the catalog's settings.
func Ensure(root string, cat *catalog.Catalog) (*Result, error) {
	path := Path(root)
	f, err := envfile.Read(path)
	res := &Result{}
	switch {
	case errors.Is(err, os.ErrNotExist):
		f = &envfile.File{}
		f.AddComment("osgs configuration: written by `mage stack:configure`; existing values are never changed.")
		f.AddComment("Keep this file private (mode 0600): it holds the stack's secrets.")
		res.Created = true
	case err != nil:
		return nil, err
	}
	settings := append(coreSettings(), cat.Settings()...)
	for _, s := range settings {
		if _, ok := f.Get(s.Key); ok {
			continue
		}
		v := s.Default
		if s.Secret {
			if v, err = envfile.NewSecret(envfile.SecretLength); err != nil {
				return nil, err
			}
		}
		if s.Help != "" {
			f.AddComment(s.Help)
		}
		f.Set(s.Key, v)
		res.Added = append(res.Added, s.Key)
	}
	res.File = f
	info, statErr := os.Stat(path)
	needsChmod := statErr == nil && info.Mode().Perm() != envfile.Mode
	if len(res.Added) > 0 || res.Created {
		if err := f.Write(path); err != nil {
			return nil, err
		}
	} else if needsChmod {
		if err := os.Chmod(path, envfile.Mode); err != nil {
			return nil, fmt.Errorf("chmod %s: %w", path, err)
		}
	}
	return res, nil
}

// Domain is the site's public host name (OSGS_DOMAIN), localhost by default.
func Domain(f *envfile.File) string { return DomainOf(f.Map()) }

// DomainOf is Domain over a settings map.
func DomainOf(settings map[string]string) string {
	if d := strings.TrimSpace(settings[KeyDomain]); d != "" {
		return d
	}
	return "localhost"
}

// ProjectName is COMPOSE_PROJECT_NAME from the environment, else from .env,
// else the default.
func ProjectName(f *envfile.File) string {
	if v := strings.TrimSpace(os.Getenv(KeyProjectName)); v != "" {
		return v
	}
	if v := f.Value(KeyProjectName); v != "" {
		return v
	}
	return DefaultProject
}

// Enabled lists the enabled services recorded in f.
func Enabled(f *envfile.File) []string {
	return SplitList(f.Value(KeyProfiles))
}

// SplitList reads a comma-separated setting or flag: trimmed, without
// empty items or duplicates.
func SplitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// SetEnabled records whether service is enabled, keeping the list sorted and
// free of duplicates. It reports whether anything changed.
func SetEnabled(f *envfile.File, service string, on bool) bool {
	cur := Enabled(f)
	has := slices.Contains(cur, service)
	switch {
	case on && !has:
		cur = append(cur, service)
	case !on && has:
		cur = slices.DeleteFunc(cur, func(s string) bool { return s == service })
	default:
		return false
	}
	slices.Sort(cur)
	f.Set(KeyProfiles, strings.Join(cur, ","))
	return true
}

// Secrets returns the values of every secret setting that is set, for masking.
func Secrets(f *envfile.File, cat *catalog.Catalog) []string {
	var out []string
	for _, s := range cat.Settings() {
		if v := f.Value(s.Key); s.Secret && v != "" {
			out = append(out, v)
		}
	}
	return out
}
