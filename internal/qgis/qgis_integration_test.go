package qgis_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/qgis"
	"github.com/osgs/osgs/internal/testenv"
)

// project writes a QGIS 3.22 project, made from testdata/places.qgs (one
// PostGIS point layer drawn as red circles), with its layer renamed and its
// data source replaced.
func project(t *testing.T, file, layer, source string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/places.qgs")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	const src = `service='osgs' key='id' srid=4326 type=Point checkPrimaryKeyUnicity='1' table="public"."places" (geom)`
	esc := strings.NewReplacer(`"`, "&quot;").Replace
	s = strings.ReplaceAll(s, esc(src), esc(source))
	s = strings.ReplaceAll(s, src, source)
	s = strings.ReplaceAll(s, "<layername>places</layername>", "<layername>"+layer+"</layername>")
	s = strings.ReplaceAll(s, `name="places"`, `name="`+layer+`"`)
	// Published for WFS (hence OGC API Features) and WMTS (PNG), as QGIS
	// Desktop's project properties write it.
	const id = "places_b347d0c8_58f5_45a0_9826_f8782c29e6d6"
	s = strings.Replace(s, "<properties>", `<properties>
    <WFSLayers type="QStringList"><value>`+id+`</value></WFSLayers>
    <WMTSLayers><Layer type="QStringList"><value>`+id+`</value></Layer><Project type="bool">false</Project></WMTSLayers>
    <WMTSPngLayers><Layer type="QStringList"><value>`+id+`</value></Layer><Project type="bool">false</Project></WMTSPngLayers>`, 1)
	p := filepath.Join(t.TempDir(), file)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPublish publishes projects through QGIS Server itself: a valid one is
// served (GetMap draws the PostGIS layer, OGC API Features returns exactly
// the table's features, qgis:projects lists it); a broken one is refused,
// naming the layer, with the old version still served and nothing left
// behind; unpublish removes it. The desktop service file logs in as
// qgis_server with the same service names.
func TestPublish(t *testing.T) {
	ctx, c, e := testenv.Start(t, 20*time.Minute, nil, "nginx", "postgis", "qgis-server")
	if _, err := postgis.Query(ctx, e, "gis", `CREATE TABLE public.places (id serial PRIMARY KEY, name text, geom geometry(Point, 4326));
		INSERT INTO public.places (name, geom) SELECT 'p' || g, ST_SetSRID(ST_MakePoint(g % 10 - 5 + 0.25, g / 10 - 5 + 0.5), 4326) FROM generate_series(0, 99) g;
		CREATE SCHEMA private; CREATE TABLE private.sites (id serial PRIMARY KEY, geom geometry(Point, 4326))`); err != nil {
		t.Fatal(err)
	}
	s := c.Site(t, e)
	base := s.Base()

	good := project(t, "places.qgs", "places", `service='osgs' key='id' srid=4326 type=Point checkPrimaryKeyUnicity='1' table="public"."places" (geom)`)
	info, err := qgis.Publish(ctx, e, qgis.PublishOptions{File: good})
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "places" || info.URLs.OGC != base+"/ogc/places" || info.URLs.Features != base+"/ogc/places/wfs3/" {
		t.Fatalf("published %+v", info)
	}
	getMap := "/ogc/places?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=places&STYLES=&CRS=EPSG:4326&BBOX=-10,-10,10,10&WIDTH=200&HEIGHT=200&FORMAT=image/png&TRANSPARENT=true"
	served := func() {
		t.Helper()
		code, body := s.Get(getMap)
		if code != 200 {
			t.Fatalf("GetMap: %d %.300s", code, body)
		}
		if n := testenv.RedPixels(t, body); n < 100 {
			t.Fatalf("GetMap drew %d red pixels; the PostGIS points are missing", n)
		}
	}
	served()

	t.Run("OGC API Features", func(t *testing.T) {
		code, body := s.Get("/ogc/places/wfs3/collections/places/items.json?limit=1000")
		if code != 200 {
			t.Fatalf("items: %d %.500s", code, body)
		}
		var fc struct {
			Features []struct {
				ID       any `json:"id"`
				Geometry struct {
					Type        string    `json:"type"`
					Coordinates []float64 `json:"coordinates"`
				} `json:"geometry"`
				Properties map[string]any `json:"properties"`
			} `json:"features"`
			Links []struct {
				Href string `json:"href"`
			} `json:"links"`
		}
		if err := json.Unmarshal(body, &fc); err != nil {
			t.Fatalf("%v: %.300s", err, body)
		}
		if len(fc.Features) != 100 {
			t.Fatalf("%d features, the table has 100", len(fc.Features))
		}
		rows, err := postgis.Query(ctx, e, "gis", `SELECT name, ST_X(geom), ST_Y(geom) FROM public.places`)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][2]string{}
		for _, r := range rows {
			want[r[0]] = [2]string{r[1], r[2]}
		}
		for _, f := range fc.Features {
			w, ok := want[fmt.Sprint(f.Properties["name"])]
			if !ok || f.Geometry.Type != "Point" || len(f.Geometry.Coordinates) != 2 ||
				math.Abs(f.Geometry.Coordinates[0]-atof(w[0])) > 1e-7 || math.Abs(f.Geometry.Coordinates[1]-atof(w[1])) > 1e-7 {
				t.Fatalf("feature %v at %v, the table has %v", f.Properties["name"], f.Geometry.Coordinates, w)
			}
		}
		if len(fc.Links) == 0 {
			t.Error("items without links")
		}
		for _, l := range fc.Links {
			if !strings.HasPrefix(l.Href, base+"/ogc/places/wfs3") {
				t.Errorf("link %s is not under the public %s/ogc/places/wfs3", l.Href, base)
			}
		}
		if code, body := s.Get("/ogc/places/wfs3"); code != 200 || !strings.Contains(string(body), base+"/ogc/places/wfs3") {
			t.Errorf("OGC API landing page: %d %.300s", code, body)
		}
	})

	t.Run("WMTS", func(t *testing.T) {
		code, body := s.Get("/ogc/places?SERVICE=WMTS&REQUEST=GetCapabilities")
		if code != 200 || !strings.Contains(string(body), "<ows:Identifier>places</ows:Identifier>") || !strings.Contains(string(body), `xlink:href="`+base+`/ogc/places?"`) {
			t.Fatalf("WMTS capabilities: %d %.800s", code, body)
		}
		code, body = s.Get("/ogc/places?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=places&STYLE=&TILEMATRIXSET=EPSG:3857&TILEMATRIX=3&TILEROW=3&TILECOL=3&FORMAT=image/png")
		if code != 200 || testenv.RedPixels(t, body) == 0 {
			t.Fatalf("WMTS tile 3/3/3 (holds the points around 0,0): %d, %d red pixels", code, testenv.RedPixels(t, body))
		}
	})

	t.Run("landing page", func(t *testing.T) {
		var lp struct {
			Links []struct {
				Href string `json:"href"`
			} `json:"links"`
			Projects []struct {
				ID string `json:"id"`
			} `json:"projects"`
		}
		code, body := s.Get("/ogc/index.json")
		if code != 200 || json.Unmarshal(body, &lp) != nil || len(lp.Projects) != 1 || len(lp.Links) == 0 || lp.Links[0].Href != base+"/ogc/index.json" {
			t.Fatalf("landing page: %d %.500s", code, body)
		}
		code, body = s.Get("/ogc/project/" + lp.Projects[0].ID + "/?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=places&STYLES=&CRS=EPSG:4326&BBOX=-10,-10,10,10&WIDTH=200&HEIGHT=200&FORMAT=image/png")
		if code != 200 || testenv.RedPixels(t, body) < 100 {
			t.Fatalf("the landing page's WMS of the project: %d", code)
		}
		if code, _ := s.Get("/ogc/map/" + lp.Projects[0].ID); code != 200 {
			t.Errorf("the landing page's map: %d", code)
		}
	})

	t.Run("broken projects are refused and change nothing", func(t *testing.T) {
		for _, c := range []struct {
			name, layer, source, want string
		}{
			{"missing table", "roads", `service='osgs' key='id' srid=4326 type=Point table="public"."nope" (geom)`, `layer "roads": not valid in QGIS Server`},
			{"wrong service", "rivers", `service='prod' key='id' srid=4326 type=Point table="public"."places" (geom)`, `layer "rivers": service "prod" is not one osgs provides`},
			{"own credentials", "lakes", `service='osgs' user='osgs' password='x' key='id' table="public"."places" (geom)`, `layer "lakes": its data source sets user=`},
			{"a table the role may not read", "secret", `service='osgs' key='id' srid=4326 type=Point table="private"."sites" (geom)`, `layer "secret": not valid`},
		} {
			t.Run(c.name, func(t *testing.T) {
				_, err := qgis.Publish(ctx, e, qgis.PublishOptions{File: project(t, "places.qgs", c.layer, c.source)})
				if !errors.Is(err, qgis.ErrRefused) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("got %v, want a one-line refusal with %q", err, c.want)
				}
				served() // the old version
				out, err := e.Output(ctx, qgis.Service, "", "ls", "-A", "/io/data/places")
				if err != nil || strings.TrimSpace(string(out)) != "places.qgz" {
					t.Fatalf("the project folder holds %q (%v)", out, err)
				}
			})
		}
		// A new name that fails leaves no folder.
		if _, err := qgis.Publish(ctx, e, qgis.PublishOptions{File: project(t, "roads.qgs", "roads", `service='osgs' key='id' table="public"."nope" (geom)`)}); !errors.Is(err, qgis.ErrRefused) {
			t.Fatal(err)
		}
		if out, _ := e.Output(ctx, qgis.Service, "", "ls", "-A", "/io/data", "/io/data/.osgs-catalog"); !strings.Contains(string(out), "/io/data:\n.osgs-catalog\nplaces\n\n") || !strings.HasSuffix(string(out), "catalog:\nplaces.qgz\n") {
			t.Fatalf("/io/data holds %q", out)
		}
	})

	t.Run("a client cannot pick another project file", func(t *testing.T) {
		for _, q := range []string{"MAP=/io/data/places/places.qgz", "map=/etc/passwd", "%4DAP=/x", "M%41P=/x", "x=1&Map=/x"} {
			if code, _ := s.Get("/ogc/places?SERVICE=WMS&REQUEST=GetCapabilities&" + q); code != 400 {
				t.Errorf("%s: %d, want 400", q, code)
			}
		}
		if code, _ := s.Get("/ogc/places?SERVICE=WMS&REQUEST=GetCapabilities&MAPX=1&BASEMAP=1"); code != 200 {
			t.Errorf("other parameters: %d", code)
		}
		req, _ := http.NewRequest(http.MethodPost, "https://127.0.0.1:"+s.Port+"/ogc/places", strings.NewReader("SERVICE=WMS&REQUEST=GetCapabilities&MAP=/etc/passwd"))
		req.Host = "localhost:" + s.Port
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := s.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 415 {
			t.Errorf("a form POST: %d, want 415", res.StatusCode)
		}
	})

	t.Run("hostile projects are refused and change nothing", func(t *testing.T) {
		hostile(t, ctx, e, served)
	})

	t.Run("a file layer in the project's own folder is served", func(t *testing.T) {
		if _, err := e.Output(ctx, qgis.Service, "", "sh", "-c", "mkdir -p /io/data/pts && printf 'id,name,x,y\\n1,a,1.5,2.5\\n2,b,-3,4\\n' > /io/data/pts/pts.csv"); err != nil {
			t.Fatal(err)
		}
		p := project(t, "pts.qgs", "pts", `file:./pts.csv?type=csv&amp;xField=x&amp;yField=y&amp;crs=EPSG:4326&amp;spatialIndex=no&amp;subsetIndex=no&amp;watchFile=no`)
		b, _ := os.ReadFile(p)
		os.WriteFile(p, []byte(strings.Replace(string(b), `<provider encoding="">postgres</provider>`, `<provider encoding="">delimitedtext</provider>`, 1)), 0o644)
		if _, err := qgis.Publish(ctx, e, qgis.PublishOptions{File: p}); err != nil {
			t.Fatal(err)
		}
		code, body := s.Get("/ogc/pts?SERVICE=WFS&VERSION=1.1.0&REQUEST=GetFeature&TYPENAME=pts&OUTPUTFORMAT=application/json")
		if code != 200 || !strings.Contains(string(body), `"name": "a"`) && !strings.Contains(string(body), `"name":"a"`) || !strings.Contains(string(body), "-3") {
			t.Fatalf("GetFeature of the CSV layer: %d %.500s", code, body)
		}
		if err := qgis.Unpublish(ctx, e, "pts", true); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a project from a newer QGIS is refused unless forced", func(t *testing.T) {
		id, err := e.ContainerOf(ctx, qgis.Service)
		if err != nil {
			t.Fatal(err)
		}
		server, err := qgis.ServerVersion(ctx, e, id)
		if err != nil || server.Major != 3 {
			t.Fatalf("server version %v, %v", server, err)
		}
		newer := fmt.Sprintf("%d.%d.0-Future", server.Major, server.Minor+2)
		b, err := os.ReadFile(good)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "future.qgs")
		text := regexp.MustCompile(`version="[^"]*"`).ReplaceAllString(string(b), `version="`+newer+`"`)
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err = qgis.Publish(ctx, e, qgis.PublishOptions{File: file})
		if !errors.Is(err, qgis.ErrRefused) || !strings.Contains(err.Error(), "saved by QGIS "+newer+", newer than QGIS Server "+server.String()) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("got %v, want a one-line refusal naming both versions", err)
		}
		if out, _ := e.Output(ctx, qgis.Service, "", "ls", "-A", "/io/data"); strings.Contains(string(out), "future") {
			t.Fatalf("a refused project left %q", out)
		}
		if _, err := qgis.Publish(ctx, e, qgis.PublishOptions{File: file, Force: true}); err != nil {
			t.Fatalf("-force: %v", err)
		}
		infos, err := qgis.Projects(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		var listed bytes.Buffer
		qgis.PrintProjects(&listed, infos)
		if !strings.Contains(listed.String(), newer) || !strings.Contains(listed.String(), "3.22.16-Bia") {
			t.Errorf("qgis:projects does not show each project's QGIS version:\n%s", listed.String())
		}
		if err := qgis.Unpublish(ctx, e, "future", true); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("projects and unpublish", func(t *testing.T) {
		infos, err := qgis.Projects(ctx, e)
		if err != nil || len(infos) != 1 || infos[0].Name != "places" || len(infos[0].Project.Layers) != 1 || infos[0].Project.Layers[0].Name != "places" {
			t.Fatalf("projects %+v %v", infos, err)
		}
		var b bytes.Buffer
		qgis.PrintProjects(&b, infos)
		if !strings.Contains(b.String(), base+"/ogc/places/wfs3/") {
			t.Errorf("%s", b.String())
		}
		var confirm *engine.ConfirmError
		if err := qgis.Unpublish(ctx, e, "places", false); !errors.As(err, &confirm) {
			t.Fatalf("unpublish without -yes: %v", err)
		}
		served()
		if err := qgis.Unpublish(ctx, e, "nope", true); !errors.Is(err, qgis.ErrRefused) {
			t.Fatalf("unpublish of an unknown project: %v", err)
		}
		if err := qgis.Unpublish(ctx, e, "places", true); err != nil {
			t.Fatal(err)
		}
		if code, _ := s.Get(getMap); code == 200 {
			t.Fatal("an unpublished project is still served")
		}
		if infos, err := qgis.Projects(ctx, e); err != nil || len(infos) != 0 {
			t.Fatalf("projects after unpublish: %+v %v", infos, err)
		}
		if code, body := s.Get("/ogc/index.json"); code != 200 || !strings.Contains(string(body), `"projects":[]`) {
			t.Fatalf("the landing page after unpublish: %d %.300s", code, body)
		}
	})

	t.Run("service file for QGIS Desktop", func(t *testing.T) {
		path, err := qgis.WriteServiceFile(c.Dir, e.Catalog, e.Env.Map(), postgis.Load(e), qgis.ServiceFileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", path, fi, err)
		}
		conn, err := pgx.Connect(ctx, "service=osgs servicefile="+path)
		if err != nil {
			t.Fatalf("connect with the service file: %v", err)
		}
		defer conn.Close(ctx)
		var user string
		var n int
		if err := conn.QueryRow(ctx, "SELECT current_user, (SELECT count(*) FROM public.places)").Scan(&user, &n); err != nil || user != "qgis_server" || n != 100 {
			t.Fatalf("as %s: %d rows, %v", user, n, err)
		}
		if _, err := conn.Exec(ctx, "DELETE FROM public.places"); err == nil {
			t.Fatal("the desktop role can delete")
		}
	})
}

