package watch

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/osgs/osgs/internal/backup"
)

// Remote is what a check knows of one destination's sets.
type Remote struct {
	Name string
	Sets []backup.Info
	Err  error // the destination could not be listed
}

// Verdict is backup:check's result.
type Verdict struct {
	OK   bool
	Line string // one line: what is wrong, or what is fine
}

// Check judges the record, the local sets and each destination's sets:
// it fails when the last job failed, or when the newest verified set
// (locally, and at each destination) is older than maxAge or missing.
func Check(st *State, local []backup.Info, remotes []Remote, maxAge time.Duration, now time.Time) Verdict {
	var bad []string
	if st != nil && st.LastRun != nil && !st.LastRun.OK {
		bad = append(bad, fmt.Sprintf("the last backup run (%s) failed at %s: %s", st.LastRun.Started.UTC().Format(time.RFC3339), st.LastRun.Step, st.LastRun.Error))
	}
	judge := func(where string, sets []backup.Info) string {
		_, verified := newest(sets)
		if verified.Name == "" {
			return "no verified set " + where
		}
		if age := now.Sub(verified.Created); age > maxAge {
			return fmt.Sprintf("the newest verified set %s %s is %s old (more than %s)", where, verified.Name, round(age), maxAge)
		}
		return ""
	}
	var good []string
	if msg := judge("locally", local); msg != "" {
		bad = append(bad, msg)
	} else {
		_, v := newest(local)
		good = append(good, "local "+v.Name)
	}
	for _, r := range remotes {
		if r.Err != nil {
			bad = append(bad, fmt.Sprintf("destination %s: %v", r.Name, r.Err))
			continue
		}
		if msg := judge("at "+r.Name, r.Sets); msg != "" {
			bad = append(bad, msg)
		} else {
			_, v := newest(r.Sets)
			good = append(good, r.Name+" "+v.Name)
		}
	}
	if len(bad) > 0 {
		return Verdict{Line: "BACKUP CRITICAL: " + strings.Join(bad, "; ")}
	}
	return Verdict{OK: true, Line: fmt.Sprintf("BACKUP OK: newest verified sets within %s: %s", maxAge, strings.Join(good, ", "))}
}

// newest returns the newest readable set and the newest verified one.
func newest(sets []backup.Info) (n, verified backup.Info) {
	for _, s := range sets {
		if s.Err != nil || s.Note != "" {
			continue
		}
		if n.Name == "" {
			n = s
		}
		if s.Verified && verified.Name == "" {
			verified = s
		}
	}
	return n, verified
}

func round(d time.Duration) time.Duration {
	if d > time.Hour {
		return d.Round(time.Minute)
	}
	return d.Round(time.Second)
}

// Summary is what stack:status shows of backups: the last backup, the
// last verified set and the last push, one line each.
func Summary(st *State, local []backup.Info, now time.Time) []string {
	n, v := newest(local)
	ago := func(t time.Time) string { return round(now.Sub(t)).String() + " ago" }
	var out []string
	if n.Name == "" {
		out = append(out, "last backup:   none")
	} else {
		out = append(out, fmt.Sprintf("last backup:   %s (%s)", n.Name, ago(n.Created)))
	}
	if v.Name == "" {
		out = append(out, "last verified: none")
	} else {
		out = append(out, fmt.Sprintf("last verified: %s (%s)", v.Name, ago(v.Created)))
	}
	if st != nil && len(st.Pushes) > 0 {
		for _, name := range slices.Sorted(maps.Keys(st.Pushes)) {
			p := st.Pushes[name]
			out = append(out, fmt.Sprintf("last push:     %s to %s %s (%s)", p.Set, name, p.Remote, ago(p.At)))
		}
	} else {
		out = append(out, "last push:     none")
	}
	if st != nil && st.LastRun != nil && !st.LastRun.OK {
		out = append(out, fmt.Sprintf("last run:      FAILED at %s (%s): %s", st.LastRun.Step, ago(st.LastRun.Finished), st.LastRun.Error))
	}
	return out
}
