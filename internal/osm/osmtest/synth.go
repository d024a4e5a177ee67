// Package osmtest writes synthetic OpenStreetMap extracts for tests and
// benchmarks: a town on a grid, with every kind of object osgs's style
// keeps (roads, a railway, a river, buildings, a multipolygon building,
// land use, water, places, POIs, an administrative boundary), at any size.
package osmtest

import (
	"bufio"
	"fmt"
	"io"
)

// Town is a grid town of Blocks x Blocks blocks.
type Town struct {
	Blocks int
	// Lon, Lat is the south-west corner; Step the block size in degrees.
	Lon, Lat, Step float64
	// FirstID is the first object ID (all kinds share the sequence).
	FirstID int64
}

// Counts are the objects a Town holds, by what the style makes of them.
type Counts struct {
	Nodes, Ways, Relations                  int64
	Roads, Railways, Waterways              int64
	Buildings, Landuse, Water, Places, POIs int64
	Boundaries                              int64
}

const ts = `version="1" timestamp="2026-11-01T00:00:00Z" changeset="1" uid="1" user="osgs"`

// Write writes the town as OSM XML, sorted (nodes, ways, relations).
func (t Town) Write(w io.Writer) (Counts, error) {
	if t.Step == 0 {
		t.Step = 0.001
	}
	if t.FirstID == 0 {
		t.FirstID = 10_000_000_000
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var c Counts
	n := t.Blocks + 1
	grid := func(i, j int) int64 { return t.FirstID + int64(j*n+i) }
	next := t.FirstID + int64(n*n)
	fmt.Fprintln(bw, `<?xml version="1.0" encoding="UTF-8"?>`)
	fmt.Fprintln(bw, `<osm version="0.6" generator="osgs osmtest">`)
	node := func(id int64, lon, lat float64, tags ...string) {
		c.Nodes++
		if len(tags) == 0 {
			fmt.Fprintf(bw, ` <node id="%d" %s lat="%.7f" lon="%.7f"/>`+"\n", id, ts, lat, lon)
			return
		}
		fmt.Fprintf(bw, ` <node id="%d" %s lat="%.7f" lon="%.7f">`+"\n", id, ts, lat, lon)
		writeTags(bw, tags)
		fmt.Fprintln(bw, ` </node>`)
	}
	// Grid nodes.
	for j := 0; j < n; j++ {
		for i := 0; i < n; i++ {
			node(grid(i, j), t.Lon+float64(i)*t.Step, t.Lat+float64(j)*t.Step)
		}
	}
	// Each block: four corner nodes of a building (or land use, or water),
	// inset from the streets; every 20th a POI; every 100th a place.
	type block struct {
		corners [4]int64
		kind    int
	}
	blocks := make([]block, 0, t.Blocks*t.Blocks)
	for j := 0; j < t.Blocks; j++ {
		for i := 0; i < t.Blocks; i++ {
			b := block{kind: (j*t.Blocks + i)}
			x, y, d := t.Lon+float64(i)*t.Step, t.Lat+float64(j)*t.Step, t.Step*0.2
			for k, off := range [4][2]float64{{d, d}, {t.Step - d, d}, {t.Step - d, t.Step - d}, {d, t.Step - d}} {
				b.corners[k] = next
				node(next, x+off[0], y+off[1])
				next++
			}
			blocks = append(blocks, b)
			if b.kind%20 == 7 {
				node(next, x+t.Step/2, y+t.Step/2, "amenity", "cafe", "name", fmt.Sprintf("Cafe %d", b.kind))
				c.POIs++
				next++
			}
			if b.kind%100 == 42 {
				node(next, x+t.Step/2, y+t.Step*0.9, "place", "neighbourhood", "name", fmt.Sprintf("Quarter %d", b.kind), "population", "1200")
				c.Places++
				next++
			}
		}
	}
	// A multipolygon building's inner ring, in block 0.
	inner := [4]int64{}
	{
		x, y := t.Lon+t.Step*0.4, t.Lat+t.Step*0.4
		for k, off := range [4][2]float64{{0, 0}, {t.Step * 0.2, 0}, {t.Step * 0.2, t.Step * 0.2}, {0, t.Step * 0.2}} {
			inner[k] = next
			node(next, x+off[0], y+off[1])
			next++
		}
	}
	way := func(id int64, refs []int64, tags ...string) {
		c.Ways++
		fmt.Fprintf(bw, ` <way id="%d" %s>`+"\n", id, ts)
		for _, r := range refs {
			fmt.Fprintf(bw, `  <nd ref="%d"/>`+"\n", r)
		}
		writeTags(bw, tags)
		fmt.Fprintln(bw, ` </way>`)
	}
	// Streets: one way per grid line and direction; every 5th primary.
	for j := 0; j < n; j++ {
		for dir := 0; dir < 2; dir++ {
			refs := make([]int64, n)
			for i := 0; i < n; i++ {
				if dir == 0 {
					refs[i] = grid(i, j)
				} else {
					refs[i] = grid(j, i)
				}
			}
			hw := "residential"
			if j%5 == 0 {
				hw = "primary"
			}
			way(next, refs, "highway", hw, "name", fmt.Sprintf("%s %d", []string{"Street", "Avenue"}[dir], j))
			c.Roads++
			next++
		}
	}
	// A railway along the first diagonal, a river along the second.
	diag := func(flip bool) []int64 {
		refs := make([]int64, n)
		for i := 0; i < n; i++ {
			if flip {
				refs[i] = grid(i, n-1-i)
			} else {
				refs[i] = grid(i, i)
			}
		}
		return refs
	}
	way(next, diag(false), "railway", "rail", "name", "Town Line")
	c.Railways++
	next++
	way(next, diag(true), "waterway", "river", "name", "Town River")
	c.Waterways++
	next++
	// Block areas.
	var mpOuter int64
	for _, b := range blocks {
		refs := []int64{b.corners[0], b.corners[1], b.corners[2], b.corners[3], b.corners[0]}
		switch {
		case b.kind == 0:
			mpOuter = next
			way(next, refs) // the multipolygon's outer ring, untagged
		case b.kind%50 == 25:
			way(next, refs, "natural", "water", "name", fmt.Sprintf("Pond %d", b.kind))
			c.Water++
		case b.kind%10 == 5:
			way(next, refs, "landuse", "residential")
			c.Landuse++
		default:
			way(next, refs, "building", "yes", "building:levels", "3")
			c.Buildings++
		}
		next++
	}
	innerWay := next
	way(next, []int64{inner[0], inner[1], inner[2], inner[3], inner[0]})
	next++
	// The town's edge, for its boundary.
	edge := make([]int64, 0, 4*n)
	for i := 0; i < n; i++ {
		edge = append(edge, grid(i, 0))
	}
	for j := 1; j < n; j++ {
		edge = append(edge, grid(n-1, j))
	}
	for i := n - 2; i >= 0; i-- {
		edge = append(edge, grid(i, n-1))
	}
	for j := n - 2; j >= 0; j-- {
		edge = append(edge, grid(0, j))
	}
	edgeWay := next
	way(next, edge)
	next++
	rel := func(id int64, members [][2]any, tags ...string) {
		c.Relations++
		fmt.Fprintf(bw, ` <relation id="%d" %s>`+"\n", id, ts)
		for _, m := range members {
			fmt.Fprintf(bw, `  <member type="way" ref="%d" role="%s"/>`+"\n", m[0], m[1])
		}
		writeTags(bw, tags)
		fmt.Fprintln(bw, ` </relation>`)
	}
	rel(next, [][2]any{{mpOuter, "outer"}, {innerWay, "inner"}}, "type", "multipolygon", "building", "yes", "name", "Courtyard")
	c.Buildings++
	next++
	rel(next, [][2]any{{edgeWay, "outer"}}, "type", "boundary", "boundary", "administrative", "admin_level", "8", "name", "Synthtown")
	c.Boundaries++
	fmt.Fprintln(bw, `</osm>`)
	return c, bw.Flush()
}

func writeTags(w io.Writer, kv []string) {
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(w, `  <tag k="%s" v="%s"/>`+"\n", kv[i], kv[i+1])
	}
}
