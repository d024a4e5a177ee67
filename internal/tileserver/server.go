package tileserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Options configure a Server.
type Options struct {
	// Schema is the published schema.
	Schema string
	// Prefix is the path the server answers under, such as /tiles/ (nginx
	// passes it through).
	Prefix string
	// Extent and Buffer are the tile's extent and buffer, in tile units
	// (4096 and 64 when zero).
	Extent, Buffer int
	// MinZoom and MaxZoom bound the zoom levels served and advertised
	// (0 and 22 when both are zero).
	MinZoom, MaxZoom int
	// MaxAge is the Cache-Control max-age of tiles and TileJSON.
	MaxAge time.Duration
	// Timeout bounds one tile's query.
	Timeout time.Duration
	// Log receives one line per failed request; nil is slog's default.
	Log *slog.Logger
}

// Server serves the published layers.
type Server struct {
	db   Querier
	opts Options

	mu    sync.Mutex
	srids map[string]int // detected SRIDs of layers that declare none, by ID
}

// New makes a Server over db.
func New(db Querier, opts Options) *Server {
	if opts.Extent == 0 {
		opts.Extent = 4096
	}
	if opts.Buffer == 0 {
		opts.Buffer = 64
	}
	if opts.MinZoom == 0 && opts.MaxZoom == 0 {
		opts.MaxZoom = 22
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Prefix == "" {
		opts.Prefix = "/"
	}
	if !strings.HasSuffix(opts.Prefix, "/") {
		opts.Prefix += "/"
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &Server{db: db, opts: opts, srids: map[string]int{}}
}

// Route is what a request path under the prefix asks for.
type Route struct {
	Kind    string // "index", "tilejson", "tile" or "health"
	Layer   string
	Z, X, Y int
}

// ParseRoute reads a path under the prefix: index.json, <layer>.json,
// <layer>/<z>/<x>/<y>.pbf (or .mvt), health. Coordinates outside the zoom
// level's grid are an error.
func ParseRoute(rest string) (Route, error) {
	switch rest {
	case "", "index.json":
		return Route{Kind: "index"}, nil
	case "health":
		return Route{Kind: "health"}, nil
	}
	parts := strings.Split(rest, "/")
	if len(parts) == 1 && strings.HasSuffix(rest, ".json") {
		return Route{Kind: "tilejson", Layer: strings.TrimSuffix(rest, ".json")}, nil
	}
	if len(parts) != 4 {
		return Route{}, errors.New("not a tile path: want <layer>/<z>/<x>/<y>.pbf")
	}
	last := parts[3]
	if !strings.HasSuffix(last, ".pbf") && !strings.HasSuffix(last, ".mvt") {
		return Route{}, errors.New("a tile path ends in .pbf or .mvt")
	}
	last = last[:len(last)-4]
	var n [3]int
	for i, s := range []string{parts[1], parts[2], last} {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return Route{}, fmt.Errorf("tile coordinate %q is not a whole number", s)
		}
		n[i] = v
	}
	z, x, y := n[0], n[1], n[2]
	if z > 30 || x >= 1<<z || y >= 1<<z {
		return Route{}, fmt.Errorf("tile %d/%d/%d is outside the grid of zoom %d", z, x, y, z)
	}
	return Route{Kind: "tile", Layer: parts[0], Z: z, X: x, Y: y}, nil
}

// ServeHTTP answers GET and HEAD requests under the prefix.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "only GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, s.opts.Prefix)
	if !ok {
		if r.URL.Path+"/" == s.opts.Prefix {
			rest, ok = "", true
		}
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	route, err := ParseRoute(rest)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	switch route.Kind {
	case "health":
		s.health(w, r)
	case "index":
		s.index(w, r)
	case "tilejson":
		s.tileJSON(w, r, route.Layer)
	case "tile":
		s.tile(w, r, route)
	}
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	var one int
	if err := s.db.QueryRow(r.Context(), "SELECT 1").Scan(&one); err != nil {
		s.fail(w, r, http.StatusServiceUnavailable, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// publicBase is the URL of the prefix as the client sees it: nginx's
// X-Forwarded-Proto and X-Forwarded-Host (which carries the port), else the
// request's own host.
func (s *Server) publicBase(r *http.Request) string {
	proto := r.Header.Get("X-Forwarded-Proto")
	if proto == "" {
		proto = "http"
		if r.TLS != nil {
			proto = "https"
		}
	}
	host := r.Header.Get("X-Forwarded-Host")
	if host == "" {
		host = r.Host
	}
	return proto + "://" + host + s.opts.Prefix
}

// IndexEntry is one layer in the index.
type IndexEntry struct {
	ID       string `json:"id"`
	Schema   string `json:"schema"`
	Table    string `json:"table"`
	Geometry string `json:"geometry_column"`
	Type     string `json:"geometry_type"`
	SRID     int    `json:"srid"`
	TileJSON string `json:"tilejson"`
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	layers, err := Discover(r.Context(), s.db, s.opts.Schema)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	base := s.publicBase(r)
	out := make([]IndexEntry, 0, len(layers))
	for _, l := range layers {
		out = append(out, IndexEntry{ID: l.ID, Schema: l.Schema, Table: l.Table, Geometry: l.Geometry, Type: l.Type, SRID: l.SRID, TileJSON: base + l.ID + ".json"})
	}
	s.writeJSON(w, out)
}

func (s *Server) layer(ctx context.Context, id string) (*Layer, error) {
	layers, err := Discover(ctx, s.db, s.opts.Schema)
	if err != nil {
		return nil, err
	}
	for i := range layers {
		if layers[i].ID == id {
			return &layers[i], nil
		}
	}
	return nil, nil
}

// TileJSON is the TileJSON 3.0.0 document of one layer.
type TileJSON struct {
	TileJSON     string        `json:"tilejson"`
	Name         string        `json:"name"`
	Scheme       string        `json:"scheme"`
	Tiles        []string      `json:"tiles"`
	MinZoom      int           `json:"minzoom"`
	MaxZoom      int           `json:"maxzoom"`
	Bounds       []float64     `json:"bounds,omitempty"`
	Center       []float64     `json:"center,omitempty"`
	VectorLayers []VectorLayer `json:"vector_layers"`
}

// VectorLayer describes the layer inside the tiles.
type VectorLayer struct {
	ID      string            `json:"id"`
	Fields  map[string]string `json:"fields"`
	MinZoom int               `json:"minzoom"`
	MaxZoom int               `json:"maxzoom"`
}

// MakeTileJSON builds the document for l; bounds are west, south, east,
// north in degrees, or nil when the layer is empty.
func MakeTileJSON(l Layer, base string, minZoom, maxZoom int, bounds []float64) TileJSON {
	fields := map[string]string{}
	for _, f := range l.Fields {
		if f.Name != l.Key {
			fields[f.Name] = f.Type
		}
	}
	tj := TileJSON{
		TileJSON: "3.0.0", Name: l.ID, Scheme: "xyz",
		Tiles:   []string{base + l.ID + "/{z}/{x}/{y}.pbf"},
		MinZoom: minZoom, MaxZoom: maxZoom,
		VectorLayers: []VectorLayer{{ID: l.ID, Fields: fields, MinZoom: minZoom, MaxZoom: maxZoom}},
	}
	if len(bounds) == 4 {
		tj.Bounds = bounds
		z := max(minZoom, min(maxZoom, 10))
		tj.Center = []float64{(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, float64(z)}
	}
	return tj
}

func (s *Server) tileJSON(w http.ResponseWriter, r *http.Request, id string) {
	l, err := s.layer(r.Context(), id)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	if l == nil {
		http.Error(w, fmt.Sprintf("no layer %q in the published schema", id), http.StatusNotFound)
		return
	}
	var b [4]*float64
	var bounds []float64
	if err := s.db.QueryRow(r.Context(), BoundsSQL(*l)).Scan(&b[0], &b[1], &b[2], &b[3]); err == nil && b[0] != nil {
		bounds = []float64{*b[0], *b[1], *b[2], *b[3]}
	} else if err != nil && !isNoRows(err) {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	s.writeJSON(w, MakeTileJSON(*l, s.publicBase(r), s.opts.MinZoom, s.opts.MaxZoom, bounds))
}

func (s *Server) tile(w http.ResponseWriter, r *http.Request, rt Route) {
	if rt.Z < s.opts.MinZoom || rt.Z > s.opts.MaxZoom {
		http.Error(w, fmt.Sprintf("zoom %d is outside %d-%d", rt.Z, s.opts.MinZoom, s.opts.MaxZoom), http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.Timeout)
	defer cancel()
	l, err := s.layer(ctx, rt.Layer)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	if l == nil {
		http.Error(w, fmt.Sprintf("no layer %q in the published schema", rt.Layer), http.StatusNotFound)
		return
	}
	srid, err := s.srid(ctx, *l)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "application/vnd.mapbox-vector-tile")
	if srid == 0 { // an empty view: nothing to draw
		s.cacheHeaders(w)
		return
	}
	var tile []byte
	if err := s.db.QueryRow(ctx, TileSQL(*l, srid, s.opts.Extent, s.opts.Buffer), rt.Z, rt.X, rt.Y).Scan(&tile); err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	s.cacheHeaders(w)
	w.Header().Set("Content-Length", strconv.Itoa(len(tile)))
	if r.Method == http.MethodGet {
		_, _ = w.Write(tile)
	}
}

// srid is the layer's declared SRID, or the one of its rows (remembered).
func (s *Server) srid(ctx context.Context, l Layer) (int, error) {
	if l.SRID != 0 {
		return l.SRID, nil
	}
	s.mu.Lock()
	v, ok := s.srids[l.ID]
	s.mu.Unlock()
	if ok {
		return v, nil
	}
	if err := s.db.QueryRow(ctx, SRIDSQL(l)).Scan(&v); err != nil {
		if isNoRows(err) {
			return 0, nil
		}
		return 0, fmt.Errorf("the SRID of %s: %w", l.ID, err)
	}
	s.mu.Lock()
	s.srids[l.ID] = v
	s.mu.Unlock()
	return v, nil
}

func (s *Server) cacheHeaders(w http.ResponseWriter) {
	if s.opts.MaxAge > 0 {
		w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(s.opts.MaxAge.Seconds())))
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
}

func (s *Server) writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	s.cacheHeaders(w)
	_ = json.NewEncoder(w).Encode(v)
}

// fail answers with a short message; the cause goes to the log (it may
// name tables or SQL, which a client need not see).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, code int, err error) {
	if errors.Is(err, context.DeadlineExceeded) {
		code = http.StatusGatewayTimeout
	}
	s.opts.Log.Error("request failed", "path", r.URL.Path, "status", code, "err", err)
	http.Error(w, http.StatusText(code), code)
}

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
