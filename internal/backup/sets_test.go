package backup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sets(names []string, verified ...string) []Info {
	var out []Info
	for _, n := range names {
		t, _ := time.Parse(TimeFormat, n)
		v := false
		for _, x := range verified {
			v = v || x == n
		}
		out = append(out, Info{Name: n, Created: t, Verified: v})
	}
	return out
}

func kept(k map[string]bool) string {
	var out []string
	for n, ok := range k {
		if ok {
			out = append(out, n)
		}
	}
	return strings.Join(sortStrings(out), ",")
}

func sortStrings(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

func TestKeepPolicies(t *testing.T) {
	all := sets([]string{ // newest first
		"20261125T120000Z", "20261125T060000Z", "20261124T120000Z", "20261117T120000Z", "20261020T120000Z", "20260915T120000Z",
	}, "20260915T120000Z")
	cases := []struct {
		p    Policy
		want string
	}{
		{Policy{Last: 2}, "20260915T120000Z,20261125T060000Z,20261125T120000Z"},
		{Policy{Daily: 2}, "20260915T120000Z,20261124T120000Z,20261125T120000Z"},
		{Policy{Weekly: 2}, "20260915T120000Z,20261117T120000Z,20261125T120000Z"},
		{Policy{Monthly: 2}, "20260915T120000Z,20261020T120000Z,20261125T120000Z"},
	}
	for _, c := range cases {
		if got := kept(Keep(all, c.p)); got != c.want {
			t.Errorf("%+v: kept %s, want %s", c.p, got, c.want)
		}
	}
	// Without any verified set, the newest is kept whatever the policy.
	unverified := sets([]string{"20261125T120000Z", "20261124T120000Z"})
	if got := kept(Keep(unverified, Policy{Monthly: 0, Last: 0, Daily: 0, Weekly: 0})); got != "20261125T120000Z" {
		t.Errorf("kept %s", got)
	}
}

func TestPruneRefusesEmptyPolicyAndKeepsNewestVerified(t *testing.T) {
	root := t.TempDir()
	for _, n := range []string{"20261101T000000Z", "20261102T000000Z", "20261103T000000Z"} {
		os.MkdirAll(filepath.Join(root, n), 0o700)
		os.WriteFile(filepath.Join(root, n, ManifestName), []byte(`{"format":"`+Format+`","files":[]}`), 0o600)
	}
	os.WriteFile(filepath.Join(root, "20261101T000000Z", VerifiedName), []byte("{}"), 0o600)
	if _, err := Prune(root, Policy{}, false); err == nil {
		t.Fatal("an empty policy was accepted")
	}
	gone, err := Prune(root, Policy{Last: 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(gone, ",") != "20261102T000000Z" {
		t.Fatalf("pruned %v", gone)
	}
	left, _ := List(root)
	if len(left) != 2 || !left[1].Verified {
		t.Fatalf("left %+v", left)
	}
}
