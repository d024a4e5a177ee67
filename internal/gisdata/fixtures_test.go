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
	"testing"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/gisdata"
	"github.com/osgs/osgs/internal/testenv"
	"github.com/osgs/osgs/internal/tools"
)

// fixtures is a folder of real data sets shipped in Debian packages:
// naturalearth/ (public domain Natural Earth, from python3-geopandas) and
// mapnik/ (the mapnik examples' Canadian shapefiles, in a projected CRS
// without a .prj).
func fixtures(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range map[string]string{
		"naturalearth": testenv.DebData(t, "python3-geopandas", "usr/lib/python3/dist-packages/geopandas/datasets/"),
		"mapnik":       testenv.DebData(t, "mapnik-doc", "usr/share/doc/mapnik-doc/examples/data/"),
	} {
		if err := os.Symlink(src, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
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
