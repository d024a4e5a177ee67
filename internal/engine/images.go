package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/errdefs"
	"github.com/docker/compose/v5/pkg/api"
	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/catalog"
)

// BaseImage is the Debian base every image of ours is built on.
const BaseImage = "debian:bookworm-slim"

// baseImageRef is the base the Dockerfiles get as BASE_IMAGE.
func (e *Engine) baseImageRef() string {
	if v := e.Env.Value("OSGS_BASE_IMAGE"); v != "" {
		return v
	}
	return BaseImage
}

// imageExists reports whether ref is present in the engine.
func (e *Engine) imageExists(ctx context.Context, ref string) (bool, error) {
	_, err := e.docker.ImageInspect(ctx, ref)
	switch {
	case err == nil:
		return true, nil
	case errdefs.IsNotFound(err):
		return false, nil
	default:
		return false, fmt.Errorf("inspect image %s: %w", ref, err)
	}
}

// ContextLabel is the image label holding the hash of the build context the
// image was built from; a different hash means the image is stale.
const ContextLabel = "org.osgs.context-sha256"

// missingBuilds lists the project's services that we build and whose image is
// absent or was built from a different build context. It stamps each built
// service with the current context hash, so the next build records it.
func (e *Engine) missingBuilds(ctx context.Context, p *types.Project) ([]string, error) {
	var missing []string
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		if s.Build == nil {
			continue
		}
		stamp, err := goBuildsStamp(e.Dir, e.goBuildsOf(name))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		sum, err := contextHash(s.Build.Context, stamp)
		if err != nil {
			return nil, fmt.Errorf("hash build context of %s: %w", name, err)
		}
		if s.Build.Labels == nil {
			s.Build.Labels = types.Labels{}
		}
		s.Build.Labels[ContextLabel] = sum
		p.Services[name] = s
		insp, err := e.docker.ImageInspect(ctx, s.Image)
		switch {
		case errdefs.IsNotFound(err):
			missing = append(missing, name)
		case err != nil:
			return nil, fmt.Errorf("inspect image %s: %w", s.Image, err)
		case insp.Config == nil || insp.Config.Labels[ContextLabel] != sum:
			fmt.Fprintf(e.Err, "osgs: %s changed since %s was built; rebuilding\n", s.Build.Context, s.Image)
			missing = append(missing, name)
		}
	}
	return missing, nil
}

// contextHash is a sha256 over the names, modes and contents of every file
// in a build context folder, but for the files that never enter an image:
// the compose fragment and the config templates rendered at create time
// (changing those recreates the container, not the image). The Go programs
// osgs builds into the context count by their stamp (extra), not their bytes.
func contextHash(dir, extra string) (string, error) {
	h := sha256.New()
	h.Write([]byte(extra))
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() && strings.HasPrefix(rel, catalog.GoBuildDir) {
			return filepath.SkipDir
		}
		if rel == "compose.yaml" || strings.HasSuffix(rel, TemplateSuffix) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%o\x00", filepath.ToSlash(rel), info.Mode())
		if d.Type().IsRegular() {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(h, f); err != nil {
				return err
			}
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

// goBuildsOf lists the Go programs the catalog builds for a service's image.
func (e *Engine) goBuildsOf(name string) []catalog.GoBuild {
	if e.Catalog == nil {
		return nil
	}
	s, err := e.Catalog.Get(name)
	if err != nil {
		return nil
	}
	return s.GoBuilds
}

// buildMissing builds the images of p's services that are absent or stale.
// Another osgs process building at the same time is waited for, and what it
// built is not built again.
func (e *Engine) buildMissing(ctx context.Context, p *types.Project) error {
	missing, err := e.missingBuilds(ctx, p)
	if err != nil || len(missing) == 0 {
		return err
	}
	unlock, err := buildLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if missing, err = e.missingBuilds(ctx, p); err != nil || len(missing) == 0 {
		return err
	}
	return e.build(ctx, p, missing)
}

func (e *Engine) build(ctx context.Context, p *types.Project, services []string) error {
	if err := e.EnsureBaseImage(ctx); err != nil {
		return err
	}
	for _, name := range services {
		if s, ok := p.Services[name]; ok && s.Build != nil {
			if err := e.ensureGoBuilds(ctx, s.Build.Context, e.goBuildsOf(name)); err != nil {
				return fmt.Errorf("build %s: %w", name, err)
			}
		}
	}
	fmt.Fprintf(e.Err, "osgs: building %v from their Dockerfiles\n", services)
	bp, err := p.WithSelectedServices(services)
	if err != nil {
		return err
	}
	if err := e.compose.Build(ctx, bp, api.BuildOptions{Services: services, Progress: "plain", Out: e.Err}); err != nil {
		return fmt.Errorf("build %v: %w", services, err)
	}
	return nil
}

// Build (re)builds the images of the named services, or of every enabled
// service that has a Dockerfile.
func (e *Engine) Build(ctx context.Context, services ...string) error {
	p, err := e.prepare(ctx, services)
	if err != nil {
		return err
	}
	var ours []string
	for _, name := range p.ServiceNames() {
		if p.Services[name].Build != nil {
			ours = append(ours, name)
		} else {
			fmt.Fprintf(e.Err, "osgs: %s uses the upstream image %s; nothing to build\n", name, p.Services[name].Image)
		}
	}
	if len(ours) == 0 {
		return nil
	}
	if _, err := e.missingBuilds(ctx, p); err != nil { // stamps the context hashes
		return err
	}
	unlock, err := buildLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return e.build(ctx, p, ours)
}

// BuildAll builds the image of every service in the catalog that osgs
// builds, enabled or not, in one build, and then the helper images (images/):
// to prepare a machine ahead of time (before it goes air-gapped) or a CI
// runner before its tests. Unlike Build, images that are current (by their
// context hash) are kept, not built again.
func (e *Engine) BuildAll(ctx context.Context) error {
	var built []string
	for _, name := range e.Catalog.Names() {
		if s, err := e.Catalog.Get(name); err == nil && s.Built {
			built = append(built, name)
		}
	}
	if len(built) > 0 {
		p, err := e.prepare(ctx, built)
		if err != nil {
			return err
		}
		if err := e.buildMissing(ctx, p); err != nil {
			return err
		}
	}
	helpers, err := os.ReadDir(filepath.Join(e.Dir, ImagesDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("list helper images: %w", err)
	}
	for _, h := range helpers {
		if h.IsDir() {
			if _, err := e.HelperImage(ctx, h.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}

// EnsureBaseImage makes sure the Debian base image exists: it is pulled when
// a registry answers, and otherwise made from Debian's packages in Go
// (bootstrapImage), with nothing installed on the host.
func (e *Engine) EnsureBaseImage(ctx context.Context) error {
	ref := e.baseImageRef()
	ok, err := e.imageExists(ctx, ref)
	if err != nil || ok {
		return err
	}
	fmt.Fprintf(e.Err, "osgs: base image %s is missing; trying to pull it\n", ref)
	pullErr := e.pull(ctx, ref, 90*time.Second)
	if pullErr == nil {
		return nil
	}
	fmt.Fprintf(e.Err, "osgs: pull failed (%s)\n", firstLine(pullErr.Error()))
	return e.bootstrapImage(ctx, ref)
}

func (e *Engine) pull(ctx context.Context, ref string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := e.docker.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err != nil {
		return err
	}
	return resp.Wait(ctx)
}
