package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/catalog"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/volume"
)

// volumeName is the engine's name of a service's compose volume, and the
// service's image.
func volumeName(ctx context.Context, e *engine.Engine, service, vol string) (string, string, error) {
	p, err := e.Project(ctx, service)
	if err != nil {
		return "", "", err
	}
	v, ok := p.Volumes[vol]
	if !ok {
		return "", "", fmt.Errorf("%s declares no volume %q", service, vol)
	}
	name := v.Name
	if name == "" {
		name = p.Name + "_" + vol
	}
	return name, p.Services[service].Image, nil
}

// volumeHome is the engine that holds service's volumes, and the image a
// helper there runs: the node of its running container (a swarm task runs
// on another node, whose engine has the volume and the image by ID), else
// this engine with the catalog's image.
func volumeHome(ctx context.Context, e *engine.Engine, service, image string) (client.APIClient, string, error) {
	id, err := e.ContainerOf(ctx, service)
	var nr *engine.NotRunningError
	switch {
	case errors.As(err, &nr):
		return e.Docker(), image, nil
	case err != nil:
		return nil, "", err
	case !e.Routed(id):
		return e.Docker(), image, nil
	}
	on := e.DockerFor(id)
	insp, err := on.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return nil, "", fmt.Errorf("inspect %s: %w", service, err)
	}
	return on, insp.Container.Image, nil
}

// BackupVolume saves a named volume of service as a tar stream (owners,
// modes, symlinks and mtimes kept) through the engine's archive API.
func BackupVolume(ctx context.Context, e *engine.Engine, set *Set, service string, v catalog.Volume, progress io.Writer) error {
	vol, image, err := volumeName(ctx, e, service, v.Name)
	if err != nil {
		return err
	}
	on, helperImage, err := volumeHome(ctx, e, service, image)
	if err != nil {
		return err
	}
	content, err := (volume.Helper{E: e, On: on, Image: helperImage, Volume: vol, Role: "backup"}).Read(ctx)
	if err != nil {
		return err
	}
	defer content.Close()
	// The entries are summarized beside the compressor, for verify.
	var sum TarSummary
	t := newTap(func(r io.Reader) (err error) { sum, err = summarizeTar(r); return err })
	rel := service + "/" + v.Name + ".tar.zst"
	_, err = set.AddStream(rel, io.TeeReader(ctxReader{ctx, content}, t),
		Entry{Service: service, Kind: KindVolume, Volume: v.Name, Image: image}, progress)
	if scanErr := t.Close(); err == nil && scanErr != nil {
		err = scanErr
	}
	if err != nil {
		return fmt.Errorf("save volume %s: %w", vol, err)
	}
	set.update(rel, func(e *Entry) { e.Tar = &sum })
	return nil
}

// verifyVolume reads a volume archive to its end and compares its entries
// with the manifest's summary.
func verifyVolume(e *engine.Engine, setDir string, f Entry) error {
	r, err := openDecompressed(e, setDir+"/"+f.Path)
	if err != nil {
		return err
	}
	defer r.Close()
	got, err := summarizeTar(zstdErrs{r})
	if err != nil {
		return &ChecksumError{Path: f.Path, Reason: err.Error()}
	}
	if f.Tar != nil && got != *f.Tar {
		return &TarMismatchError{Path: f.Path, Got: got, Want: *f.Tar}
	}
	return nil
}

// RestoreVolume restores the archive into the volume without risking what
// it holds: the service is stopped (and started again afterwards, even on
// failure), the archive is extracted into a staging folder in the volume,
// and only a complete extraction is swapped in by renames. A failed or
// interrupted restore leaves the old data in place.
func RestoreVolume(ctx context.Context, e *engine.Engine, setDir string, f Entry) (err error) {
	vol, image, err := volumeName(ctx, e, f.Service, f.Volume)
	if err != nil {
		return err
	}
	if id, err := e.ContainerOf(ctx, f.Service); err == nil && e.Routed(id) {
		// A swarm task on another node: the volume is replaced there.
		on, image, err := volumeHome(ctx, e, f.Service, image)
		if err != nil {
			return err
		}
		if mirrored(e, f.Service, f.Volume) {
			// Its service only reads it, so it keeps running; the
			// other nodes' copies follow.
			if err := replace(ctx, e, on, image, vol, setDir, f); err != nil {
				return err
			}
			return e.Mirror(ctx, f.Service, f.Volume)
		}
		return restoreTask(ctx, e, on, id, image, vol, setDir, f)
	}
	states, err := e.States(ctx, f.Service)
	if err != nil {
		return err
	}
	if len(states) == 1 && states[0].State == "running" {
		if err := e.Stop(ctx, f.Service); err != nil {
			return err
		}
		defer func() {
			if uerr := e.Up(context.WithoutCancel(ctx), engine.UpOptions{Services: []string{f.Service}}); uerr != nil && err == nil {
				err = fmt.Errorf("restart %s after restore: %w", f.Service, uerr)
			}
		}()
	}
	return replace(ctx, e, e.Docker(), image, vol, setDir, f)
}

// restoreTask restores the live state of a swarm task (container id, on
// engine on). The task is paused, so it cannot write while its files are
// swapped (and swarm does not replace a paused task); the volume is
// replaced on its node, and the paused task is killed, so swarm starts a
// new one on the restored data. A failed replace unpauses the task, its
// data unchanged.
func restoreTask(ctx context.Context, e *engine.Engine, on client.APIClient, id, image, vol, setDir string, f Entry) error {
	if _, err := on.ContainerPause(ctx, id, client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("pause %s's swarm task: %w", f.Service, err)
	}
	bg := context.WithoutCancel(ctx)
	if err := replace(ctx, e, on, image, vol, setDir, f); err != nil {
		if _, uerr := on.ContainerUnpause(bg, id, client.ContainerUnpauseOptions{}); uerr != nil {
			err = errors.Join(err, fmt.Errorf("unpause %s's swarm task: %w", f.Service, uerr))
		}
		return err
	}
	if _, err := on.ContainerKill(bg, id, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		return fmt.Errorf("restored volume %s, but %s's paused task did not stop for swarm to replace it: %w", vol, f.Service, err)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(time.Second) {
		if nid, err := e.ContainerOf(bg, f.Service); err == nil && nid != id {
			fmt.Fprintf(e.Err, "osgs: %s's swarm task runs again, on the restored volume\n", f.Service)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("restored volume %s, but no new task of %s runs after 2 minutes: see `mage swarm:status`", vol, f.Service)
		}
	}
}

// replace swaps the content of volume vol on engine on for the archive f.
func replace(ctx context.Context, e *engine.Engine, on client.APIClient, image, vol, setDir string, f Entry) error {
	r, err := openDecompressed(e, setDir+"/"+f.Path)
	if err != nil {
		return err
	}
	defer r.Close()
	h := volume.Helper{E: e, On: on, Image: image, Volume: vol, Role: "backup"}
	if err := h.Replace(ctx, zstdErrs{r}); err != nil {
		return err
	}
	fmt.Fprintf(e.Err, "osgs: restored volume %s\n", vol)
	return nil
}

// mirrored says whether the catalog mirrors service's volume vol.
func mirrored(e *engine.Engine, service, vol string) bool {
	s, err := e.Catalog.Get(service)
	return err == nil && s.Mirrors(vol)
}
