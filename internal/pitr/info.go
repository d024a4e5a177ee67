// Package pitr is point-in-time recovery for PostGIS with Debian's
// pgBackRest inside the PostGIS image: WAL archiving (archive_command),
// base backups, and recovery to a moment. Repository 1 is the postgis-wal
// volume; repository 2, when BACKUP_REMOTE is an s3:// destination, is
// that bucket, encrypted by pgBackRest (aes-256-cbc). The logical sets of
// internal/backup stay: they serve upgrades, single tables and verify.
package pitr

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Stanza is pgBackRest's name for osgs's cluster.
const Stanza = "osgs"

// Info is what pgBackRest knows of the stanza (info --output=json).
type Info struct {
	Status  string // "ok", or pgBackRest's message
	Backups []Backup
	Repos   []Repo
	WALMin  string // the oldest and newest archived WAL segment, any repository
	WALMax  string
}

// Backup is one base backup.
type Backup struct {
	Label       string
	Type        string // full, diff, incr
	Repo        int
	Start, Stop time.Time
	Size        int64 // of the database
	Stored      int64 // in the repository
}

// Repo is one repository's state.
type Repo struct {
	Key     int
	Cipher  string
	Status  string
	Backups int
}

type infoJSON struct {
	Name    string `json:"name"`
	Archive []struct {
		Min      string `json:"min"`
		Max      string `json:"max"`
		Database struct {
			RepoKey int `json:"repo-key"`
		} `json:"database"`
	} `json:"archive"`
	Backup []struct {
		Label    string `json:"label"`
		Type     string `json:"type"`
		Database struct {
			RepoKey int `json:"repo-key"`
		} `json:"database"`
		Info struct {
			Size       int64 `json:"size"`
			Repository struct {
				Delta int64 `json:"delta"`
				Size  int64 `json:"size"`
			} `json:"repository"`
		} `json:"info"`
		Timestamp struct {
			Start int64 `json:"start"`
			Stop  int64 `json:"stop"`
		} `json:"timestamp"`
	} `json:"backup"`
	Repo []struct {
		Key    int    `json:"key"`
		Cipher string `json:"cipher"`
		Status struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"status"`
	} `json:"repo"`
	Status struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"status"`
}

// ParseInfo reads `pgbackrest info --output=json` for the osgs stanza.
func ParseInfo(data []byte) (*Info, error) {
	var all []infoJSON
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, fmt.Errorf("pgbackrest info: %v", err)
	}
	for _, s := range all {
		if s.Name != Stanza {
			continue
		}
		in := &Info{Status: "ok"}
		if s.Status.Code != 0 {
			in.Status = s.Status.Message
		}
		for _, a := range s.Archive {
			if a.Min != "" && (in.WALMin == "" || walKey(a.Min) < walKey(in.WALMin)) {
				in.WALMin = a.Min
			}
			if a.Max != "" && walKey(a.Max) > walKey(in.WALMax) {
				in.WALMax = a.Max
			}
		}
		for _, b := range s.Backup {
			in.Backups = append(in.Backups, Backup{Label: b.Label, Type: b.Type, Repo: b.Database.RepoKey,
				Start: time.Unix(b.Timestamp.Start, 0).UTC(), Stop: time.Unix(b.Timestamp.Stop, 0).UTC(),
				Size: b.Info.Size, Stored: b.Info.Repository.Delta})
		}
		for _, r := range s.Repo {
			st := "ok"
			if r.Status.Code != 0 {
				st = r.Status.Message
			}
			rp := Repo{Key: r.Key, Cipher: r.Cipher, Status: st}
			for _, b := range in.Backups {
				if b.Repo == r.Key {
					rp.Backups++
				}
			}
			in.Repos = append(in.Repos, rp)
		}
		return in, nil
	}
	return nil, errors.New("pgbackrest knows no stanza " + Stanza + ": PostGIS has not come up with POSTGIS_PITR=on yet")
}

// walKey orders segment names across timelines by their position (the
// last 16 hex digits), then timeline.
func walKey(seg string) string {
	if len(seg) != 24 {
		return seg
	}
	return seg[8:] + seg[:8]
}

// Range is the span of time recovery can reach.
type Range struct {
	From time.Time // the end of the oldest base backup
	To   time.Time // the newest archived WAL
}

func (r Range) String() string {
	return r.From.UTC().Format(TimeLayout) + " to " + r.To.UTC().Format(TimeLayout)
}

// RangeOf is the recoverable span of repository repo (0: any), given when
// the newest WAL was archived.
func RangeOf(in *Info, repo int, lastArchived time.Time) (Range, error) {
	var r Range
	for _, b := range in.Backups {
		if repo != 0 && b.Repo != repo {
			continue
		}
		if r.From.IsZero() || b.Stop.Before(r.From) {
			r.From = b.Stop
		}
	}
	if r.From.IsZero() {
		return r, errors.New("no base backup yet: run postgis:basebackup (backup:job makes them too)")
	}
	r.To = lastArchived
	if r.To.Before(r.From) {
		r.To = r.From
	}
	return r, nil
}

// TimeLayout is how recovery targets are written and shown.
const TimeLayout = "2006-01-02 15:04:05-07"

// ParseTarget reads a recovery target: "2026-11-29 14:05:00+00",
// RFC 3339, or either without a zone (then UTC).
func ParseTarget(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{TimeLayout, "2006-01-02 15:04:05-07:00", "2006-01-02 15:04:05Z07:00", time.RFC3339, "2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("-to=%q: want a time such as \"2026-11-29 14:05:00+00\"", s)
}

// Check refuses a target outside r, naming the range.
func (r Range) Check(t time.Time) error {
	if t.Before(r.From) || t.After(r.To) {
		return fmt.Errorf("%s is outside the recoverable range, %s: nothing was changed", t.UTC().Format(TimeLayout), r)
	}
	return nil
}
