// Package tools runs the GIS tools image (images/tools: GDAL, the PostGIS
// loaders, osm2pgsql, osmium) as a short-lived helper container on
// PostGIS's own network (no other service is on it), next to PostGIS.
//
// The helper reaches PostGIS over TLS with sslmode=verify-full against the
// server's own certificate, as the superuser, through the libpq service
// "osgs". Its password is in a 0600 pgpass file copied into the helper
// before anything runs: never in argv, the environment or a log. Data moves
// through the Engine API (a tar stream in, a tar stream out), so it works
// the same with a remote DOCKER_HOST, and nothing is staged on this host.
package tools

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/catalog"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/postgis"
)

// Image is the helper image's folder under images/.
const Image = "tools"

// Work is the helper's scratch folder, an anonymous volume removed with it.
const Work = "/work"

// Home is the helper user's home, which holds the libpq files.
const Home = "/home/osgs"

// UID is the helper user's uid and gid.
const UID = 1000

// ServerName is the name the helper knows PostGIS by: one of the names of
// the server's certificate (engine.DatabaseTLSNames, and the common name
// of the self-signed one of older clusters), so that verify-full holds.
const ServerName = "osgs-postgis"

// certPath is the server certificate inside the PostGIS container.
const certPath = "/var/lib/postgresql/data/pgdata/server.crt"

// Labels on helper containers: what they are and whose project.
const (
	HelperLabel  = "org.osgs.helper"
	ProjectLabel = engine.HelperProjectLabel
)

// Helper is one running tools container.
type Helper struct {
	e    *engine.Engine
	id   string
	user string
}

// Start builds the tools image if needed and starts a helper on the PostGIS
// container's network, with the connection files in place. Close removes it.
func Start(ctx context.Context, e *engine.Engine, env ...string) (*Helper, error) {
	pg, err := e.ContainerOf(ctx, postgis.Service)
	if err != nil {
		return nil, err
	}
	insp, err := e.Docker().ContainerInspect(ctx, pg, client.ContainerInspectOptions{})
	if err != nil {
		return nil, fmt.Errorf("inspect postgis: %w", err)
	}
	// The database's own network, which no other service is on; another
	// one of its networks only when it has no such network (a container
	// made before osgs segmented its networks).
	var netName, ip string
	for n, s := range insp.Container.NetworkSettings.Networks {
		if s != nil && s.IPAddress.IsValid() && (netName == "" || strings.HasSuffix(n, "_"+catalog.DatabaseNetwork)) {
			netName, ip = n, s.IPAddress.String()
		}
	}
	if netName == "" {
		return nil, errors.New("postgis has no network address: restart it with `mage postgis:up`")
	}
	cert, err := e.ReadFile(ctx, pg, certPath)
	if err != nil {
		return nil, fmt.Errorf("read the PostGIS server certificate: %w", err)
	}
	// The roots: the site's database authority, which signs the
	// certificate osgs gives PostGIS, and the server's own certificate, for
	// a cluster still serving the self-signed one its first start made.
	dbTLS, err := e.DatabaseTLS()
	if err != nil {
		return nil, err
	}
	cert = append(append(cert, '\n'), dbTLS.CA...)
	image, err := e.HelperImage(ctx, Image)
	if err != nil {
		return nil, err
	}
	s := postgis.Load(e)
	password := e.Env.Value(s.PasswordKey)
	if password == "" {
		return nil, fmt.Errorf("%s is not set in %s", s.PasswordKey, s.EnvPath)
	}
	res, err := e.Docker().ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: fmt.Sprintf("%s-tools-%d", e.ProjectName(), time.Now().UnixNano()),
		Config: &container.Config{
			Image:      image,
			Entrypoint: []string{"sleep", "infinity"},
			Env:        env,
			Labels:     map[string]string{HelperLabel: Image, ProjectLabel: e.ProjectName()},
		},
		HostConfig: &container.HostConfig{
			NetworkMode: container.NetworkMode(netName),
			ExtraHosts:  []string{ServerName + ":" + ip},
			Mounts:      []mount.Mount{{Type: mount.TypeVolume, Target: Work}},
		},
		NetworkingConfig: &network.NetworkingConfig{},
	})
	if err != nil {
		return nil, fmt.Errorf("create tools helper: %w", err)
	}
	h := &Helper{e: e, id: res.ID, user: fmt.Sprint(UID)}
	files := connectionFiles(s.User, password, cert)
	if _, err := e.Docker().CopyToContainer(ctx, h.id, client.CopyToContainerOptions{DestinationPath: "/", Content: files}); err != nil {
		h.Close()
		return nil, fmt.Errorf("tools helper: copy connection files: %w", err)
	}
	if _, err := e.Docker().ContainerStart(ctx, h.id, client.ContainerStartOptions{}); err != nil {
		h.Close()
		return nil, fmt.Errorf("start tools helper: %w", err)
	}
	return h, nil
}

// connectionFiles is a tar of the helper's libpq files: the service "osgs",
// the pgpass file (0600) and the server certificate as the root to trust.
func connectionFiles(user, password string, cert []byte) io.Reader {
	service := fmt.Sprintf("[osgs]\nhost=%s\nport=5432\nuser=%s\nsslmode=verify-full\nsslrootcert=%s/.postgresql/root.crt\napplication_name=osgs-tools\n", ServerName, user, Home)
	pgpass := fmt.Sprintf("%s:5432:*:%s:%s\n", ServerName, pgpassEscape(user), pgpassEscape(password))
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string) {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o700, Uid: UID, Gid: UID})
	}
	file := func(name string, mode int64, data []byte) {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Uid: UID, Gid: UID, Size: int64(len(data))})
		tw.Write(data)
	}
	dir("home/osgs/.postgresql/")
	file("home/osgs/.pg_service.conf", 0o600, []byte(service))
	file("home/osgs/.pgpass", 0o600, []byte(pgpass))
	file("home/osgs/.postgresql/root.crt", 0o600, cert)
	tw.Close()
	return &buf
}

