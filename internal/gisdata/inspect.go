package gisdata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/tools"
)

// SRS is a coordinate system as GDAL reports it.
type SRS struct {
	Auth  string `json:"auth"`
	Code  string `json:"code"`
	WKT   string `json:"wkt"`
	Proj4 string `json:"proj4"`
}

// EPSG is the EPSG code, or "" when the CRS has none.
func (s *SRS) EPSG() string {
	if s != nil && strings.EqualFold(s.Auth, "EPSG") {
		return s.Code
	}
	return ""
}

// Layer is one vector layer of a source (osgs-inspect's output).
type Layer struct {
	Name     string    `json:"name"`
	Geometry string    `json:"geometry"` // declared type, OGR's name
	Flat     string    `json:"flat"`     // declared type without Z/M
	Z        bool      `json:"z"`
	M        bool      `json:"m"`
	Count    int64     `json:"count"`
	SRS      *SRS      `json:"srs"`
	Fields   []string  `json:"fields"`
	Extent   []float64 `json:"extent"`
	// Types are the geometry types the layer really holds (flat, OGR's
	// names), when it was scanned.
	Types []string `json:"types"`
}

// Raster is a raster source's facts.
type Raster struct {
	Width, Height, Bands int
	Type                 string    `json:"type"`
	NoData               *float64  `json:"nodata"`
	GeoTransform         []float64 `json:"geotransform"`
	SRS                  *SRS      `json:"srs"`
}

// Inspection is what GDAL sees in a source.
type Inspection struct {
	Driver string  `json:"driver"`
	Layers []Layer `json:"layers"`
	Raster *Raster `json:"raster"`
}

// inspect runs osgs-inspect in the helper with GDAL open options; scan
// names the layers whose geometry types are read feature by feature.
func inspect(ctx context.Context, h *tools.Helper, open string, oo []string, scan ...string) (*Inspection, error) {
	argv := []string{"osgs-inspect", open}
	for _, o := range oo {
		argv = append(argv, "--oo", o)
	}
	if len(scan) > 0 {
		argv = append(append(argv, "--types"), scan...)
	}
	out, err := h.Output(ctx, argv...)
	if err != nil {
		var x *engine.ExitError
		if errors.As(err, &x) && x.Stderr != "" {
			// osgs-inspect's own line is the last; GDAL's warnings come first.
			lines := strings.Split(strings.TrimSpace(x.Stderr), "\n")
			if why := strings.Join(strings.Fields(lines[len(lines)-1]), " "); why != "" {
				return nil, refuse("GDAL cannot read it: %s", why)
			}
		}
		if errors.As(err, &x) {
			return nil, refuse("GDAL cannot read it (osgs-inspect exited with code %d and said nothing)", x.Code)
		}
		return nil, err
	}
	var in Inspection
	if err := json.Unmarshal(out, &in); err != nil {
		return nil, fmt.Errorf("osgs-inspect: %w", err)
	}
	return &in, nil
}
