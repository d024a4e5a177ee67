package debootstrap

import (
	"fmt"
	"sort"

	"pault.ag/go/debian/control"
	"pault.ag/go/debian/dependency"
	"pault.ag/go/debian/version"
)

// Index is a Packages index by package name, with the providers of virtual
// packages.
type Index struct {
	Packages  map[string]*control.BinaryIndex
	Providers map[string][]string
}

// NewIndex indexes the packages of arch (and Architecture: all).
func NewIndex(pkgs []control.BinaryIndex, arch string) *Index {
	ix := &Index{Packages: map[string]*control.BinaryIndex{}, Providers: map[string][]string{}}
	for i := range pkgs {
		p := &pkgs[i]
		if a := p.Architecture.String(); a != arch && a != "all" {
			continue
		}
		if old, ok := ix.Packages[p.Package]; ok && version.Compare(old.Version, p.Version) >= 0 {
			continue
		}
		ix.Packages[p.Package] = p
		if prov := p.Values["Provides"]; prov != "" {
			if d, err := dependency.Parse(prov); err == nil {
				for _, rel := range d.Relations {
					for _, poss := range rel.Possibilities {
						ix.Providers[poss.Name] = append(ix.Providers[poss.Name], p.Package)
					}
				}
			}
		}
	}
	return ix
}

// Minbase is what `debootstrap --variant=minbase` installs: every package of
// Priority required, apt, and what they depend on (Depends, Pre-Depends),
// choosing the first alternative that exists. The result is sorted.
func (ix *Index) Minbase(extra ...string) ([]string, error) {
	want := append([]string{}, extra...)
	for name, p := range ix.Packages {
		if p.Priority == "required" {
			want = append(want, name)
		}
	}
	sort.Strings(want)
	return ix.Resolve(want)
}

// Resolve closes names over their dependencies.
func (ix *Index) Resolve(names []string) ([]string, error) {
	in := map[string]bool{}
	provided := map[string]bool{}
	var queue []string
	add := func(name string) {
		if in[name] {
			return
		}
		in[name] = true
		queue = append(queue, name)
		if p := ix.Packages[name]; p != nil {
			if prov := p.Values["Provides"]; prov != "" {
				if d, err := dependency.Parse(prov); err == nil {
					for _, rel := range d.Relations {
						for _, poss := range rel.Possibilities {
							provided[poss.Name] = true
						}
					}
				}
			}
		}
	}
	for _, n := range names {
		if ix.Packages[n] == nil {
			return nil, fmt.Errorf("package %s is not in the index", n)
		}
		add(n)
	}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		p := ix.Packages[name]
		for _, dep := range []dependency.Dependency{p.GetPreDepends(), p.GetDepends()} {
			for _, rel := range dep.Relations {
				satisfied := false
				for _, poss := range rel.Possibilities {
					if in[poss.Name] || provided[poss.Name] {
						satisfied = true
						break
					}
				}
				if satisfied {
					continue
				}
				chosen := ""
				for _, poss := range rel.Possibilities {
					if ix.Packages[poss.Name] != nil {
						chosen = poss.Name
						break
					}
					if prov := ix.Providers[poss.Name]; len(prov) > 0 {
						chosen = prov[0]
						break
					}
				}
				if chosen == "" {
					return nil, fmt.Errorf("%s depends on %s, which no package in the index provides", name, rel.Possibilities[0].Name)
				}
				add(chosen)
			}
		}
	}
	out := make([]string, 0, len(in))
	for n := range in {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}
