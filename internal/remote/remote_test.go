package remote

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		url, err string
	}{
		{"s3://s3.example.org/bucket/prefix", ""},
		{"s3+http://127.0.0.1:9000/b", ""},
		{"sftp://backup@host.example.org:2222/srv/osgs", ""},
		{"ftp://host/x", `unknown scheme "ftp"`},
		{"s3://KEY:SECRET@host/b", "holds a password"},
		{"s3:///bucket", "names no host"},
		{"s3://host/b?x=1", "no query"},
		{"%zz", "not a URL"},
	} {
		_, err := Parse(tc.url)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("Parse(%q) = %v, want %q", tc.url, err, tc.err)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("Parse(%q) repeats the secret: %v", tc.url, err)
		}
	}
}

func TestDestinations(t *testing.T) {
	d, err := Destinations(map[string]string{
		"BACKUP_REMOTE_OFFICE": "sftp://u@h/p",
		"BACKUP_REMOTE":        "s3://h/b",
		"BACKUP_REMOTE_EMPTY":  "",
		"OTHER":                "x",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(d) != 2 || d[0].Name != "default" || d[1].Name != "office" {
		t.Fatalf("Destinations = %+v", d)
	}
	if p, err := Pick(d, "OFFICE"); err != nil || p.URL != "sftp://u@h/p" {
		t.Fatalf("Pick(OFFICE) = %+v, %v", p, err)
	}
	if p, err := Pick(d, ""); err != nil || p.Name != "default" {
		t.Fatalf("Pick() = %+v, %v", p, err)
	}
	if _, err := Pick(d, "nope"); err == nil || !strings.Contains(err.Error(), "configured: default, office") {
		t.Fatalf("Pick(nope) = %v", err)
	}
	if _, err := Pick(nil, ""); err == nil || !strings.Contains(err.Error(), "BACKUP_REMOTE=") {
		t.Fatalf("Pick with none = %v", err)
	}
	if _, err := Destinations(map[string]string{"BACKUP_REMOTE_X": "gopher://h/"}); err == nil || !strings.HasPrefix(err.Error(), "BACKUP_REMOTE_X: ") {
		t.Fatalf("bad URL: %v", err)
	}
}

func TestSetting(t *testing.T) {
	env := map[string]string{"K": "global", "K_OFFICE": "office"}
	c := Config{Name: "office", Lookup: func(k string) string { return env[k] }}
	if c.Setting("K") != "office" {
		t.Fatal("named setting not preferred")
	}
	c.Name = "home"
	if c.Setting("K") != "global" {
		t.Fatal("global setting not the fallback")
	}
}

func TestPrivate(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "localhost": true, "10.1.2.3": true, "192.168.0.9": true, "::1": true,
		"8.8.8.8": false, "s3.amazonaws.com": false,
	} {
		if Private(host) != want {
			t.Errorf("Private(%s) != %v", host, want)
		}
	}
}

func TestPartSize(t *testing.T) {
	for _, size := range []int64{-1, 0, 1, 100 << 20, 500 << 30} {
		p := partSize(size)
		if p < 16<<20 || p%(1<<20) != 0 {
			t.Errorf("partSize(%d) = %d", size, p)
		}
		if size > 0 && int64(p)*10000 < size*101/100 {
			t.Errorf("partSize(%d) = %d: too small for 10,000 parts", size, p)
		}
		if n := uploadThreads(p); n < 1 || n > 4 || (n > 1 && uint64(n)*p > uploadMemory) {
			t.Errorf("partSize(%d) = %d: %d threads hold more than %d bytes", size, p, n, uploadMemory)
		}
	}
	if n := uploadThreads(16 << 20); n != 4 {
		t.Errorf("16 MiB parts: %d threads, want 4", n)
	}
}
