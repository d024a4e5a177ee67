package backup

import (
	"strings"
	"testing"
)

func TestPipedProgressPrintsAShortTransferOnce(t *testing.T) {
	var out strings.Builder
	w := Progress{W: &out}.For("hugo/hugo-site")
	for range 100 {
		w.Write(make([]byte, 1024))
	}
	w.(*meter).Done()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "hugo/hugo-site: 100.0 KiB") {
		t.Fatalf("piped progress printed %q, want one final line", out.String())
	}
}

func TestTerminalProgressUpdatesOneLine(t *testing.T) {
	var out strings.Builder
	w := Progress{W: &out, TTY: true}.For("x")
	w.Write(make([]byte, 10))
	w.(*meter).Done()
	if strings.Count(out.String(), "\n") != 1 || !strings.HasPrefix(out.String(), "\r\033[K") {
		t.Fatalf("terminal progress printed %q", out.String())
	}
}
