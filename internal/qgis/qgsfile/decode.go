package qgsfile

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// credentialRE finds a credential given as key=value in any of the forms
// QGIS's providers read (key='v', key = v, key%3Dv in an encoded URI).
var credentialRE = regexp.MustCompile(`(?i)(^|[^a-z0-9_])(user|username|password|passwd|pwd|pass|authcfg|auth_?cfg|apikey|api_key|access_token|token|secret|http-header:[a-z-]+)\s*(=|%3d)`)

// urlRE finds a URL anywhere in a source.
var urlRE = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.-]*://[^\s'"&|]*`)

// Decode reads where a layer's data source leads, provider by provider, as
// QGIS's providers read them: QgsDataSourceUri's key='value' form for the
// PostgreSQL, SpatiaLite and WFS families, a path with "|" options for OGR,
// a file:// URL for delimited text, an encoded query for WMS, XYZ, WCS and
// vector tiles. A provider osgs does not know is an error: nothing can say
// where it leads.
func Decode(provider, source string) (Reach, error) {
	var r Reach
	plain := source
	switch provider {
	case "postgres", "postgresraster", "spatialite":
		u := ParseURI(source)
		r.Conn = &u
		plain = strings.TrimSuffix(source, u.SQL) // a filter may name a column "user"
		if provider == "spatialite" {
			r.Paths = append(r.Paths, u.Keys["dbname"])
		}
	case "ogr", "gpx":
		p, _, _ := strings.Cut(source, "|")
		if provider == "gpx" {
			p, _, _ = strings.Cut(p, "?")
		}
		r.Paths = append(r.Paths, p)
	case "gdal", "mdal":
		r.Paths = append(r.Paths, rasterPath(source))
	case "delimitedtext":
		p, err := fileURL(source)
		if err != nil {
			return r, err
		}
		r.Paths = append(r.Paths, p)
	case "virtual":
		if err := virtualReach(source, &r); err != nil {
			return r, err
		}
	case "memory":
	case "wms", "wcs", "vectortile", "arcgismapserver", "wfs", "oapif", "arcgisfeatureserver", "WFS":
		if err := remoteReach(source, &r); err != nil {
			return r, err
		}
	default:
		return r, fmt.Errorf("provider %q is not one osgs publishes (it cannot tell where its source leads)", provider)
	}
	if m := credentialRE.FindStringSubmatch(plain); m != nil {
		r.Problems = append(r.Problems, fmt.Sprintf("its data source carries a credential (%s=); the server's layers use only its own service and roles", strings.ToLower(m[2])))
	}
	if provider != "delimitedtext" && len(r.URLs) == 0 {
		if u := urlRE.FindString(plain); u != "" {
			r.Problems = append(r.Problems, fmt.Sprintf("its data source names the URL %q, which a %s layer does not take", u, provider))
		}
	}
	return r, nil
}

// rasterPath is the file of a GDAL or MDAL source: a path, or
// DRIVER:"path":subdataset (GPKG:/x.gpkg:table, NETCDF:"/x.nc":var), whose
// path is checked as any other.
func rasterPath(s string) string {
	m := regexp.MustCompile(`^(GPKG|NETCDF|HDF5|HDF4_SDS|Ugrid|"?[A-Za-z0-9_]+"?):("?)(/[^"]*)`).FindStringSubmatch(s)
	if m == nil {
		return s
	}
	p := m[3]
	if m[2] == "" {
		if i := strings.LastIndex(p, ":"); i > 0 {
			p = p[:i]
		}
	}
	return p
}

// fileURL is the path of a delimited-text source, file:///abs?... or
// file:./rel?...; another scheme or a host is an error.
func fileURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("its source is not a URL QGIS reads: %v", err)
	}
	if u.Scheme != "file" || u.Host != "" {
		return "", fmt.Errorf("its source %q is not a local file:// URL", s)
	}
	if u.Opaque != "" {
		p, err := url.PathUnescape(u.Opaque)
		return p, err
	}
	return u.Path, nil
}

// virtualReach checks a virtual layer: layer_ref names a project layer
// (checked as itself); an embedded layer=provider:source:name:encoding is
// decoded as its own provider's source.
func virtualReach(s string, r *Reach) error {
	_, query, _ := strings.Cut(s, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return fmt.Errorf("its virtual layer definition is not a query QGIS reads: %v", err)
	}
	for _, def := range q["layer"] {
		parts := strings.Split(def, ":")
		if len(parts) < 2 {
			return fmt.Errorf("its virtual layer embeds %q, which names no provider", def)
		}
		src, err := url.QueryUnescape(parts[1])
		if err != nil {
			return err
		}
		inner, err := Decode(parts[0], src)
		if err != nil {
			return fmt.Errorf("its virtual layer embeds a layer where %v", err)
		}
		r.Paths = append(r.Paths, inner.Paths...)
		r.URLs = append(r.URLs, inner.URLs...)
		if inner.Conn != nil {
			r.Conn = inner.Conn
		}
	}
	return nil
}

// remoteReach reads the url of a remote provider, in either of the two
// forms QGIS writes (an encoded query, or key='value'); a local file
// (an MBTiles vector tile set) is a path.
func remoteReach(s string, r *Reach) error {
	var urls []string
	if q, err := url.ParseQuery(s); err == nil {
		urls = append(urls, q["url"]...)
		if q.Get("type") == "mbtiles" {
			r.Paths = append(r.Paths, strings.TrimPrefix(q.Get("url"), "file://"))
			return nil
		}
	}
	if u := ParseURI(s); u.Keys["url"] != "" {
		urls = append(urls, u.Keys["url"])
	}
	urls = append(urls, urlRE.FindAllString(s, -1)...)
	if len(urls) == 0 {
		return fmt.Errorf("its remote source names no url")
	}
	r.URLs = append(r.URLs, urls...)
	return nil
}
