package backup

import (
	"strings"
	"testing"
)

func TestProgressLines(t *testing.T) {
	var plain, tty strings.Builder
	for _, p := range []Progress{{W: &plain}, {W: &tty, TTY: true}} {
		m := p.For("gis")
		m.Write(make([]byte, 3<<20))
		m.(interface{ Done() }).Done()
	}
	if lines := strings.Split(strings.TrimSpace(plain.String()), "\n"); len(lines) != 2 || strings.Contains(plain.String(), "\r") ||
		!strings.HasPrefix(lines[1], "gis: 3.0 MiB, ") || !strings.Contains(lines[1], "/s, ") {
		t.Fatalf("piped output: %q", plain.String())
	}
	if !strings.HasPrefix(tty.String(), "\r\033[K") || !strings.HasSuffix(tty.String(), "\n") || strings.Count(tty.String(), "\n") != 1 {
		t.Fatalf("terminal output: %q", tty.String())
	}
	if (Progress{}).For("x") != nil {
		t.Fatal("no writer should give no meter")
	}
}
