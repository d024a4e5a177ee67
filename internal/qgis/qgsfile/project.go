package qgsfile

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// Layer is one map layer of a project.
type Layer struct {
	ID       string
	Name     string
	Provider string // postgres, ogr, gdal, wms, ...
	Source   string // the data source as QGIS wrote it
	Embedded string // the project an embedded layer comes from, if it is one
}

// Project is what osgs reads of a .qgs.
type Project struct {
	Title  string
	Layers []Layer
	// Version is the version of the QGIS that saved the project, as its
	// root element says ("3.40.1-Bratislava"); "" when it says none.
	Version string
}

// Parse reads the title and every map layer of a project's XML. QGIS loads
// every <maplayer> element of the document, wherever it stands, and reads a
// layer's first <provider>, <datasource>, <id> and <layername>; so does
// Parse, and it refuses a layer with two of one of them, where a reader
// taking the other one would see another source. A document type with an
// internal subset (entities that would expand in QGIS's reader) is refused.
func Parse(qgs []byte) (*Project, error) {
	d := xml.NewDecoder(bytes.NewReader(qgs))
	d.Strict = true
	p := &Project{}
	var stack []string
	var cur *layerReader
	root := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: not a QGIS project: %v", ErrRefused, err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			if strings.Contains(string(t), "[") || strings.Contains(string(t), "ENTITY") {
				return nil, fmt.Errorf("%w: the project's document type declares entities", ErrRefused)
			}
		case xml.StartElement:
			if len(stack) == 0 {
				if t.Name.Local != "qgis" {
					return nil, fmt.Errorf("%w: not a QGIS project: its root is <%s>", ErrRefused, t.Name.Local)
				}
				root = true
				for _, a := range t.Attr {
					if a.Name.Local == "version" {
						p.Version = strings.TrimSpace(a.Value)
					}
				}
			}
			stack = append(stack, t.Name.Local)
			switch {
			case t.Name.Local == "maplayer":
				if cur != nil {
					return nil, fmt.Errorf("%w: a map layer inside map layer %q", ErrRefused, cur.layer.ID)
				}
				cur = &layerReader{depth: len(stack), seen: map[string]int{}}
				for _, a := range t.Attr {
					if a.Name.Local == "embedded" && a.Value == "1" {
						cur.embedded = true
					}
					if a.Name.Local == "project" {
						cur.layer.Embedded = a.Value
					}
					if a.Name.Local == "id" {
						cur.layer.ID = a.Value
					}
				}
			case cur != nil && len(stack) == cur.depth+1:
				cur.field = t.Name.Local
				cur.seen[t.Name.Local]++
				cur.text.Reset()
			}
		case xml.CharData:
			if cur != nil && len(stack) == cur.depth+1 {
				cur.text.Write(t)
			}
			if len(stack) == 2 && stack[1] == "title" && p.Title == "" {
				p.Title = strings.TrimSpace(string(t))
			}
		case xml.EndElement:
			if cur != nil && len(stack) == cur.depth+1 {
				cur.end()
			}
			if cur != nil && len(stack) == cur.depth {
				l, err := cur.done()
				if err != nil {
					return nil, err
				}
				p.Layers = append(p.Layers, l)
				cur = nil
			}
			stack = stack[:len(stack)-1]
		}
	}
	if !root {
		return nil, fmt.Errorf("%w: not a QGIS project: no <qgis> element", ErrRefused)
	}
	return p, nil
}

// layerReader collects one <maplayer>'s fields as the decoder passes them.
type layerReader struct {
	depth    int
	layer    Layer
	embedded bool
	field    string
	text     strings.Builder
	seen     map[string]int
}

func (r *layerReader) end() {
	v := strings.TrimSpace(r.text.String())
	if r.seen[r.field] > 1 {
		return
	}
	switch r.field {
	case "id":
		r.layer.ID = v
	case "layername":
		r.layer.Name = v
	case "provider":
		r.layer.Provider = v
	case "datasource":
		r.layer.Source = v
	}
	r.field = ""
}

func (r *layerReader) done() (Layer, error) {
	for _, f := range []string{"id", "layername", "provider", "datasource"} {
		if r.seen[f] > 1 {
			return Layer{}, fmt.Errorf("%w: map layer %q has %d <%s> elements", ErrRefused, r.layer.ID, r.seen[f], f)
		}
	}
	if r.embedded && r.layer.Embedded == "" {
		r.layer.Embedded = "(unnamed project)"
	}
	return r.layer, nil
}
