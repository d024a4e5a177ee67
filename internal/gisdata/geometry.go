package gisdata

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/osgs/osgs/internal/tools"
)

// loadOpenOptions are the open options of a load: a CSV's own, and with
// -keepinvalid the WKT column kept as text beside the geometry.
func loadOpenOptions(src *Source, o LoadOptions) []string {
	oo := openOptions(src)
	if o.KeepInvalid && src.CSVWKT != "" {
		oo = append(append([]string{}, oo[:len(oo)-2]...), "KEEP_GEOM_COLUMNS=YES", oo[len(oo)-1])
	}
	return oo
}

// checkUnreadable counts, with GDAL's own reader, the rows of a CSV whose
// WKT column holds text GDAL cannot read as a geometry: GDAL would load
// them with no geometry and drop the text. Unless KeepInvalid, the load is
// refused before anything changes, naming how many and the first.
func checkUnreadable(ctx context.Context, h *tools.Helper, src *Source, layers []Layer, o LoadOptions) error {
	if src.Format != "CSV" || src.CSVWKT == "" || len(layers) != 1 {
		return nil
	}
	col := `"` + strings.ReplaceAll(src.CSVWKT, `"`, `""`) + `"`
	layer := `"` + strings.ReplaceAll(layers[0].Name, `"`, `""`) + `"`
	sql := fmt.Sprintf(`SELECT count(*) AS n, min(%[1]s) AS first FROM %[2]s WHERE GEOMETRY IS NULL AND trim(coalesce(%[1]s, '')) <> ''`, col, layer)
	argv := []string{"ogrinfo", "-ro", "-q", "-dialect", "SQLite", "-sql", sql}
	for _, opt := range openOptions(src) {
		if opt == "KEEP_GEOM_COLUMNS=NO" {
			opt = "KEEP_GEOM_COLUMNS=YES"
		}
		argv = append(argv, "-oo", opt)
	}
	argv = append(argv, src.Open)
	var out, errb bytes.Buffer
	if err := h.Run(ctx, argv, nil, &out, &errb); err != nil {
		return fmt.Errorf("count the rows GDAL cannot read in %s: %s", src.Path, gdalError(errb.String(), err))
	}
	n, first := ogrinfoField(out.String(), "n"), ogrinfoField(out.String(), "first")
	if n == "" || n == "0" {
		return nil
	}
	if o.KeepInvalid {
		return nil
	}
	return refuse("%s: %s rows have text in column %s that GDAL cannot read as a geometry (such as %.60q); nothing was loaded. Fix them, or give -keepinvalid to load them with no geometry and keep the text in column %s",
		src.Path, n, src.CSVWKT, first, strings.ToLower(src.CSVWKT))
}

// ogrinfoField is the value of field name in ogrinfo's listing of one
// feature ("  n (Integer) = 3").
func ogrinfoField(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, name+" (") {
			if _, v, ok := strings.Cut(l, ") = "); ok {
				return v
			}
		}
	}
	return ""
}

// geometryNotes counts, in each loaded hidden table, the rows without a
// geometry and the invalid geometries (ST_IsValid false: a bowtie polygon,
// a self-touching ring), so the load reports them rather than hiding them.
// Appends are counted by ogr2ogr into the table itself and are not read.
func geometryNotes(ctx context.Context, h *tools.Helper, db string, loads []LayerLoad) (map[string]string, error) {
	notes := map[string]string{}
	for _, l := range loads {
		if l.Append || l.NLT == "NONE" {
			continue
		}
		q := fmt.Sprintf("SET client_min_messages = warning;\nSELECT count(*) FILTER (WHERE geom IS NULL), count(*) FILTER (WHERE geom IS NOT NULL AND NOT ST_IsValid(geom)) FROM %s.%s",
			Ident(l.Schema), Ident(l.Staging))
		rows, err := h.Query(ctx, db, q)
		if err != nil {
			return nil, fmt.Errorf("count the geometries of layer %s: %w", l.Layer.Name, err)
		}
		if len(rows) == 0 || len(rows[len(rows)-1]) < 2 {
			continue
		}
		r := rows[len(rows)-1]
		empty, _ := strconv.Atoi(r[0])
		invalid, _ := strconv.Atoi(r[1])
		var parts []string
		if empty > 0 {
			parts = append(parts, fmt.Sprintf("%d rows have no geometry", empty))
		}
		if invalid > 0 {
			parts = append(parts, fmt.Sprintf("%d geometries are invalid (ST_IsValid is false; ST_MakeValid repairs them)", invalid))
		}
		notes[l.Staging] = strings.Join(parts, "; ")
	}
	return notes, nil
}
