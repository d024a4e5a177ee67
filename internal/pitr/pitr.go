package pitr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/docker/compose/v5/pkg/api"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/osgs/osgs/internal/engine"
	"github.com/osgs/osgs/internal/postgis"
	"github.com/osgs/osgs/internal/remote"
)

// Settings (services/postgis/compose.yaml declares them).
const (
	EnabledKey   = "POSTGIS_PITR"
	RetentionKey = "PITR_RETENTION_FULL"
	CipherKey    = "PITR_CIPHER_PASS"
)

// Paths inside the PostGIS image.
const (
	repo2Conf = "/etc/pgbackrest/conf.d/repo2.conf"
	repo2CA   = "/etc/pgbackrest/repo2-ca.pem"
	dataMount = "/var/lib/postgresql/data"
	walMount  = "/var/lib/pgbackrest"
	walVolume = "postgis-wal"
	dataVol   = "postgis-data"
	// postgresUID is the postgres user of Debian's postgresql-common.
	postgresUID = 100
	postgresGID = 102
)

// Enabled reports whether WAL archiving is on (the default).
func Enabled(e *engine.Engine) bool { return !strings.EqualFold(e.Env.Value(EnabledKey), "off") }

// ErrOff reports a PITR verb with POSTGIS_PITR=off.
var ErrOff = errors.New("point-in-time recovery is off (POSTGIS_PITR=off in .env)")

func pgbackrest(ctx context.Context, e *engine.Engine, args ...string) ([]byte, error) {
	out, err := e.Output(ctx, postgis.Service, postgis.OSUser, append([]string{"pgbackrest", "--stanza=" + Stanza}, args...)...)
	if err != nil {
		return out, fmt.Errorf("pgbackrest %s: %w", args[0], err)
	}
	return out, nil
}

// Setup is PostGIS's after-up step: it writes repository 2's settings
// (or removes them), creates the stanza in every repository, and takes the
// first full backup when a repository has none, so that recovery works
// from the first day.
func Setup(ctx context.Context, e *engine.Engine) error {
	if !Enabled(e) {
		return nil
	}
	repos, err := configureRepo2(ctx, e)
	if err != nil {
		return err
	}
	if _, err := pgbackrest(ctx, e, "stanza-create"); err != nil {
		return err
	}
	in, err := info(ctx, e)
	if err != nil {
		return err
	}
	for r := 1; r <= repos; r++ {
		if countBackups(in, r) == 0 {
			fmt.Fprintf(e.Err, "osgs: pgBackRest: first full base backup in repository %d\n", r)
			if _, err := pgbackrest(ctx, e, "--repo="+strconv.Itoa(r), "--type=full", "backup"); err != nil {
				return err
			}
		}
	}
	return nil
}

func countBackups(in *Info, repo int) int {
	n := 0
	for _, b := range in.Backups {
		if b.Repo == repo {
			n++
		}
	}
	return n
}