// pgpassEscape escapes : and \ as libpq's password file wants.
func pgpassEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `:`, `\:`).Replace(s)
}

// Close removes the helper and its scratch volume, even after ctx ended.
func (h *Helper) Close() {
	_, _ = h.e.Docker().ContainerRemove(context.Background(), h.id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
}

// IP is the helper's address on PostGIS's network (for a test's own
// servers in a helper).
func (h *Helper) IP(ctx context.Context) (string, error) {
	insp, err := h.e.Docker().ContainerInspect(ctx, h.id, client.ContainerInspectOptions{})
	if err != nil {
		return "", err
	}
	for _, s := range insp.Container.NetworkSettings.Networks {
		if s != nil && s.IPAddress.IsValid() {
			return s.IPAddress.String(), nil
		}
	}
	return "", errors.New("the helper has no network address")
}

// Engine is the engine the helper runs on.
func (h *Helper) Engine() *engine.Engine { return h.e }

// ID is the helper's container ID.
func (h *Helper) ID() string { return h.id }

// Run runs argv in the helper as its user, streaming stdin (may be nil) and
// its output. A non-zero exit is an *engine.ExitError.
func (h *Helper) Run(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	return h.e.Exec(ctx, h.id, argv, engine.ExecOptions{User: h.user, Stdin: stdin, Stdout: stdout, Stderr: stderr})
}

// Output runs argv and returns its stdout; stderr goes into the error.
func (h *Helper) Output(ctx context.Context, argv ...string) ([]byte, error) {
	var out bytes.Buffer
	err := h.Run(ctx, argv, nil, &out, nil)
	return out.Bytes(), err
}

// Put streams a tar (as from Upload) into the scratch folder.
func (h *Helper) Put(ctx context.Context, tarStream io.Reader) error {
	_, err := h.e.Docker().CopyToContainer(ctx, h.id, client.CopyToContainerOptions{DestinationPath: Work, Content: tarStream})
	if err != nil {
		return fmt.Errorf("copy into the tools helper: %w", err)
	}
	return nil
}

// Get streams one file out of the helper's scratch folder into w, and
// returns its size.
func (h *Helper) Get(ctx context.Context, name string, w io.Writer) (int64, error) {
	res, err := h.e.Docker().CopyFromContainer(ctx, h.id, client.CopyFromContainerOptions{SourcePath: path.Join(Work, name)})
	if err != nil {
		return 0, fmt.Errorf("copy out of the tools helper: %w", err)
	}
	defer res.Content.Close()
	tr := tar.NewReader(res.Content)
	hdr, err := tr.Next()
	if err != nil {
		return 0, fmt.Errorf("copy out of the tools helper: %w", err)
	}
	if hdr.Typeflag != tar.TypeReg {
		return 0, fmt.Errorf("copy out of the tools helper: %s is not a file", name)
	}
	n, err := io.Copy(w, tr)
	if err == nil && n != hdr.Size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// Conninfo is the libpq connection string for db through the service.
func Conninfo(db string) string {
	return "service=osgs dbname=" + quoteConninfo(db)
}

func quoteConninfo(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// Psql is the argv of psql on db, stopping at the first error.
func Psql(db string, extra ...string) []string {
	return append([]string{"psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", Conninfo(db)}, extra...)
}

// Query runs one SQL text in db and returns its rows as tab-separated fields.
func (h *Helper) Query(ctx context.Context, db, sql string) ([][]string, error) {
	var out, errb bytes.Buffer
	err := h.Run(ctx, Psql(db, "-At", "-F", "\t", "-f", "-"), strings.NewReader(sql), &out, &errb)
	if err != nil {
		return nil, sqlError(err, errb.String())
	}
	var rows [][]string
	for _, l := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		if l != "" {
			rows = append(rows, strings.Split(l, "\t"))
		}
	}
	return rows, nil
}

// Exec runs SQL in db (all of it in one transaction).
func (h *Helper) Exec(ctx context.Context, db, sql string) error {
	var errb bytes.Buffer
	if err := h.Run(ctx, Psql(db, "-1", "-f", "-"), strings.NewReader(sql), nil, &errb); err != nil {
		return sqlError(err, errb.String())
	}
	return nil
}

// sqlError is psql's first ERROR line (with its DETAIL), or err.
func sqlError(err error, stderr string) error {
	lines := strings.Split(stderr, "\n")
	for n, l := range lines {
		if i := strings.Index(l, "ERROR:"); i >= 0 {
			msg := strings.TrimSpace(l[i+len("ERROR:"):])
			if n+1 < len(lines) {
				if d, ok := strings.CutPrefix(strings.TrimSpace(lines[n+1]), "DETAIL:"); ok {
					msg += " (" + strings.Join(strings.Fields(d), " ") + ")"
				}
			}
			return errors.New(msg)
		}
		if strings.Contains(l, "FATAL:") || strings.Contains(l, "could not connect") {
			return errors.New(strings.TrimSpace(l))
		}
	}
	return err
}
