package engine

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/docker/compose/v5/pkg/api"
	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/config"
)

// ConfirmError is returned by destructive verbs called without -yes.
type ConfirmError struct{ What string }

func (c *ConfirmError) Error() string {
	return fmt.Sprintf("refusing to %s without confirmation: run again with -yes", c.What)
}

// Nuke removes the project's containers, networks and volumes (all data!)
// and its .env. It refuses unless yes is true.
func (e *Engine) Nuke(ctx context.Context, yes bool) error {
	what := fmt.Sprintf("delete every container, network and volume of project %q and %s", e.ProjectName(), config.Path(e.Dir))
	if !yes {
		return &ConfirmError{What: what}
	}
	if err := e.Connect(ctx); err != nil {
		return err
	}
	name := e.ProjectName()
	opts := api.DownOptions{Volumes: true, RemoveOrphans: true}
	if p, err := e.Project(ctx, e.Catalog.Names()...); err == nil {
		opts.Project = p
	}
	if err := e.removeHelpers(ctx); err != nil {
		return err
	}
	if err := e.compose.Down(ctx, name, opts); err != nil {
		return fmt.Errorf("down: %w", err)
	}
	f := client.Filters{}
	f.Add("label", api.ProjectLabel+"="+name)
	// One-off helpers (backup, restore, verify) that a killed osgs left behind.
	left, err := e.docker.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	for _, c := range left.Items {
		if _, err := e.docker.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			return fmt.Errorf("remove container %s: %w", c.ID[:12], err)
		}
	}
	// Volumes of services no longer in the model still carry the project label.
	vols, err := e.docker.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		return fmt.Errorf("list volumes: %w", err)
	}
	for _, v := range vols.Items {
		if _, err := e.docker.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true}); err != nil {
			return fmt.Errorf("remove volume %s: %w", v.Name, err)
		}
		fmt.Fprintf(e.Err, "osgs: removed volume %s\n", v.Name)
	}
	// Networks of services no longer in the model (or the default network
	// of an osgs from before networks were segmented).
	nets, err := e.docker.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return fmt.Errorf("list networks: %w", err)
	}
	for _, n := range nets.Items {
		if _, err := e.docker.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil {
			return fmt.Errorf("remove network %s: %w", n.Name, err)
		}
	}
	if err := os.Remove(config.Path(e.Dir)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	fmt.Fprintf(e.Err, "osgs: project %q removed, and %s deleted\n", name, config.Path(e.Dir))
	return nil
}
