package gisdata

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/osgs/osgs/internal/postgis"
)

// Progress shows how a long step goes: on a terminal one line, rewritten in
// place at most every 200 ms; on a pipe or a file, a plain log line at most
// every 10 seconds and at each step's end.
type Progress struct {
	w     io.Writer
	tty   bool
	mu    sync.Mutex
	step  string
	start time.Time
	last  time.Time
	width int
	now   func() time.Time
}

// NewProgress writes to w; tty says whether w is a terminal.
func NewProgress(w io.Writer, tty bool) *Progress {
	return &Progress{w: w, tty: tty, now: time.Now}
}

// Step starts a new step (such as "upload" or a layer's name).
func (p *Progress) Step(name string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.step, p.start, p.last = name, p.now(), time.Time{}
}

// Bytes reports bytes done of total.
func (p *Progress) Bytes(done, total int64) {
	p.show(false, func(el time.Duration) string {
		return fmt.Sprintf("%s of %s (%s), %s/s", postgis.HumanBytes(done), postgis.HumanBytes(total), pct(done, total), postgis.HumanBytes(rate(done, el)))
	})
}

// Features reports features (or tiles) done of total.
func (p *Progress) Features(done, total int64, unit string) {
	p.show(false, func(el time.Duration) string {
		if total <= 0 {
			return fmt.Sprintf("%d %s, %d/s", done, unit, rate(done, el))
		}
		return fmt.Sprintf("%d of %d %s (%s), %d/s", done, total, unit, pct(done, total), rate(done, el))
	})
}

// Done ends the step with a last line.
func (p *Progress) Done(msg string) {
	p.show(true, func(el time.Duration) string { return fmt.Sprintf("%s in %s", msg, el.Round(time.Millisecond)) })
}

func (p *Progress) show(final bool, line func(time.Duration) string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	every := 10 * time.Second
	if p.tty {
		every = 200 * time.Millisecond
	}
	if !final && !p.last.IsZero() && now.Sub(p.last) < every {
		return
	}
	if !final && p.last.IsZero() && !p.tty && now.Sub(p.start) < every {
		// A pipe gets no line for a step that ends within the interval.
		p.last = p.start
		return
	}
	p.last = now
	s := p.step + ": " + line(now.Sub(p.start))
	if p.tty {
		pad := ""
		if n := p.width - len(s); n > 0 {
			pad = strings.Repeat(" ", n)
		}
		p.width = len(s)
		end := ""
		if final {
			end, p.width = "\n", 0
		}
		fmt.Fprintf(p.w, "\r%s%s%s", s, pad, end)
		return
	}
	fmt.Fprintln(p.w, s)
}

func pct(done, total int64) string {
	if total <= 0 {
		return "?%"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(done)/float64(total))
}

func rate(n int64, el time.Duration) int64 {
	if el <= 0 {
		return 0
	}
	return int64(float64(n) / el.Seconds())
}

// countingReader reports the bytes read through it.
type countingReader struct {
	r     io.Reader
	n     int64
	total int64
	p     *Progress
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	c.p.Bytes(c.n, c.total)
	return n, err
}

// gdalProgress reads GDAL's -progress output ("0...10...20...") and reports
// it as features done of total.
type gdalProgress struct {
	p     *Progress
	total int64
	unit  string
	num   strings.Builder
	pct   int
}

func (g *gdalProgress) Write(b []byte) (int, error) {
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			g.num.WriteByte(c)
		case c == '.' || c == ' ' || c == '\n' || c == '-':
			if g.num.Len() > 0 {
				var v int
				fmt.Sscan(g.num.String(), &v)
				g.num.Reset()
				if v >= g.pct && v <= 100 {
					g.pct = v
					g.p.Features(g.total*int64(v)/100, g.total, g.unit)
				}
			}
		default:
			g.num.Reset()
		}
	}
	return len(b), nil
}
