package engine

import (
	"context"
	"fmt"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v5/pkg/api"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
)

// OwnerLabel marks a volume whose root osgs has given its catalog owner.
const OwnerLabel = "org.osgs.owner"

// prepareOwners makes every volume that a catalog entry gives an owner
// (x-osgs volumes[].owner, "uid:gid") before compose starts the service:
// it creates the volume with compose's labels, so compose adopts it, and
// chowns its root in a short-lived helper from the Debian base image. Done
// once per volume; an image that runs as that user can then write to it.
func (e *Engine) prepareOwners(ctx context.Context, p *types.Project) error {
	for _, name := range p.ServiceNames() {
		svc, err := e.service(name)
		if err != nil {
			continue
		}
		for _, v := range svc.Volumes {
			if v.Owner == "" {
				continue
			}
			if _, ok := p.Volumes[v.Name]; !ok {
				continue
			}
			if err := e.ownVolume(ctx, p, v.Name, v.Owner); err != nil {
				return fmt.Errorf("%s: volume %s: %w", name, v.Name, err)
			}
		}
	}
	return nil
}

func (e *Engine) ownVolume(ctx context.Context, p *types.Project, volume, owner string) error {
	full := p.Volumes[volume].Name
	if full == "" {
		full = p.Name + "_" + volume
	}
	insp, err := e.docker.VolumeInspect(ctx, full, client.VolumeInspectOptions{})
	if err == nil && insp.Volume.Labels[OwnerLabel] == owner {
		return nil
	}
	if err != nil {
		_, err = e.docker.VolumeCreate(ctx, client.VolumeCreateOptions{Name: full, Labels: map[string]string{
			api.ProjectLabel: p.Name, api.VolumeLabel: volume, api.VersionLabel: api.ComposeVersion, OwnerLabel: owner,
		}})
		if err != nil {
			return fmt.Errorf("create: %w", err)
		}
	}
	if err := e.EnsureBaseImage(ctx); err != nil {
		return err
	}
	_, remove, err := e.RunContainer(ctx, client.ContainerCreateOptions{
		Config: &container.Config{
			Image: e.baseImageRef(), User: "root", Entrypoint: []string{"chown", owner, "/v"},
			Labels: map[string]string{api.ProjectLabel: p.Name, api.OneoffLabel: "True", "org.osgs.helper": "owner"},
		},
		HostConfig: &container.HostConfig{NetworkMode: "none", Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: full, Target: "/v"}}},
	})
	if err != nil {
		return fmt.Errorf("chown %s: %w", owner, err)
	}
	remove()
	return nil
}
