// Package watch knows whether backups work: the record of the last runs
// (backups/.state.json), backup:check's verdict, notifications of failures
// (a webhook, e-mail) and Prometheus metrics for node-exporter's textfile
// collector.
package watch

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/osgs/osgs/internal/envfile"
)

// StateName is the record's file in the backups folder.
const StateName = ".state.json"

// State is what the last runs did.
type State struct {
	LastRun     *Run            `json:"last_run,omitempty"`
	LastSuccess *Run            `json:"last_success,omitempty"`
	Pushes      map[string]Push `json:"pushes,omitempty"` // by destination name
}

// Run is one backup job: backup, verify, push, prune.
type Run struct {
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	OK       bool      `json:"ok"`
	Error    string    `json:"error,omitempty"` // one line, never a secret
	Step     string    `json:"step,omitempty"`  // the step that failed
	Set      string    `json:"set,omitempty"`
	Size     int64     `json:"size,omitempty"`
	Verified bool      `json:"verified,omitempty"`
	Pushed   []string  `json:"pushed,omitempty"`
}

// Duration is how long the run took.
func (r *Run) Duration() time.Duration { return r.Finished.Sub(r.Started) }

// Push is the last set pushed to one destination.
type Push struct {
	Set    string    `json:"set"`
	At     time.Time `json:"at"`
	Remote string    `json:"remote"`
}

// Load reads root's record; an absent one is empty.
func Load(root string) (*State, error) {
	data, err := os.ReadFile(filepath.Join(root, StateName))
	if errors.Is(err, os.ErrNotExist) {
		return &State{}, nil
	}
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: corrupt (%v): delete it to start a new record", filepath.Join(root, StateName), err)
	}
	return &s, nil
}

// Update changes root's record under its own lock, atomically.
func Update(root string, f func(*State)) error {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(root, ".state.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	s, err := Load(root)
	if err != nil {
		s = &State{}
	}
	f(s)
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return envfile.WriteFileAtomic(filepath.Join(root, StateName), append(data, '\n'), 0o600)
}

// RecordPush notes a push to the destination called dest.
func RecordPush(root, dest, remote, set string, at time.Time) error {
	return Update(root, func(s *State) {
		if s.Pushes == nil {
			s.Pushes = map[string]Push{}
		}
		s.Pushes[dest] = Push{Set: set, At: at.UTC(), Remote: remote}
	})
}

// RecordRun notes a finished job.
func RecordRun(root string, r Run) error {
	return Update(root, func(s *State) {
		s.LastRun = &r
		if r.OK {
			s.LastSuccess = &r
		}
	})
}
