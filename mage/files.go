package targets

import (
	"context"
	"os"

	"github.com/magefile/mage/mg"
	"golang.org/x/term"

	"github.com/osgs/osgs/internal/backup"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/files"
)

// Files streams files and folders into and out of a service's volumes.
type Files mg.Namespace

func filesOpts(e *engine.Engine, service, volumePath, local string, yes *bool, label string) files.Options {
	p := backup.Progress{W: e.Err, TTY: term.IsTerminal(int(os.Stderr.Fd()))}
	return files.Options{Service: service, VolumePath: volumePath, Local: local, Yes: deref(yes), Progress: p.For(label)}
}

// Put copies a local file or folder into a folder of a service's volume, keeping its name; -yes overwrites.
//
// Example: go tool mage files:put qgis-server /io/data ./projects/city
func (Files) Put(ctx context.Context, service, volumePath, local string, yes *bool) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		return files.Put(ctx, e, filesOpts(e, service, volumePath, local, yes, "put "+local))
	})
}

// Get copies a file or folder out of a service's volume into a local folder, keeping its name; -yes overwrites.
func (Files) Get(ctx context.Context, service, volumePath, local string, yes *bool) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		return files.Get(ctx, e, filesOpts(e, service, volumePath, local, yes, "get "+volumePath))
	})
}
