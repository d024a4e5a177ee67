package convert

import (
	"encoding/hex"
	"fmt"
	"hash"
	"os"
	"sort"

	"github.com/compose-spec/compose-go/v2/types"
)

// Kind of swarm object holding a file.
type Kind string

const (
	Secret Kind = "secret"
	Config Kind = "config"
)

// Object is one secret or config as swarm stores it. Swarm never updates
// an object's data, so the name carries a digest of the content: a changed
// file is a new object, a service switches to it (a rolling update of that
// service only), and the old version is removed once nothing uses it.
type Object struct {
	Kind    Kind
	Compose string // the name in the compose model
	Name    string // <project>_<compose>_<sha12>
	Data    []byte
}

// ObjectLabel marks the compose name of an object, for removing unused versions.
const ObjectLabel = "org.osgs.object"

// Objects reads the data of every secret and config the project's
// services use: a file, the model's environment (where osgs puts rendered
// templates and the site certificate), or inline content.
// An object's name ends in a keyed digest of its data (digest, a fresh
// HMAC whose key stays on the deploying host), so a secret's name changes
// with it but tells the nodes nothing of its content.
func Objects(p *types.Project, digest func() hash.Hash) ([]Object, error) {
	used := map[Kind]map[string]bool{Secret: {}, Config: {}}
	for _, s := range p.Services {
		for _, r := range s.Secrets {
			used[Secret][r.Source] = true
		}
		for _, r := range s.Configs {
			used[Config][r.Source] = true
		}
	}
	var out []Object
	add := func(kind Kind, name string, o types.FileObjectConfig) error {
		if !used[kind][name] {
			return nil
		}
		var data []byte
		switch {
		case bool(o.External):
			return fmt.Errorf("%s %s is external: swarm:deploy makes every %s from the model; declare its file or environment", kind, name, kind)
		case o.Environment != "":
			v, ok := p.Environment[o.Environment]
			if !ok {
				return fmt.Errorf("%s %s: %s is not set", kind, name, o.Environment)
			}
			data = []byte(v)
		case o.File != "":
			b, err := os.ReadFile(o.File)
			if err != nil {
				return fmt.Errorf("%s %s: %w", kind, name, err)
			}
			data = b
		default:
			data = []byte(o.Content)
		}
		h := digest()
		h.Write(data)
		out = append(out, Object{Kind: kind, Compose: name, Name: p.Name + "_" + name + "_" + hex.EncodeToString(h.Sum(nil))[:12], Data: data})
		return nil
	}
	for name, s := range p.Secrets {
		if err := add(Secret, name, types.FileObjectConfig(s)); err != nil {
			return nil, err
		}
	}
	for name, c := range p.Configs {
		if err := add(Config, name, types.FileObjectConfig(c)); err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Names maps kind and compose name to the object's swarm name.
func Names(objs []Object) map[Kind]map[string]string {
	m := map[Kind]map[string]string{Secret: {}, Config: {}}
	for _, o := range objs {
		m[o.Kind][o.Compose] = o.Name
	}
	return m
}