// repo2Settings renders repository 2 for the default destination when it
// is s3://, reachable from the container. It returns "" when there is no
// repository 2 (and why, for a notice).
func repo2Settings(ctx context.Context, e *engine.Engine) (conf string, ca []byte, why string, err error) {
	lookup := e.Setting
	raw := lookup(remote.RemoteKey)
	if raw == "" {
		return "", nil, "", nil
	}
	if !strings.HasPrefix(raw, "s3://") {
		return "", nil, "repository 2 needs an s3:// BACKUP_REMOTE (pgBackRest 2.45 has no SFTP or plain-http repository)", nil
	}
	c := remote.Config{Name: remote.DefaultName, Dir: e.Dir, Lookup: lookup}
	t, err := remote.ResolveS3(raw, c)
	if err != nil {
		return "", nil, "", fmt.Errorf("repository 2: %w", err)
	}
	if t.Host == "localhost" || strings.HasPrefix(t.Host, "127.") || t.Host == "::1" {
		return "", nil, "repository 2: " + t.Host + " is this host's loopback, which the PostGIS container cannot reach", nil
	}
	pass := e.Env.Value(CipherKey)
	if pass == "" {
		return "", nil, "", fmt.Errorf("repository 2: %s is empty (it is generated with .env; run stack:up once)", CipherKey)
	}
	// pgBackRest does not make buckets: the destination's own client does.
	s, err := remote.Open(ctx, raw, c)
	if err != nil {
		return "", nil, "", fmt.Errorf("repository 2: %w", err)
	}
	s.Close()
	retention := e.Env.Value(RetentionKey)
	if retention == "" {
		retention = "2"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# written by osgs from BACKUP_REMOTE; it holds credentials (mode 0600)\n[global]\n")
	fmt.Fprintf(&b, "repo2-type=s3\nrepo2-s3-endpoint=%s\nrepo2-s3-bucket=%s\nrepo2-s3-region=%s\nrepo2-s3-uri-style=path\n", t.Host, t.Bucket, t.Region)
	if t.Port != "" {
		fmt.Fprintf(&b, "repo2-storage-port=%s\n", t.Port)
	}
	fmt.Fprintf(&b, "repo2-path=/%spgbackrest\nrepo2-retention-full=%s\nrepo2-retention-full-type=count\n", t.Prefix, retention)
	fmt.Fprintf(&b, "repo2-cipher-type=aes-256-cbc\nrepo2-cipher-pass=%s\nrepo2-s3-key=%s\nrepo2-s3-key-secret=%s\n", pass, t.Key, t.Secret)
	if t.CAFile != "" {
		if ca, err = os.ReadFile(t.CAFile); err != nil {
			return "", nil, "", fmt.Errorf("repository 2: %w", err)
		}
		fmt.Fprintf(&b, "repo2-storage-ca-file=%s\n", repo2CA)
	}
	return b.String(), ca, "", nil
}

// configureRepo2 writes (or removes) repository 2's settings in the
// running container and returns how many repositories there are.
func configureRepo2(ctx context.Context, e *engine.Engine) (int, error) {
	id, err := e.ContainerOf(ctx, postgis.Service)
	if err != nil {
		return 0, err
	}
	conf, ca, why, err := repo2Settings(ctx, e)
	if err != nil {
		return 0, err
	}
	if why != "" {
		fmt.Fprintln(e.Err, "osgs: pgBackRest:", why)
	}
	if conf == "" {
		_, _ = e.Output(ctx, postgis.Service, postgis.OSUser, "rm", "-f", repo2Conf, repo2CA)
		return 1, nil
	}
	if err := writeRepo2(ctx, e, id, conf, ca); err != nil {
		return 0, err
	}
	return 2, nil
}

func writeRepo2(ctx context.Context, e *engine.Engine, id, conf string, ca []byte) error {
	if ca != nil {
		if err := e.WriteFile(ctx, id, repo2CA, ca, 0o600, postgresUID, postgresGID); err != nil {
			return err
		}
	}
	return e.WriteFile(ctx, id, repo2Conf, []byte(conf), 0o600, postgresUID, postgresGID)
}

func info(ctx context.Context, e *engine.Engine) (*Info, error) {
	out, err := pgbackrest(ctx, e, "--output=json", "info")
	if err != nil {
		return nil, err
	}
	return ParseInfo(out)
}

// Basebackup takes a base backup in every repository: typ is full, diff,
// incr, or auto (full when the newest full backup is a week old or there
// is none, else diff).
func Basebackup(ctx context.Context, e *engine.Engine, typ string) error {
	if !Enabled(e) {
		return ErrOff
	}
	repos, err := configureRepo2(ctx, e)
	if err != nil {
		return err
	}
	in, err := info(ctx, e)
	if err != nil {
		return err
	}
	for r := 1; r <= repos; r++ {
		t := typ
		if t == "" || t == "auto" {
			t = "full"
			for _, b := range in.Backups {
				if b.Repo == r && b.Type == "full" && time.Since(b.Stop) < 7*24*time.Hour {
					t = "diff"
				}
			}
		}
		if t != "full" && t != "diff" && t != "incr" {
			return fmt.Errorf("-type=%q: want full, diff, incr or auto: %w", typ, engine.ErrModel)
		}
		fmt.Fprintf(e.Err, "osgs: pgBackRest: %s base backup in repository %d\n", t, r)
		if _, err := pgbackrest(ctx, e, "--repo="+strconv.Itoa(r), "--type="+t, "backup"); err != nil {
			return err
		}
	}
	return nil
}

// Archiver is PostgreSQL's pg_stat_archiver.
type Archiver struct {
	Archived     int64
	LastWAL      string
	LastTime     time.Time
	Failed       int64
	LastFailed   string
	LastFailTime time.Time
}

func archiver(ctx context.Context, e *engine.Engine) (*Archiver, error) {
	rows, err := postgis.Query(ctx, e, "postgres", `SELECT archived_count, coalesce(last_archived_wal, ''),
	  coalesce(extract(epoch FROM last_archived_time)::bigint, 0), failed_count, coalesce(last_failed_wal, ''),
	  coalesce(extract(epoch FROM last_failed_time)::bigint, 0) FROM pg_stat_archiver`)
	if err != nil {
		return nil, err
	}
	if len(rows) != 1 || len(rows[0]) != 6 {
		return nil, errors.New("pg_stat_archiver: unexpected answer")
	}
	r := rows[0]
	n := func(s string) int64 { v, _ := strconv.ParseInt(s, 10, 64); return v }
	ts := func(s string) time.Time {
		if v := n(s); v > 0 {
			return time.Unix(v, 0).UTC()
		}
		return time.Time{}
	}
	return &Archiver{Archived: n(r[0]), LastWAL: r[1], LastTime: ts(r[2]), Failed: n(r[3]), LastFailed: r[4], LastFailTime: ts(r[5])}, nil
}

// flush closes the current WAL segment and waits until it is archived, so
// that the archive reaches the present. It returns the archiver's state.
func flush(ctx context.Context, e *engine.Engine) (*Archiver, error) {
	rows, err := postgis.Query(ctx, e, "postgres", "SELECT pg_walfile_name(pg_switch_wal())")
	if err != nil {
		return nil, err
	}
	if len(rows) != 1 {
		return nil, errors.New("pg_switch_wal: no answer")
	}
	seg := rows[0][0]
	deadline := time.Now().Add(90 * time.Second)
	for {
		a, err := archiver(ctx, e)
		if err != nil {
			return nil, err
		}
		if a.LastWAL != "" && walKey(a.LastWAL) >= walKey(seg) {
			return a, nil
		}
		if time.Now().After(deadline) {
			why := ""
			if a.LastFailed != "" {
				why = fmt.Sprintf(" (archiving %s failed at %s: see the logs of postgis)", a.LastFailed, a.LastFailTime.Format(time.RFC3339))
			}
			return nil, fmt.Errorf("WAL segment %s was not archived within 90s%s", seg, why)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Status writes what postgis:wal shows: archiving, the recoverable range,
// the repositories and the base backups.
func Status(ctx context.Context, e *engine.Engine, w io.Writer) error {
	if !Enabled(e) {
		return ErrOff
	}
	a, err := archiver(ctx, e)
	if err != nil {
		return err
	}
	in, err := info(ctx, e)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "WAL archiving: on, %d segments archived", a.Archived)
	if a.LastWAL != "" {
		fmt.Fprintf(w, ", the last %s at %s", a.LastWAL, a.LastTime.Format(TimeLayout))
	}
	fmt.Fprintln(w)
	if a.Failed > 0 {
		fmt.Fprintf(w, "failures:      %d, the last %s at %s\n", a.Failed, a.LastFailed, a.LastFailTime.Format(TimeLayout))
	}
	fmt.Fprintf(w, "archived WAL:  %s to %s (stanza %s: %s)\n", dash(in.WALMin), dash(in.WALMax), Stanza, in.Status)
	if r, err := RangeOf(in, 0, a.LastTime); err == nil {
		fmt.Fprintf(w, "recoverable:   %s (postgis:recover -to=...)\n", r)
	} else {
		fmt.Fprintf(w, "recoverable:   nothing yet: %v\n", err)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nREPO\tCIPHER\tSTATUS\tBACKUPS")
	for _, r := range in.Repos {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\n", r.Key, r.Cipher, r.Status, r.Backups)
	}
	fmt.Fprintln(tw, "\nBACKUP\tTYPE\tREPO\tFINISHED\tDATABASE\tSTORED")
	for _, b := range in.Backups {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", b.Label, b.Type, b.Repo, b.Stop.Format(TimeLayout), postgis.HumanBytes(b.Size), postgis.HumanBytes(b.Stored))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// RecoverOptions configure Recover.
type RecoverOptions struct {
	Target time.Time
	Repo   int // 0: pgBackRest's choice (repository 1 first)
	Yes    bool
}

// Recover rewinds the cluster to o.Target. First, with the server running,
// it archives the current WAL and checks that the target lies inside the
// recoverable range; outside it, or without -yes, nothing is touched.
// Then it stops PostGIS, restores with pgBackRest (--delta --type=time,
// promote at the target) in a helper on the data and WAL volumes, and
// starts PostGIS, which replays the WAL up to the target.
func Recover(ctx context.Context, e *engine.Engine, o RecoverOptions) error {
	if !Enabled(e) {
		return ErrOff
	}
	if _, err := e.ContainerOf(ctx, postgis.Service); err != nil {
		return fmt.Errorf("%w: postgis:recover checks the archive on the running server (postgis:up)", err)
	}
	a, err := flush(ctx, e)
	if err != nil {
		return err
	}
	in, err := info(ctx, e)
	if err != nil {
		return err
	}
	r, err := RangeOf(in, o.Repo, a.LastTime)
	if err != nil {
		return err
	}
	if err := r.Check(o.Target); err != nil {
		return fmt.Errorf("%w: %w", engine.ErrModel, err)
	}
	if !o.Yes {
		return &engine.ConfirmError{What: "stop PostGIS and rewind every database to " + o.Target.UTC().Format(TimeLayout) + " (every change after it is lost)"}
	}
	conf, ca, _, err := repo2Settings(ctx, e)
	if err != nil && o.Repo == 2 {
		return err
	}
	p, err := e.Project(ctx, postgis.Service)
	if err != nil {
		return err
	}
	svc := p.Services[postgis.Service]
	vol := func(name string) string {
		if v := p.Volumes[name]; v.Name != "" {
			return v.Name
		}
		return p.Name + "_" + name
	}
	if err := e.Stop(ctx, postgis.Service); err != nil {
		return fmt.Errorf("stop PostGIS for the recovery: %w", err)
	}
	fmt.Fprintf(e.Err, "osgs: PostGIS stopped; restoring to %s\n", o.Target.UTC().Format(TimeLayout))
	args := []string{"osgs-postgis-entrypoint", "pitr-restore", "--delta", "--type=time", "--target=" + o.Target.UTC().Format(TimeLayout), "--target-action=promote"}
	if o.Repo != 0 {
		args = append(args, "--repo="+strconv.Itoa(o.Repo))
	}
	env := []string{"PITR_RETENTION_FULL=" + e.Env.Value(RetentionKey)}
	for _, k := range []string{"POSTGRES_USER", "TZ"} {
		if v, ok := svc.Environment[k]; ok && v != nil {
			env = append(env, k+"="+*v)
		}
	}
	_, remove, rerr := e.RunPrepared(ctx, client.ContainerCreateOptions{
		Config: &container.Config{
			Image: svc.Image, Entrypoint: args[:1], Cmd: args[1:], User: postgis.OSUser, Env: env,
			Labels: map[string]string{api.ProjectLabel: e.ProjectName(), api.OneoffLabel: "True", "org.osgs.helper": "pitr"},
		},
		HostConfig: &container.HostConfig{Mounts: []mount.Mount{
			{Type: mount.TypeVolume, Source: vol(dataVol), Target: dataMount},
			{Type: mount.TypeVolume, Source: vol(walVolume), Target: walMount},
		}},
	}, func(id string) error {
		if conf == "" {
			return nil
		}
		return writeRepo2(ctx, e, id, conf, ca)
	})
	if remove != nil {
		remove()
	}
	// Whatever happened, PostGIS comes back: recovered, or as it was (a
	// failed delta restore leaves the data as pgBackRest found it, and
	// PostgreSQL refuses to start on a half-restored folder).
	uerr := e.Up(context.WithoutCancel(ctx), engine.UpOptions{Services: []string{postgis.Service}})
	if rerr != nil {
		return errors.Join(fmt.Errorf("pgbackrest restore: %w", rerr), uerr)
	}
	if uerr != nil {
		return uerr
	}
	fmt.Fprintf(e.Err, "osgs: recovered to %s; a new base backup (postgis:basebackup) starts the new timeline's history\n", o.Target.UTC().Format(TimeLayout))
	return nil
}
