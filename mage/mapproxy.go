package targets

import (
	"context"

	"github.com/osgs/osgs/internal/config"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/mapproxy"
)

// Seed fills MapProxy's cache with mapproxy-seed: -levels=0-N (default 0-6), -bbox=minx,miny,maxx,maxy in -srs (default EPSG:4326), -cache=a,b (default every cache), -concurrency=N.
//
// Tiles already cached are fetched again; an interrupted seed resumes where
// it stopped when run again with the same options.
func (Mapproxy) Seed(ctx context.Context, levels, bbox, srs, cache *string, concurrency *int) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		o := mapproxy.SeedOptions{SRS: deref(srs), Caches: config.SplitList(deref(cache)), Concurrency: deref(concurrency)}
		l := deref(levels)
		if l == "" {
			l = "0-6"
		}
		var err error
		if o.From, o.To, err = mapproxy.ParseLevels(l); err != nil {
			return err
		}
		if b := deref(bbox); b != "" {
			if o.BBox, err = mapproxy.ParseBBox(b); err != nil {
				return err
			}
		}
		return mapproxy.Seed(ctx, e, o)
	})
}

// Cleanup removes every tile from MapProxy's caches (-cache=a,b: only those).
func (Mapproxy) Cleanup(ctx context.Context, cache *string) error {
	return run(ctx, func(ctx context.Context, e *engine.Engine) error {
		return mapproxy.Cleanup(ctx, e, config.SplitList(deref(cache)))
	})
}
