package gisdata_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/osgs/osgs/internal/debootstrap"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/gisdata"
	"github.com/osgs/osgs/internal/tools"
)

// Real data sets shipped in Debian packages (public domain Natural Earth in
// python3-geopandas; the mapnik examples' Canadian shapefiles, in a
// projected CRS; an OpenStreetMap extract of Karlsruhe in osmium-tool's
// examples), fetched from the signed mirror and checked like the base
// image's packages. They are cached in the user's cache folder.
var fixtureOnce sync.Once
var fixtureDir string
var fixtureErr error

func fixtures(t *testing.T) string {
	t.Helper()
	fixtureOnce.Do(func() {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir := filepath.Join(cache, "osgs", "testdata", "gis-v1")
		if _, err := os.Stat(filepath.Join(dir, "complete")); err == nil {
			fixtureDir = dir
			return
		}
		tmp, err := os.MkdirTemp(filepath.Dir(dir)+"", "")
		if err != nil {
			if err = os.MkdirAll(filepath.Dir(dir), 0o755); err == nil {
				tmp, err = os.MkdirTemp(filepath.Dir(dir), "")
			}
		}
		if err != nil {
			fixtureErr = err
			return
		}
		defer os.RemoveAll(tmp)
		debs, err := debootstrap.Fetch(context.Background(), debootstrap.Options{Mirror: os.Getenv("OSGS_DEBIAN_MIRROR")}, tmp, "python3-geopandas", "mapnik-doc", "osmium-tool")
		if err != nil {
			fixtureErr = err
			return
		}
		out := filepath.Join(tmp, "out")
		for i, prefix := range []string{"usr/lib/python3/dist-packages/geopandas/datasets/", "usr/share/doc/mapnik-doc/examples/data/", "usr/share/doc/osmium-tool/examples/extract-example-config/"} {
			sub := []string{"naturalearth", "mapnik", "osm"}[i]
			if _, err := debootstrap.ExtractFiles(debs[i], prefix, filepath.Join(out, sub)); err != nil {
				fixtureErr = err
				return
			}
		}
		os.WriteFile(filepath.Join(out, "complete"), nil, 0o644)
		os.RemoveAll(dir)
		if fixtureErr = os.Rename(out, dir); fixtureErr == nil {
			fixtureDir = dir
		}
	})
	if fixtureErr != nil {
		t.Fatalf("test data from the Debian mirror: %v", fixtureErr)
	}
	return fixtureDir
}

// digestScript prints, for a GDAL source's layer, its feature count, its
// EPSG code, its extent and a digest of the sorted md5s of its geometries'
// ISO WKB (forced to Multi when asked): what the loaded table must match.
const digestScript = `
import hashlib, json, sys
from osgeo import gdal, ogr
gdal.UseExceptions()
path, layer, multi = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
oo = sys.argv[4:]
ds = gdal.OpenEx(path, gdal.OF_VECTOR, open_options=oo)
lyr = ds.GetLayerByName(layer) if layer else ds.GetLayer(0)
sums, n = [], 0
for f in lyr:
    n += 1
    g = f.GetGeometryRef()
    if g is None:
        continue
    if multi:
        g = ogr.ForceTo(g, {ogr.wkbPolygon: ogr.wkbMultiPolygon, ogr.wkbLineString: ogr.wkbMultiLineString, ogr.wkbPoint: ogr.wkbMultiPoint}.get(ogr.GT_Flatten(g.GetGeometryType()), g.GetGeometryType()) if ogr.GT_Flatten(g.GetGeometryType()) in (ogr.wkbPolygon, ogr.wkbLineString, ogr.wkbPoint) else g.GetGeometryType())
    sums.append(hashlib.md5(g.ExportToIsoWkb(ogr.wkbNDR)).hexdigest())
sums.sort()
srs = lyr.GetSpatialRef()
code = None
if srs is not None:
    srs.AutoIdentifyEPSG()
    code = srs.GetAuthorityCode(None)
e = lyr.GetExtent()
json.dump({"count": n, "epsg": code, "extent": [e[0], e[2], e[1], e[3]], "digest": hashlib.sha256("".join(sums).encode()).hexdigest()}, sys.stdout)
`

type sourceFacts struct {
	Count  int64     `json:"count"`
	EPSG   *string   `json:"epsg"`
	Extent []float64 `json:"extent"`
	Digest string    `json:"digest"`
}

// sourceDigest reads a file already in the helper's /work with GDAL.
func sourceDigest(t *testing.T, ctx context.Context, h *tools.Helper, open, layer string, multi bool, oo ...string) sourceFacts {
	t.Helper()
	m := "0"
	if multi {
		m = "1"
	}
	out, err := h.Output(ctx, append([]string{"python3", "-c", digestScript, open, layer, m}, oo...)...)
	if err != nil {
		t.Fatalf("digest %s: %v", open, err)
	}
	var f sourceFacts
	if err := json.Unmarshal(out, &f); err != nil {
		t.Fatalf("digest %s: %v: %s", open, err, out)
	}
	return f
}

// tableDigest is the same digest of a loaded table.
func tableDigest(t *testing.T, ctx context.Context, h *tools.Helper, db, table string) (count int64, digest string) {
	t.Helper()
	rows, err := h.Query(ctx, db, "SELECT md5(ST_AsBinary(geom, 'NDR')) FROM "+table+" WHERE geom IS NOT NULL ORDER BY 1")
	if err != nil {
		t.Fatalf("digest %s: %v", table, err)
	}
	var sums []string
	for _, r := range rows {
		sums = append(sums, r[0])
	}
	sort.Strings(sums)
	sum := sha256.Sum256([]byte(strings.Join(sums, "")))
	c, err := h.Query(ctx, db, "SELECT count(*) FROM "+table)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	json.Unmarshal([]byte(c[0][0]), &n)
	return n, hex.EncodeToString(sum[:])
}

// gdalRun runs a shell script in a tools helper (GDAL's command-line tools,
// as the test's own way to make files), then copies the named outputs from
// /work to dir on this host.
func gdalRun(t *testing.T, ctx context.Context, e *engine.Engine, h *tools.Helper, script, dir string, outputs ...string) {
	t.Helper()
	var errb bytes.Buffer
	if err := h.Run(ctx, []string{"bash", "-euc", script}, nil, nil, &errb); err != nil {
		t.Fatalf("gdal: %v: %s", err, errb.String())
	}
	for _, o := range outputs {
		f, err := os.Create(filepath.Join(dir, filepath.Base(o)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.Get(ctx, o, f); err != nil {
			t.Fatalf("get %s: %v", o, err)
		}
		f.Close()
	}
}

// putFiles uploads host files into the helper's /work.
func putFiles(t *testing.T, ctx context.Context, h *tools.Helper, root string, files ...string) {
	t.Helper()
	if err := gisdata.PutFiles(ctx, h, root, files); err != nil {
		t.Fatal(err)
	}
}
