// Package uripath holds the front door's rule for request paths that nginx
// and a backend could read differently: nginx picks a location by the
// decoded, normalised path but passes the raw one on. The rule is rendered
// into nginx's configuration (a map of $request_uri) and checked here in Go
// with the same expressions, so its fuzz target tests what nginx runs. It
// uses the standard library only.
package uripath

import (
	"net/url"
	"path"
	"regexp"
	"strings"
)

// Patterns are the regular expressions (PCRE and Go RE2 alike) of a raw
// request URI whose path nginx refuses with 400: an encoded dot, slash or
// backslash (or one encoded twice), a raw backslash, and a raw "." or ".."
// segment. The query string is not looked at.
var Patterns = []string{
	`(?i)^[^?]*(%2e|%2f|%5c|%25(2e|2f|5c)|\\)`,
	`^[^?]*/\.\.?(/|\?|$)`,
}

var compiled = func() []*regexp.Regexp {
	out := make([]*regexp.Regexp, len(Patterns))
	for i, p := range Patterns {
		out[i] = regexp.MustCompile(p)
	}
	return out
}()

// Ambiguous reports whether nginx refuses the raw request URI.
func Ambiguous(uri string) bool {
	for _, re := range compiled {
		if re.MatchString(uri) {
			return true
		}
	}
	return false
}

// NginxMap is a Pattern as an nginx map key: a quoted "~" or "~*" regex
// (nginx reads \\ in a quoted string as one backslash).
func NginxMap(p string) string {
	op := "~"
	if strings.HasPrefix(p, "(?i)") {
		op, p = "~*", strings.TrimPrefix(p, "(?i)")
	}
	return `"` + op + strings.ReplaceAll(p, `\\`, `\\\\`) + `"`
}

// Routed is the path nginx chooses a location by: the raw path decoded,
// then its dot segments and repeated slashes resolved. The second result
// is the raw path decoded as a backend that does not normalise reads it.
func Routed(uri string) (routed, backend string, ok bool) {
	raw, _, _ := strings.Cut(uri, "?")
	dec, err := url.PathUnescape(raw)
	if err != nil {
		return "", "", false
	}
	clean := path.Clean(dec)
	if strings.HasSuffix(dec, "/") && clean != "/" {
		clean += "/"
	}
	return clean, dec, true
}
