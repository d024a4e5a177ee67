// Package schedule runs the backup job (backup, verify, push, prune) and
// makes it run by itself: systemd units for this checkout, or the
// equivalent cron line where systemd is not PID 1. The unit and cron
// texts are pure functions of Options, table-tested.
package schedule

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Options describe one checkout's scheduled job.
type Options struct {
	Project string   // compose project: names the units
	Dir     string   // the checkout
	Go      string   // absolute path of the go command
	At      string   // systemd OnCalendar expression
	Args    []string // backup:job's flags (-push, -keep=N, ...)
	Delay   string   // RandomizedDelaySec
	Path    string   // PATH for the job (docker's and go's folders)
	User    string   // the checkout's owner, whom the job runs as
	Home    string   // that user's home (its Go caches)
}

// DefaultAt is 02:30 every night, local time.
const DefaultAt = "*-*-* 02:30:00"

// Names of the units of a project.
func Names(project string) (service, timer, failed string) {
	base := "osgs-backup-" + project
	return base + ".service", base + ".timer", base + "-failed.service"
}

// Units are the three unit files, by name.
type Units map[string]string

// MakeUnits writes the service that runs the job, the timer that starts it
// (Persistent, so that a run missed while the server was off happens at
// boot; RandomizedDelaySec, so that many servers do not hit one bucket at
// once) and the service OnFailure starts to send the notification.
func MakeUnits(o Options) (Units, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	service, timer, failed := Names(o.Project)
	job := o.command("backup:job", o.Args...)
	notify := o.command("backup:notify", "-unit="+service)
	common := fmt.Sprintf("User=%s\nWorkingDirectory=%s\nEnvironment=PATH=%s\nEnvironment=HOME=%s\n%s", o.User, o.Dir, o.Path, o.Home, hardening(o))
	return Units{
		service: fmt.Sprintf(`[Unit]
Description=osgs backup of %[1]s (backup, verify, push, prune)
Documentation=file://%[2]s/README.md
Wants=network-online.target docker.service
After=network-online.target docker.service
OnFailure=%[3]s

[Service]
Type=oneshot
%[4]sExecStart=%[5]s
Nice=10
IOSchedulingClass=best-effort
IOSchedulingPriority=7
`, o.Project, o.Dir, failed, common, job),
		timer: fmt.Sprintf(`[Unit]
Description=Run the osgs backup of %[1]s on a schedule

[Timer]
OnCalendar=%[2]s
Persistent=true
RandomizedDelaySec=%[3]s
Unit=%[4]s

[Install]
WantedBy=timers.target
`, o.Project, o.At, o.Delay, service),
		failed: fmt.Sprintf(`[Unit]
Description=Notify that the osgs backup of %[1]s failed

[Service]
Type=oneshot
%[2]sExecStart=%[3]s
`, o.Project, common, notify),
	}, nil
}

// hardening are systemd's sandboxing options for the job: it writes only
// the checkout and its user's Go caches, reaches Docker through its
// socket and the destinations over the network, and nothing else
// (systemd-analyze security rates it "OK").
func hardening(o Options) string {
	return fmt.Sprintf(`NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths=%[1]s -%[2]s/.cache -%[2]s/go
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
CapabilityBoundingSet=
AmbientCapabilities=
RemoveIPC=yes
KeyringMode=private
DevicePolicy=closed
UMask=0077
`, o.Dir, o.Home)
}

var (
	projectName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	userName    = regexp.MustCompile(`^[a-z_][a-z0-9_.-]*$`)
)

func (o Options) check() error {
	switch {
	case !projectName.MatchString(o.Project):
		return fmt.Errorf("project name %q cannot name a unit", o.Project)
	case !filepath.IsAbs(o.Dir) || !filepath.IsAbs(o.Go):
		return errors.New("the checkout and the go command need absolute paths")
	case !userName.MatchString(o.User) || !filepath.IsAbs(o.Home):
		return fmt.Errorf("user %q (home %q) cannot run the job", o.User, o.Home)
	case strings.ContainsAny(o.Dir+o.Go+o.Home, " \t\n\"'\\%$"):
		return fmt.Errorf("%s: a path with spaces, quotes or %% cannot go into a unit; move the checkout", o.Dir)
	case o.At == "" || strings.ContainsAny(o.At, "\n"):
		return errors.New("-at needs a calendar expression, e.g. daily or *-*-* 02:30:00")
	}
	for _, a := range o.Args {
		if !regexp.MustCompile(`^-[a-z]+(=[A-Za-z0-9_.:-]+)?$`).MatchString(a) {
			return fmt.Errorf("job flag %q is not a plain -flag or -flag=value", a)
		}
	}
	return nil
}

// command is the go tool mage line that runs target with args.
func (o Options) command(target string, args ...string) string {
	return strings.Join(append([]string{o.Go, "tool", "mage", target}, args...), " ")
}

// CronLine is the crontab line equivalent to the timer. Only the calendar
// forms cron can say are accepted: daily, hourly, weekly, monthly,
// HH:MM[:SS], *-*-* HH:MM[:SS] and Mon[,Tue..] *-*-* HH:MM[:SS].
func CronLine(o Options) (string, error) {
	if err := o.check(); err != nil {
		return "", err
	}
	spec, err := cronSpec(o.At)
	if err != nil {
		return "", err
	}
	log := filepath.Join(o.Dir, "backups", "job.log")
	return fmt.Sprintf("%s cd %s && PATH=%s %s >>%s 2>&1 || %s", spec, o.Dir, o.Path, o.command("backup:job", o.Args...), log, o.command("backup:notify")), nil
}

var days = map[string]string{"mon": "1", "tue": "2", "wed": "3", "thu": "4", "fri": "5", "sat": "6", "sun": "0"}

func cronSpec(at string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(at)) {
	case "hourly":
		return "0 * * * *", nil
	case "daily":
		return "0 0 * * *", nil
	case "weekly":
		return "0 0 * * 1", nil
	case "monthly":
		return "0 0 1 * *", nil
	}
	f := strings.Fields(at)
	dow := "*"
	if len(f) == 3 {
		var nums []string
		for _, d := range strings.Split(f[0], ",") {
			n, ok := days[strings.ToLower(d)[:min(3, len(d))]]
			if !ok {
				return "", fmt.Errorf("calendar %q: no cron equivalent for day %q", at, d)
			}
			nums = append(nums, n)
		}
		dow, f = strings.Join(nums, ","), f[1:]
	}
	if len(f) == 2 {
		if f[0] != "*-*-*" {
			return "", fmt.Errorf("calendar %q: cron can only repeat every day (*-*-*)", at)
		}
		f = f[1:]
	}
	if len(f) != 1 {
		return "", fmt.Errorf("calendar %q has no cron equivalent: use hourly, daily, weekly, HH:MM or Mon *-*-* HH:MM", at)
	}
	hms := strings.Split(f[0], ":")
	if len(hms) < 2 || len(hms) > 3 {
		return "", fmt.Errorf("calendar %q: want HH:MM[:SS]", at)
	}
	h, err1 := strconv.Atoi(hms[0])
	m, err2 := strconv.Atoi(hms[1])
	if err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 || len(hms) == 3 && hms[2] != "00" {
		return "", fmt.Errorf("calendar %q: cron runs at whole minutes between 00:00 and 23:59", at)
	}
	return fmt.Sprintf("%d %d * * %s", m, h, dow), nil
}