func atof(s string) float64 {
	var f float64
	fmt.Sscan(s, &f)
	return f
}

// qgz packs files (name, content) as a .qgz, in order.
func qgz(t *testing.T, files ...[2]string) string {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range files {
		w, err := zw.Create(f[0])
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(f[1]))
	}
	zw.Close()
	p := filepath.Join(t.TempDir(), "places.qgz")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// hostile publishes what a red team sent: archives that unpack outside
// QGIS's scratch folder or hide a second project, credentials in every
// spelling QGIS reads, files outside the project's folder by path, URL,
// GDAL virtual file system or symbolic link. Each is refused in one line;
// the published project, its folder and the server's file system stay as
// they were.
func hostile(t *testing.T, ctx context.Context, e *engine.Engine, served func()) {
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	good := read(project(t, "t.qgs", "places", `service='osgs' key='id' srid=4326 type=Point checkPrimaryKeyUnicity='1' table="public"."places" (geom)`))
	evil := read(project(t, "evil.qgs", "places", `service='osgs' user='osgs' key='id' table="public"."places" (geom)`))
	before, err := e.Output(ctx, qgis.Service, "", "sha256sum", "/io/data/places/places.qgz")
	if err != nil {
		t.Fatal(err)
	}
	// A layer's file is a link out of the project's folder.
	if _, err := e.Output(ctx, qgis.Service, "", "sh", "-c", "mkdir -p /io/data/linked && ln -sfn /etc/postgresql-common/pg_service.conf /io/data/linked/pts.csv"); err != nil {
		t.Fatal(err)
	}
	wfs := func(file, source, provider string) string {
		p := project(t, file, "leak", source)
		s := strings.Replace(read(p), `<provider encoding="">postgres</provider>`, `<provider encoding="">`+provider+`</provider>`, 1)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct{ name, file, want string }{
		{"an entry up and out of the scratch folder", qgz(t, [2]string{"places.qgs", good}, [2]string{"../../../../../../io/data/places/places.qgz", "x"}), "not a plain file name"},
		{"an absolute entry", qgz(t, [2]string{"places.qgs", good}, [2]string{"/tmp/osgs-hostile.txt", "x"}), "not a plain file name"},
		{"a nested project first", qgz(t, [2]string{"sub/evil.qgs", evil}, [2]string{"places.qgs", good}), "not a plain file name"},
		{"two projects", qgz(t, [2]string{"a.qgs", evil}, [2]string{"places.qgs", good}), "want exactly one"},
		{"credentials with blanks", project(t, "places.qgs", "places", `service='osgs' user = 'osgs' password = 'x' key='id' table="public"."places" (geom)`), "sets user="},
		{"username in double quotes", project(t, "places.qgs", "places", "service='osgs'\tusername=\"osgs\" key='id' table=\"public\".\"places\" (geom)"), "sets user="},
		{"authcfg", project(t, "places.qgs", "places", `service='osgs' authcfg=ab12cd3 key='id' table="public"."places" (geom)`), "sets authcfg="},
		{"the service file as delimited text", wfs("places.qgs", `file:///etc/postgresql-common/pg_service.conf?type=csv&amp;delimiter=%3D&amp;detectTypes=no&amp;geomType=none`, "delimitedtext"), "outside the project's folder"},
		{"/etc/passwd through OGR", wfs("places.qgs", `/etc/passwd`, "ogr"), "outside the project's folder"},
		{"a GDAL virtual file system", wfs("places.qgs", `/vsicurl/http://127.0.0.1:9/x.geojson`, "ogr"), "GDAL virtual file system"},
		{"a PG: connection through OGR", wfs("places.qgs", `PG:dbname=gis user=osgs|layername=places`, "ogr"), "not a file path"},
		{"a relative path from the working folder", wfs("places.qgs", `etc/passwd`, "ogr"), "relative path"},
		{"a provider osgs does not know", wfs("places.qgs", `/x`, "grass"), `provider "grass"`},
		{"a remote layer", wfs("places.qgs", `type=xyz&amp;url=https://127.0.0.1:9/%7Bz%7D/%7Bx%7D/%7By%7D.png`, "wms"), "remote host"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := qgis.Publish(ctx, e, qgis.PublishOptions{File: c.file, Name: "places"})
			if !errors.Is(err, qgis.ErrRefused) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want a one-line refusal with %q", err, c.want)
			}
		})
	}
	t.Run("a layer's file links out of the project's folder", func(t *testing.T) {
		_, err := qgis.Publish(ctx, e, qgis.PublishOptions{File: wfs("linked.qgs", `file:./pts.csv?type=csv&amp;delimiter=%3D&amp;geomType=none`, "delimitedtext")})
		if !errors.Is(err, qgis.ErrRefused) || !strings.Contains(err.Error(), "symbolic link to /etc/postgresql-common/pg_service.conf") {
			t.Fatalf("got %v", err)
		}
	})
	served()
	after, err := e.Output(ctx, qgis.Service, "", "sh", "-c", "sha256sum /io/data/places/places.qgz; ls -A /io/data/places; ls /tmp /io/svg")
	if err != nil || !strings.HasPrefix(string(after), string(before)) || strings.Contains(string(after), "osgs-hostile") || strings.Count(string(after), ".qgz") != 2 {
		t.Fatalf("after the refusals: %q (before %q) %v", after, before, err)
	}
	if _, err := e.Output(ctx, qgis.Service, "", "rm", "-rf", "/io/data/linked"); err != nil {
		t.Fatal(err)
	}
}
