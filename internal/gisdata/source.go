// Package gisdata loads vector, raster and OpenStreetMap data into PostGIS
// and exports it again, through the tools helper (internal/tools): GDAL's
// ogr2ogr, raster2pgsql and osm2pgsql run in a short-lived container on
// PostGIS's own network, the data streams in and out through the Engine API,
// and nothing needs installing on the host.
//
// A load is all or nothing: each layer is written in one transaction into a
// hidden table beside its target, and the tables are renamed into place in
// one final transaction (dropping the old ones for -mode=replace), so
// readers see the old table until the new one is complete.
package gisdata

import (
	"github.com/osgs/osgs/internal/refusal"

	"bufio"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Source is a host file or folder to load, and what the helper opens.
type Source struct {
	Path   string   // as given
	Format string   // what the name says it is (a GDAL driver's short name, or "ZIP")
	Files  []string // host files to upload, relative to Root
	Root   string   // host folder the Files are relative to
	Open   string   // what GDAL opens in the helper, under /work
	Size   int64    // bytes to upload
	// CSVWKT is the WKT column a CSV's header names ("": X/Y columns).
	CSVWKT string
}

// format is one file name ending osgs loads.
type format struct {
	ext    string
	driver string
	raster bool
}

var formats = []format{
	{".gpkg", "GPKG", false},
	{".shp", "ESRI Shapefile", false},
	{".geojson", "GeoJSON", false},
	{".json", "GeoJSON", false},
	{".geojsonl", "GeoJSONSeq", false},
	{".geojsons", "GeoJSONSeq", false},
	{".geojsonseq", "GeoJSONSeq", false},
	{".fgb", "FlatGeobuf", false},
	{".csv", "CSV", false},
	{".kml", "KML", false},
	{".gml", "GML", false},
	{".tif", "GTiff", true},
	{".tiff", "GTiff", true},
	{".zip", "ZIP", false},
}

// Drivers are the GDAL drivers a load accepts, whatever the file is called.
var Drivers = map[string]bool{
	"GPKG": true, "ESRI Shapefile": true, "GeoJSON": true, "GeoJSONSeq": true, "FlatGeobuf": true,
	"CSV": true, "KML": true, "LIBKML": true, "GML": true, "OpenFileGDB": true, "GTiff": true, "COG": true,
}

// shapefileParts are the files that travel with a .shp.
var shapefileParts = []string{".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".qpj", ".shp.xml"}

// Extensions lists the supported file name endings, for messages.
func Extensions() string {
	var s []string
	for _, f := range formats {
		s = append(s, f.ext)
	}
	return strings.Join(append(s, ".gdb (folder)", "a folder of shapefiles"), " ")
}

// ResolveSource checks p and says what to upload and what GDAL opens. It
// refuses, in one line, a path that does not exist, an empty file, an
// unsupported format and a shapefile without its .shx or .dbf.
//
// One rule for links: none is followed. A source, a sidecar or a file in a
// folder that is a symbolic link is refused (a colleague's .dbf linked to
// /etc/shadow would be uploaded as the table's data), and so is a FIFO,
// socket or device (reading one would block or never end).
func ResolveSource(p string) (*Source, error) {
	fi, err := os.Lstat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, refuse("%s: no such file or folder", p)
	}
	if err != nil {
		return nil, err
	}
	if reason := refusal.FileKind(fi.Mode()); reason != "" {
		return nil, refuse("%s: %s; osgs loads regular files and folders only", p, reason)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return nil, err
	}
	s := &Source{Path: p, Root: filepath.Dir(abs)}
	base := filepath.Base(abs)
	if fi.IsDir() {
		return s, s.folder(abs, base)
	}
	if !fi.Mode().IsRegular() {
		return nil, refuse("%s: not a regular file", p)
	}
	lower := strings.ToLower(base)
	var f *format
	for i := range formats {
		if strings.HasSuffix(lower, formats[i].ext) {
			f = &formats[i]
			break
		}
	}
	if f == nil {
		return nil, refuse("%s: unsupported format %q (osgs loads %s)", p, filepath.Ext(base), Extensions())
	}
	if fi.Size() == 0 {
		return nil, refuse("%s: the file is empty", p)
	}
	s.Format, s.Files, s.Size = f.driver, []string{base}, fi.Size()
	s.Open = path.Join("/work", base)
	switch f.driver {
	case "ZIP":
		s.Open = "/vsizip/" + s.Open
	case "ESRI Shapefile":
		stem := strings.TrimSuffix(base, filepath.Ext(base))
		parts, err := siblings(s.Root, stem)
		if err != nil {
			return nil, err
		}
		for _, need := range []string{".shx", ".dbf"} {
			if _, ok := parts[need]; !ok {
				return nil, refuse("%s: the shapefile's %s file is missing (a shapefile is .shp, .shx and .dbf, with .prj for its CRS)", p, need)
			}
		}
		for _, ext := range shapefileParts {
			if name, ok := parts[ext]; ok {
				s.Files = append(s.Files, name)
				s.Size += sizeOf(filepath.Join(s.Root, name))
			}
		}
	case "CSV":
		s.CSVWKT = csvWKTColumn(abs)
	case "GML":
		stem := strings.TrimSuffix(base, filepath.Ext(base))
		if fi, err := os.Lstat(filepath.Join(s.Root, stem+".xsd")); err == nil && fi.Mode().IsRegular() {
			s.Files = append(s.Files, stem+".xsd")
			s.Size += sizeOf(filepath.Join(s.Root, stem+".xsd"))
		}
	}
	return s, nil
}

// folder: a File Geodatabase (name.gdb), or a folder of shapefiles.
func (s *Source) folder(abs, base string) error {
	var files []string
	var size int64
	err := filepath.WalkDir(abs, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if reason := refusal.FileKind(d.Type()); reason != "" {
			return refuse("%s: %s; osgs loads regular files and folders only", p, reason)
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(s.Root, p)
			files = append(files, rel)
			size += sizeOf(p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.Files, s.Size, s.Open = files, size, path.Join("/work", base)
	if strings.HasSuffix(strings.ToLower(base), ".gdb") {
		s.Format = "OpenFileGDB"
		if len(files) == 0 {
			return refuse("%s: the File Geodatabase folder is empty", s.Path)
		}
		return nil
	}
	var shp []string
	for _, f := range files {
		if strings.EqualFold(filepath.Ext(f), ".shp") && filepath.Dir(f) == base {
			shp = append(shp, f)
		}
	}
	if len(shp) == 0 {
		return refuse("%s: a folder is loaded as a File Geodatabase (name.gdb) or as a folder of shapefiles, and this one has no .shp", s.Path)
	}
	s.Format = "ESRI Shapefile"
	// Only the shapefiles' own files travel.
	keep := map[string]bool{}
	s.Size = 0
	for _, f := range shp {
		stem := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
		parts, err := siblings(abs, stem)
		if err != nil {
			return err
		}
		for _, need := range []string{".shx", ".dbf"} {
			if _, ok := parts[need]; !ok {
				return refuse("%s: the shapefile's %s file is missing", filepath.Join(s.Path, filepath.Base(f)), need)
			}
		}
		keep[f] = true
		for _, name := range parts {
			keep[filepath.Join(base, name)] = true
		}
	}
	s.Files = s.Files[:0]
	for _, f := range files {
		if keep[f] {
			s.Files = append(s.Files, f)
			s.Size += sizeOf(filepath.Join(s.Root, f))
		}
	}
	sort.Strings(s.Files)
	return nil
}

// siblings maps each shapefile part's extension (lower-case) to its file
// name, for the files in dir named stem.<ext> in any case.
func siblings(dir, stem string) (map[string]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, e := range entries {
		name := e.Name()
		if !strings.EqualFold(name[:min(len(stem), len(name))], stem) || len(name) <= len(stem) {
			continue
		}
		ext := strings.ToLower(name[len(stem):])
		for _, want := range shapefileParts {
			if ext != want {
				continue
			}
			if reason := refusal.FileKind(e.Type()); reason != "" {
				return nil, refuse("%s: %s; osgs loads regular files only", filepath.Join(dir, name), reason)
			}
			out[ext] = name
		}
	}
	return out, nil
}

func sizeOf(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// csvWKTColumn reads a CSV's header and returns the column GDAL is told to
// read WKT geometries from (as the header writes it), or "".
func csvWKTColumn(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	line, _ := bufio.NewReader(io.LimitReader(f, 64<<10)).ReadString('\n')
	names := strings.Split(strings.TrimPrefix(CSVOpenOptions[0], "GEOM_POSSIBLE_NAMES="), ",")
	for _, col := range strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ';' || r == '\t' || r == '|' }) {
		col = strings.Trim(strings.TrimSpace(col), `"'`)
		for _, n := range names {
			if strings.EqualFold(col, n) {
				return col
			}
		}
	}
	return ""
}
