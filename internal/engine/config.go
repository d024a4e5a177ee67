package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/osgs/osgs/internal/config"
)

// Mask is what stands in for a secret in printed output.
const Mask = "********"

// RenderConfig returns the resolved compose model of the enabled services as
// YAML, with every secret value replaced by Mask.
func (e *Engine) RenderConfig(ctx context.Context) (string, error) {
	if err := e.Ready(ctx); err != nil {
		return "", err
	}
	p, err := e.Project(ctx, e.Enabled()...)
	if err != nil {
		return "", err
	}
	maskInjected(p)
	b, err := p.MarshalYAML()
	if err != nil {
		return "", err
	}
	return MaskSecrets(string(b), config.Secrets(e.Env, e.Catalog)), nil
}

// MaskSecrets replaces each secret value in s (longest first, so that a
// secret containing another is masked whole).
func MaskSecrets(s string, secrets []string) string {
	sorted := append([]string(nil), secrets...)
	sort.Slice(sorted, func(i, j int) bool { return len(sorted[i]) > len(sorted[j]) })
	for _, v := range sorted {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, Mask)
		}
	}
	return s
}

// PrintConfig writes RenderConfig's output.
func (e *Engine) PrintConfig(ctx context.Context) error {
	s, err := e.RenderConfig(ctx)
	if err != nil {
		return err
	}
	_, err = fmt.Fprint(e.Out, s)
	return err
}
