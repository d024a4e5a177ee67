package uripath

import (
	"regexp"
	"strings"
	"testing"
)

func TestAmbiguous(t *testing.T) {
	for _, u := range []string{
		"/mapproxy/demo/%2e%2e/?wms_capabilities", "/mapproxy/demo%2F..%2F?x", "/a/../b", "/a/./b", "/a/..",
		"/a\\b", "/a%5cb", "/a%252e", "/files/%2E%2E/", "/x/.%2e/", "/x/..%2f",
	} {
		if !Ambiguous(u) {
			t.Errorf("%s passes", u)
		}
	}
	for _, u := range []string{"/", "/a/b..c/", "/a/.hidden", "/mapproxy/service?FORMAT=image%2Fpng&x=../", "/tiles/publish.roads/1/2/3.pbf", "/a%20b"} {
		if Ambiguous(u) {
			t.Errorf("%s refused", u)
		}
	}
}

func TestNginxMap(t *testing.T) {
	if got := NginxMap(Patterns[0]); got != `"~*^[^?]*(%2e|%2f|%5c|%25(2e|2f|5c)|\\\\)"` {
		t.Errorf("%s", got)
	}
	if got := NginxMap(Patterns[1]); got != `"~^[^?]*/\.\.?(/|\?|$)"` {
		t.Errorf("%s", got)
	}
}

// FuzzAmbiguous: a path nginx lets through is one whose location nginx
// picks from the same path the backend reads: decoding adds no slash or
// dot segment, and resolving dot segments changes nothing but repeated
// slashes.
func FuzzAmbiguous(f *testing.F) {
	for _, s := range []string{"/mapproxy/demo/%2e%2e/?x", "/a/b", "/a//b/", "/a%20b?c=%2f", "/x/..;/y"} {
		f.Add(s)
	}
	slashes := regexp.MustCompile(`/+`)
	f.Fuzz(func(t *testing.T, uri string) {
		if !strings.HasPrefix(uri, "/") || Ambiguous(uri) {
			return
		}
		routed, backend, ok := Routed(uri)
		if !ok {
			return
		}
		raw, _, _ := strings.Cut(uri, "?")
		if strings.Count(backend, "/") != strings.Count(raw, "/") {
			t.Fatalf("%q: decoding made a slash", uri)
		}
		if slashes.ReplaceAllString(backend, "/") != routed && routed+"/" != slashes.ReplaceAllString(backend, "/") && slashes.ReplaceAllString(backend, "/") != routed+"." {
			t.Fatalf("%q: nginx routes %q, the backend reads %q", uri, routed, backend)
		}
	})
}
