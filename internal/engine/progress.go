package engine

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/docker/compose/v5/pkg/api"
)

// progress prints compose's resource events as plain lines, once per change
// of a resource's state (compose repeats events for the same state).
type progress struct {
	mu   sync.Mutex
	out  io.Writer
	last map[string]string
}

func newProgress(out io.Writer) *progress { return &progress{out: out, last: map[string]string{}} }

func (p *progress) Start(context.Context, string) {}

func (p *progress) Done(string, bool) {}

func (p *progress) On(events ...api.Resource) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range events {
		line := strings.TrimSpace(e.Text + " " + e.Details)
		if p.last[e.ID] == line {
			continue
		}
		p.last[e.ID] = line
		fmt.Fprintf(p.out, "  %s %s\n", e.ID, line)
	}
}
