package swarm

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

func TestRegistryRef(t *testing.T) {
	for _, tc := range []struct {
		registry, ref, want, err string
	}{
		{"registry.example.org:5000", "osgs/nginx:1.22-bookworm", "registry.example.org:5000/osgs/nginx:1.22-bookworm", ""},
		{"registry.example.org:5000/gis/", "osgs/nginx:1.22-bookworm", "registry.example.org:5000/gis/osgs/nginx:1.22-bookworm", ""},
		{"10.0.0.1:5000", "debian", "10.0.0.1:5000/library/debian:latest", ""},
		{"localhost", "docker.io/library/debian:bookworm", "localhost/library/debian:bookworm", ""},
		{"reg.example.org", "other.example.org/team/app:v1", "reg.example.org/team/app:v1", ""},
		{"https://reg.example.org", "osgs/nginx:1", "", "without a scheme"},
		{"", "osgs/nginx:1", "", "without a scheme"},
		{"registry", "osgs/nginx:1", "", "a host name with a dot or a port"},
		{"reg.example.org:x", "osgs/nginx:1", "", "host[:port]"},
		{"reg.example.org", "Not/Valid", "", "image"},
	} {
		got, err := registryRef(tc.registry, tc.ref)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("registryRef(%q, %q) = %q, %v; want an error with %q", tc.registry, tc.ref, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("registryRef(%q, %q) = %q, %v; want %q", tc.registry, tc.ref, got, err, tc.want)
		}
	}
}

func TestRegistryAuth(t *testing.T) {
	if a, err := registryAuth("reg.example.org:5000", "", ""); a != "" || err != nil {
		t.Fatalf("no user: %q, %v", a, err)
	}
	if _, err := registryAuth("reg.example.org:5000", "gis", ""); err == nil {
		t.Fatal("a user without a password was accepted")
	}
	a, err := registryAuth("reg.example.org:5000/gis", "gis", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	b, err := base64.URLEncoding.DecodeString(a)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil || m["username"] != "gis" || m["password"] != "s3cret" || m["serveraddress"] != "reg.example.org:5000" {
		t.Fatalf("auth = %s, %v", b, err)
	}
}

func TestNetworkOptions(t *testing.T) {
	if o := NetworkOptions(true); len(o) != 1 || o["encrypted"] != "" {
		t.Errorf("encrypted: %v", o)
	}
	if o := NetworkOptions(false); o != nil {
		t.Errorf("clear: %v", o)
	}
}
