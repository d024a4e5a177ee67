package qgsfile

import (
	"fmt"
	"regexp"
	"strconv"
)

// Version is a QGIS release: major.minor.patch.
type Version struct {
	Major, Minor, Patch int
}

// versionRE finds the release at the start of a project's version
// attribute ("3.40.1-Bratislava", "3.22.16-Białowieża") or of a Debian
// package version ("3.22.16+dfsg-1", "1:3.40.5+dfsg-1").
var versionRE = regexp.MustCompile(`^(?:[0-9]+:)?([0-9]+)\.([0-9]+)(?:\.([0-9]+))?`)

// ParseVersion reads the release at the start of s.
func ParseVersion(s string) (Version, error) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("%q is not a QGIS version", s)
	}
	var v Version
	v.Major, _ = strconv.Atoi(m[1])
	v.Minor, _ = strconv.Atoi(m[2])
	if m[3] != "" {
		v.Patch, _ = strconv.Atoi(m[3])
	}
	return v, nil
}

// Newer reports whether v is a later release than w.
func (v Version) Newer(w Version) bool {
	switch {
	case v.Major != w.Major:
		return v.Major > w.Major
	case v.Minor != w.Minor:
		return v.Minor > w.Minor
	}
	return v.Patch > w.Patch
}

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }
