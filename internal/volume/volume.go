// Package volume reads and replaces the content of a named volume on any
// engine (this host's, or a swarm node's) as a tar stream, through helper
// containers that mount it. Backups and restores use it on the volume's
// home; swarm uses it to keep the copies of a mirrored volume equal on
// every node of its service's role.
//
// Tar entries are named data/... (the helper's mount point): Read's stream
// is what Replace takes.
package volume

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/docker/compose/v5/pkg/api"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/engine"
)

// Mount is where helper containers mount the volume; tar entries are named
// data/... after it.
const Mount = "/data"

// Helper names a volume on one engine and the image its helpers run (one
// the engine has, with a POSIX sh: the service's own).
type Helper struct {
	E      *engine.Engine
	On     client.APIClient // the engine that holds the volume
	Image  string
	Volume string
	Role   string // the helper's org.osgs.helper label: backup, mirror…
}

// options describe a container of the image that mounts the volume at
// /data. It carries the project's labels as a one-off, so stack:nuke finds
// it.
func (h Helper) options(readOnly bool, cmd []string) client.ContainerCreateOptions {
	return client.ContainerCreateOptions{
		Config: &container.Config{
			Image: h.Image, Entrypoint: cmd[:1], Cmd: cmd[1:], User: "root",
			Labels: map[string]string{api.ProjectLabel: h.E.ProjectName(), api.OneoffLabel: "True", "org.osgs.helper": h.Role},
		},
		HostConfig: &container.HostConfig{
			Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: h.Volume, Target: Mount, ReadOnly: readOnly}},
		},
	}
}

// Create creates (without starting) a helper that mounts the volume, for
// the archive API; cleanup removes it, even after ctx ended.
func (h Helper) Create(ctx context.Context, readOnly bool) (string, func(), error) {
	res, err := h.On.ContainerCreate(ctx, h.options(readOnly, []string{"true"}))
	if err != nil {
		return "", nil, fmt.Errorf("create helper for volume %s: %w", h.Volume, err)
	}
	h.E.Route(res.ID, h.On)
	cleanup := func() {
		_, _ = h.On.ContainerRemove(context.WithoutCancel(ctx), res.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	}
	return res.ID, cleanup, nil
}

// Run runs a shell script with args in a helper that mounts the volume, to
// completion, and returns the (stopped) helper and its cleanup.
func (h Helper) Run(ctx context.Context, script string, args ...string) (string, func(), error) {
	return h.E.RunOn(ctx, h.On, h.options(false, append([]string{"sh", "-c", script, "sh"}, args...)), nil)
}

// Read streams the volume's content as a tar (owners, modes, symlinks and
// mtimes kept); closing it removes the helper.
func (h Helper) Read(ctx context.Context) (io.ReadCloser, error) {
	id, cleanup, err := h.Create(ctx, true)
	if err != nil {
		return nil, err
	}
	res, err := h.On.CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: Mount})
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("read volume %s: %w", h.Volume, err)
	}
	return &readCloser{res.Content, cleanup}, nil
}

type readCloser struct {
	io.ReadCloser
	cleanup func()
}

func (r *readCloser) Close() error {
	err := r.ReadCloser.Close()
	r.cleanup()
	return err
}

// Replacing extracts into a staging folder inside the volume, named for
// the replace, and swaps it in only when the extraction succeeded.
const (
	stagingPrefix = ".osgs-restore-"
	oldPrefix     = ".osgs-old-"
)

// swapScript moves the volume's current entries aside, moves the staged
// archive's entries (data/...) in, gives the volume root the archive's
// owner and mode, and removes what was moved aside. Renames only: it cannot
// run out of space. POSIX sh and busybox suffice (upstream images).
const swapScript = `set -eu
cd /data
st="$1" old="$2"
touch -r "$st/data" /tmp/root-mtime
mkdir "$old"
for f in * .[!.]* ..?*; do
	[ -e "$f" ] || [ -L "$f" ] || continue
	case "$f" in "$st"|"$old") continue ;; esac
	mv -- "$f" "$old/"
done
for f in "$st"/data/* "$st"/data/.[!.]* "$st"/data/..?*; do
	[ -e "$f" ] || [ -L "$f" ] || continue
	mv -- "$f" ./
done
chown "$(stat -c %u:%g "$st/data")" /data
chmod "$(stat -c %a "$st/data")" /data
rm -rf -- "$st" "$old"
touch -r /tmp/root-mtime /data
`

// Replace makes the volume hold exactly the tar stream content (entries
// data/...) without risking what it holds: the stream is extracted into a
// staging folder in the volume, and only a complete extraction is swapped
// in by renames. A failed or interrupted replace leaves the old data in
// place. The caller stops a service that writes the volume first.
func (h Helper) Replace(ctx context.Context, content io.Reader) error {
	tag := make([]byte, 6)
	rand.Read(tag)
	staging, old := stagingPrefix+hex.EncodeToString(tag), oldPrefix+hex.EncodeToString(tag)
	// Staging folders of replaces that were killed are removed first.
	// The volume root's mtime is kept in the staging folder, so a failed
	// replace can put it back.
	prepare := `rm -rf -- /data/` + stagingPrefix + `* && touch -r /data /tmp/mtime && mkdir /data/"$1" && mv /tmp/mtime /data/"$1"/.osgs-mtime`
	id, cleanup, err := h.Run(ctx, prepare, staging)
	if err != nil {
		return fmt.Errorf("prepare volume %s: %w", h.Volume, err)
	}
	defer cleanup()
	if _, err := h.On.CopyToContainer(ctx, id, client.CopyToContainerOptions{
		DestinationPath: Mount + "/" + staging, Content: content, // owners come from the archive
	}); err != nil {
		undo := `mv /data/"$1"/.osgs-mtime /tmp/mtime && rm -rf -- /data/"$1" && touch -r /tmp/mtime /data`
		if _, c, cerr := h.Run(context.WithoutCancel(ctx), undo, staging); cerr == nil {
			c()
		}
		return fmt.Errorf("extract into volume %s: %w; its data is unchanged", h.Volume, err)
	}
	_, c, err := h.Run(ctx, swapScript, staging, old)
	if err != nil {
		return fmt.Errorf("swap the new data into volume %s: %w", h.Volume, err)
	}
	c()
	return nil
}
