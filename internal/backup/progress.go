package backup

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/osgs/osgs/internal/postgis"
)

// Progress reports long transfers: one updating line on a terminal, plain
// log lines (every 10 s and at the end) otherwise.
type Progress struct {
	W   io.Writer
	TTY bool
}

// For returns a meter for one transfer; write the transferred bytes to it.
func (p Progress) For(label string) io.Writer {
	if p.W == nil {
		return nil
	}
	now := time.Now()
	m := &meter{p: p, label: label, start: now}
	if !p.TTY {
		// Piped: the first periodic line comes after a full interval, so a
		// short transfer prints only its final line (it used to print the
		// same line twice: at the first write and at Done).
		m.last = now
	}
	return m
}

type meter struct {
	p     Progress
	label string
	start time.Time
	last  time.Time
	n     int64
	mu    sync.Mutex
}

func (m *meter) Write(b []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n += int64(len(b))
	now := time.Now()
	every := 10 * time.Second
	if m.p.TTY {
		every = 200 * time.Millisecond
	}
	if now.Sub(m.last) >= every {
		m.last = now
		m.print(now, false)
	}
	return len(b), nil
}

// Done prints the final line.
func (m *meter) Done() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.print(time.Now(), true)
}

func (m *meter) print(now time.Time, done bool) {
	el := now.Sub(m.start)
	rate := float64(m.n) / el.Seconds()
	line := fmt.Sprintf("%s: %s, %s/s, %s", m.label, postgis.HumanBytes(m.n), postgis.HumanBytes(int64(rate)), el.Round(100*time.Millisecond))
	switch {
	case m.p.TTY && done:
		fmt.Fprintf(m.p.W, "\r\033[K%s\n", line)
	case m.p.TTY:
		fmt.Fprintf(m.p.W, "\r\033[K%s", line)
	default:
		fmt.Fprintln(m.p.W, line)
	}
}
