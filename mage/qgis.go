package targets

import (
	"context"
	"fmt"
	"strings"

	"github.com/magefile/mage/mg"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/qgis"
)

// Qgis publishes QGIS projects to QGIS Server (see the README's Publishing section).
type Qgis mg.Namespace

// Publish checks a .qgs or .qgz in QGIS Server itself and serves it at /ogc/<name> (-name, default the file's name); a project with an invalid layer, or saved by a QGIS newer than the server (unless -force), is refused, and the previous version stays served.
//
// PostGIS layers must use one of the pg_service names osgs gives QGIS
// Server (service='osgs', or a database's name), never their own user or
// password: the server logs in as qgis_server. postgis:servicefile writes
// the same services for QGIS Desktop.
func (Qgis) Publish(ctx context.Context, file string, name *string, force *bool) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		info, err := qgis.Publish(ctx, e, qgis.PublishOptions{File: file, Name: deref(name), Force: deref(force)})
		if err != nil {
			return err
		}
		names := make([]string, len(info.Project.Layers))
		for i, l := range info.Project.Layers {
			names[i] = l.Name
		}
		fmt.Fprintf(e.Out, "published %s (%d layers, all valid: %s)\n  OGC (WMS, WFS, WMTS): %s\n  OGC API Features:     %s\n",
			info.Name, len(names), strings.Join(names, ", "), info.URLs.OGC, info.URLs.Features)
		return nil
	})
}

// Projects lists the published projects with the QGIS version that saved each, their layers and URLs.
func (Qgis) Projects(ctx context.Context) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		infos, err := qgis.Projects(ctx, e)
		if err != nil {
			return err
		}
		qgis.PrintProjects(e.Out, infos)
		return nil
	})
}

// Unpublish removes a published project and its folder (-yes required).
func (Qgis) Unpublish(ctx context.Context, name string, yes *bool) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		if err := qgis.Unpublish(ctx, e, name, deref(yes)); err != nil {
			return err
		}
		fmt.Fprintf(e.Out, "unpublished %s\n", name)
		return nil
	})
}

// Servicefile writes a pg_service.conf (mode 0600) for QGIS Desktop with the services QGIS Server has: -role (default qgis_server), -host, -out (default config/pg_service.conf).
//
// The file holds the role's password, which is never printed. Point QGIS
// Desktop at it with PGSERVICEFILE and author projects with service='osgs':
// they then work unchanged once published.
func (Postgis) Servicefile(ctx context.Context, role, host, out *string) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		s := postgis.Load(e)
		path, err := qgis.WriteServiceFile(e.Dir, e.Catalog, e.Env.Map(), s, qgis.ServiceFileOptions{Role: deref(role), Host: deref(host), Out: deref(out)})
		if err != nil {
			return err
		}
		r := deref(role)
		if r == "" {
			r = "qgis_server"
		}
		fmt.Fprintf(e.Out, "wrote %s (mode 0600; role %s, services %s; the password is in the file, never printed)\n  QGIS Desktop: PGSERVICEFILE=%s qgis\n",
			path, r, strings.Join(qgis.Services(e.Env.Map()), ", "), path)
		return nil
	})
}
