package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/docker/compose/v5/pkg/api"
	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/config"
)

// ImagesDir holds the build contexts of images that osgs runs as short-lived
// helpers and never as services (images/<name>/: a Dockerfile and a
// compose.yaml naming the image), such as the GIS tools image.
const ImagesDir = "images"

// HelperImage makes sure the helper image images/<name> exists and is
// current, building it (and the base image) through the same compose build
// as the services' images when it is missing or its context changed. It
// returns the image reference.
func (e *Engine) HelperImage(ctx context.Context, name string) (string, error) {
	if err := e.Ready(ctx); err != nil {
		return "", err
	}
	file := filepath.Join(e.Dir, ImagesDir, name, RootCompose)
	opts := api.ProjectLoadOptions{
		ProjectName: e.ProjectName(),
		ConfigPaths: []string{file},
		WorkingDir:  filepath.Dir(file),
		Offline:     true,
	}
	if _, err := os.Stat(config.Path(e.Dir)); err == nil {
		opts.EnvFiles = []string{config.Path(e.Dir)}
	}
	p, err := e.compose.LoadProject(ctx, opts)
	if err != nil {
		return "", fmt.Errorf("%w (%s): %s", ErrModel, filepath.Join(ImagesDir, name, RootCompose), oneLine(err.Error()))
	}
	svc, ok := p.Services[name]
	if !ok || svc.Image == "" {
		return "", fmt.Errorf("%w: %s defines no service %q with an image", ErrModel, file, name)
	}
	if err := e.buildMissing(ctx, p); err != nil {
		return "", err
	}
	return svc.Image, nil
}

// HelperProjectLabel marks helper containers (the tools image's) with their
// project, so that down and nuke remove what a killed osgs left on the
// project's networks before the networks go.
const HelperProjectLabel = "org.osgs.project"

// removeHelpers removes the project's helper containers.
func (e *Engine) removeHelpers(ctx context.Context) error {
	f := client.Filters{}
	f.Add("label", HelperProjectLabel+"="+e.ProjectName())
	left, err := e.docker.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("list helpers: %w", err)
	}
	for _, c := range left.Items {
		if _, err := e.docker.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			return fmt.Errorf("remove helper %s: %w", c.ID[:12], err)
		}
	}
	return nil
}
