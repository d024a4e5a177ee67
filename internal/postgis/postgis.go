// Package postgis holds what osgs does with the PostGIS service beyond the
// generic verbs: connection hints, database housekeeping and sizes.
package postgis

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/osgs/osgs/internal/config"
	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/site"
)

// Service is the catalog name of the PostGIS service.
const Service = "postgis"

// Socket is the server's Unix socket folder inside the container.
const Socket = "/var/run/postgresql"

// OSUser is the container user that the server's pg_ident maps to the superuser.
const OSUser = "postgres"

// Settings are the connection facts from .env.
type Settings struct {
	Host, Port, User string
	Databases        []string
	PasswordKey      string
	EnvPath          string
	// CA is the file of the authority that signs PostGIS's certificate
	// (config/postgis-tls/ca.crt): clients verify the server against it
	// (sslmode=verify-full). Empty: sslmode=require.
	CA string
}

// SSLParams are the libpq TLS parameters of a connection to s, as URI
// query parameters.
func (s Settings) SSLParams() string {
	if s.CA == "" {
		return "sslmode=require"
	}
	return "sslmode=verify-full&sslrootcert=" + url.QueryEscape(s.CA)
}

// Load reads the connection settings of e's PostGIS.
func Load(e *engine.Engine) Settings {
	v := func(k, def string) string {
		if s := e.Env.Value(k); s != "" {
			return s
		}
		return def
	}
	host := v("POSTGIS_BIND", "127.0.0.1")
	if host == "0.0.0.0" || host == "::" {
		host = v(config.KeyDomain, "localhost")
	}
	s := Settings{Host: host, Port: v("POSTGIS_PORT", "5432"), User: v("POSTGRES_USER", "osgs"), PasswordKey: "POSTGRES_PASSWORD", EnvPath: config.Path(e.Dir), CA: site.DatabaseCAPath(e.Dir)}
	for _, d := range strings.Split(v("POSTGRES_DBS", "gis"), ",") {
		if d = strings.TrimSpace(d); d != "" {
			s.Databases = append(s.Databases, d)
		}
	}
	return s
}

// DSN is a libpq URL without the password.
func (s Settings) DSN(db string) string {
	return fmt.Sprintf("postgresql://%s@%s/%s?%s", s.User, net.JoinHostPort(s.Host, s.Port), db, s.SSLParams())
}

// PrintHowToConnect tells the user how to connect, naming where the password
// is kept rather than printing it.
func PrintHowToConnect(w io.Writer, s Settings) {
	tw := tabwriter.NewWriter(w, 2, 4, 1, ' ', 0)
	fmt.Fprintln(tw, "PostGIS is up and healthy. Connect with:")
	fmt.Fprintf(tw, "  host\t%s\n", s.Host)
	fmt.Fprintf(tw, "  port\t%s\n", s.Port)
	fmt.Fprintf(tw, "  user\t%s\n", s.User)
	fmt.Fprintf(tw, "  databases\t%s\n", strings.Join(s.Databases, ", "))
	fmt.Fprintf(tw, "  password\t%s in %s (never printed)\n", s.PasswordKey, s.EnvPath)
	fmt.Fprintf(tw, "  TLS\trequired; verify the server with sslmode=verify-full sslrootcert=%s (localhost, 127.0.0.1 and %s are its names); plaintext connections are refused\n", s.CA, config.KeyDomain)
	tw.Flush()
	if len(s.Databases) > 0 {
		fmt.Fprintf(w, "  e.g. psql %q, or `go tool mage postgis:psql` for a shell inside the container\n", s.DSN(s.Databases[0]))
	}
}

// PrintSwarmHint is PrintHowToConnect for PostGIS running as a swarm task
// on its db node: a loopback bind is not published there.
func PrintSwarmHint(w io.Writer, s Settings) {
	fmt.Fprintln(w, "PostGIS is up and healthy on the swarm's db node: `go tool mage postgis:psql` opens a shell in it from here.")
	if s.Host == "127.0.0.1" || s.Host == "::1" || s.Host == "localhost" {
		fmt.Fprintln(w, "  Its port is not published (POSTGIS_BIND is loopback); set POSTGIS_BIND=0.0.0.0 to publish it on that node.")
		return
	}
	fmt.Fprintf(w, "  From outside: the db node's address, port %s, user %s, password %s in %s, sslmode=verify-full with sslrootcert=%s.\n", s.Port, s.User, s.PasswordKey, s.EnvPath, s.CA)
}

// EnsureDatabases creates each configured database that is missing, with the
// spatial extensions, inside the running container. Idempotent.
func EnsureDatabases(ctx context.Context, e *engine.Engine) error {
	_, err := e.Output(ctx, Service, OSUser, "osgs-postgis-entrypoint", "ensure-databases")
	if err != nil {
		return fmt.Errorf("ensure databases: %w", err)
	}
	return nil
}

// AfterUp runs once PostGIS is healthy.
func AfterUp(ctx context.Context, e *engine.Engine) error {
	if err := EnsureDatabases(ctx, e); err != nil {
		return err
	}
	if id, err := e.ContainerOf(ctx, Service); err == nil && e.Routed(id) {
		PrintSwarmHint(e.Out, Load(e))
	} else {
		PrintHowToConnect(e.Out, Load(e))
	}
	return nil
}

// PsqlArgs is the argv for psql over the container's socket as the superuser.
func PsqlArgs(s Settings, db string, extra ...string) []string {
	return append([]string{"psql", "-X", "-h", Socket, "-U", s.User, "-d", db}, extra...)
}

// Query runs one SQL statement in db and returns its rows as tab-separated fields.
func Query(ctx context.Context, e *engine.Engine, db, sql string) ([][]string, error) {
	out, err := e.Output(ctx, Service, OSUser, PsqlArgs(Load(e), db, "-v", "ON_ERROR_STOP=1", "-qAt", "-F", "\t", "-c", sql)...)
	if err != nil {
		return nil, err
	}
	var rows [][]string
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if l != "" {
			rows = append(rows, strings.Split(l, "\t"))
		}
	}
	return rows, nil
}

// DatabaseSize is one row of Sizes.
type DatabaseSize struct {
	Name  string
	Bytes int64
}

// Sizes lists the databases (templates excluded), largest first.
func Sizes(ctx context.Context, e *engine.Engine) ([]DatabaseSize, error) {
	rows, err := Query(ctx, e, "postgres",
		"SELECT datname, pg_database_size(datname) FROM pg_database WHERE NOT datistemplate ORDER BY 2 DESC, 1")
	if err != nil {
		return nil, err
	}
	out := make([]DatabaseSize, 0, len(rows))
	for _, r := range rows {
		if len(r) != 2 {
			return nil, fmt.Errorf("unexpected psql output")
		}
		n, err := strconv.ParseInt(r[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("unexpected size %q for %s", r[1], r[0])
		}
		out = append(out, DatabaseSize{Name: r[0], Bytes: n})
	}
	return out, nil
}

// PrintSizes writes a table of database sizes.
func PrintSizes(w io.Writer, sizes []DatabaseSize) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "DATABASE\tSIZE\tBYTES\t")
	for _, s := range sizes {
		fmt.Fprintf(tw, "%s\t%s\t%d\t\n", s.Name, HumanBytes(s.Bytes), s.Bytes)
	}
	tw.Flush()
}

// HumanBytes formats n with binary units.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
