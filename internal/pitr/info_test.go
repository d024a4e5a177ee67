package pitr

import (
	"strings"
	"testing"
	"time"
)

// sample is pgbackrest 2.45's info --output=json, shortened, with two
// repositories (the second encrypted).
const sample = `[{"archive":[{"database":{"id":1,"repo-key":1},"id":"15-1","max":"000000010000000000000009","min":"000000010000000000000003"},
{"database":{"id":1,"repo-key":2},"id":"15-1","max":"00000002000000000000000A","min":"000000010000000000000005"}],
"backup":[{"archive":{"start":"000000010000000000000003","stop":"000000010000000000000003"},"database":{"id":1,"repo-key":1},
"info":{"delta":30000000,"repository":{"delta":4000000,"size":4000000},"size":30000000},"label":"20261202-070000F","prior":null,
"timestamp":{"start":1764658800,"stop":1764658805},"type":"full"},
{"database":{"id":1,"repo-key":2},"info":{"delta":30000000,"repository":{"delta":4100000,"size":4100000},"size":30000000},
"label":"20261202-080000F","timestamp":{"start":1764662400,"stop":1764662410},"type":"full"}],
"cipher":"mixed","db":[{"id":1,"repo-key":1,"system-id":7,"version":"15"}],"name":"osgs",
"repo":[{"cipher":"none","key":1,"status":{"code":0,"message":"ok"}},{"cipher":"aes-256-cbc","key":2,"status":{"code":0,"message":"ok"}}],
"status":{"code":0,"lock":{"backup":{"held":false}},"message":"ok"}},
{"name":"other","status":{"code":2,"message":"missing stanza path"}}]`

func TestParseInfo(t *testing.T) {
	in, err := ParseInfo([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if in.Status != "ok" || len(in.Backups) != 2 || in.Backups[0].Label != "20261202-070000F" || in.Backups[1].Repo != 2 {
		t.Fatalf("info = %+v", in)
	}
	if in.WALMin != "000000010000000000000003" || in.WALMax != "00000002000000000000000A" {
		t.Fatalf("WAL range %s..%s", in.WALMin, in.WALMax)
	}
	if len(in.Repos) != 2 || in.Repos[1].Cipher != "aes-256-cbc" || in.Repos[1].Backups != 1 {
		t.Fatalf("repos = %+v", in.Repos)
	}
	if _, err := ParseInfo([]byte(`[{"name":"other"}]`)); err == nil || !strings.Contains(err.Error(), "no stanza osgs") {
		t.Fatalf("no stanza: %v", err)
	}
	if _, err := ParseInfo([]byte(`{`)); err == nil {
		t.Fatal("corrupt JSON accepted")
	}
}

func TestRange(t *testing.T) {
	in, _ := ParseInfo([]byte(sample))
	last := time.Unix(1764666000, 0).UTC()
	r, err := RangeOf(in, 0, last)
	if err != nil || !r.From.Equal(time.Unix(1764658805, 0)) || !r.To.Equal(last) {
		t.Fatalf("range = %v, %v", r, err)
	}
	r2, _ := RangeOf(in, 2, last)
	if !r2.From.Equal(time.Unix(1764662410, 0)) {
		t.Fatalf("repo 2 range from %v", r2.From)
	}
	if _, err := RangeOf(&Info{}, 0, last); err == nil || !strings.Contains(err.Error(), "no base backup") {
		t.Fatalf("no backups: %v", err)
	}
	for target, ok := range map[time.Time]bool{
		r.From: true, r.To: true, r.From.Add(time.Minute): true,
		r.From.Add(-time.Second): false, r.To.Add(time.Second): false,
	} {
		err := r.Check(target)
		if (err == nil) != ok || err != nil && !strings.Contains(err.Error(), "nothing was changed") {
			t.Errorf("Check(%v) = %v", target, err)
		}
	}
}

func TestParseTarget(t *testing.T) {
	want := time.Date(2026, 11, 29, 14, 5, 0, 0, time.UTC)
	for _, s := range []string{"2026-11-29 14:05:00+00", "2026-11-29 16:05:00+02", "2026-11-29T14:05:00Z", "2026-11-29 14:05:00", " 2026-11-29 14:05:00+00:00 "} {
		got, err := ParseTarget(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTarget(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "yesterday", "2026-13-01 00:00:00"} {
		if _, err := ParseTarget(s); err == nil {
			t.Errorf("ParseTarget(%q) accepted", s)
		}
	}
}
