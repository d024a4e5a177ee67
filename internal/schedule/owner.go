package schedule

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
)

// Owner is the user a checkout's job runs as: the checkout's owner.
type Owner struct {
	Name string
	Home string
	UID  int
}

// CheckoutOwner finds dir's owner and checks that the job may run its
// code as that user: no file or folder of the checkout (its output in
// backups/ aside), and no folder above it, may be written by anyone but
// that user and root, since the job compiles and runs the checkout's code
// (go tool mage); and the user must reach Docker (root, or the docker
// group).
func CheckoutOwner(dir string) (Owner, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return Owner{}, err
	}
	uid := int(st.Sys().(*syscall.Stat_t).Uid)
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return Owner{}, fmt.Errorf("the owner (uid %d) of %s has no user: %w", uid, dir, err)
	}
	o := Owner{Name: u.Username, Home: u.HomeDir, UID: uid}
	if err := checkAbove(dir, uid); err != nil {
		return o, err
	}
	if err := checkTree(dir, uid); err != nil {
		return o, err
	}
	if uid != 0 {
		if err := inDockerGroup(u); err != nil {
			return o, err
		}
	}
	return o, nil
}

// unsafe says why a file of mode m owned by owner could be changed by
// someone other than uid and root ("" when it cannot).
func unsafe(fi fs.FileInfo, uid int) string {
	st := fi.Sys().(*syscall.Stat_t)
	switch m := fi.Mode(); {
	case int(st.Uid) != uid && st.Uid != 0:
		return fmt.Sprintf("belongs to uid %d", st.Uid)
	case m&fs.ModeSymlink != 0:
		return ""
	case m.IsDir() && m&fs.ModeSticky != 0 && m.Perm()&0o002 != 0 && int(st.Uid) == 0:
		return "" // /tmp-like: others cannot replace what is not theirs
	case m.Perm()&0o022 != 0:
		return fmt.Sprintf("is writable by its group or by others (%v)", m.Perm())
	}
	return ""
}

func checkAbove(dir string, uid int) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for d := filepath.Dir(abs); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if why := unsafe(fi, uid); why != "" {
			return fmt.Errorf("%w: %s, above the checkout, %s: someone else could swap the code the backup job runs; fix its owner or mode first", errUnsafe, d, why)
		}
		if d == "/" {
			return nil
		}
	}
}

func checkTree(dir string, uid int) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel, _ := filepath.Rel(dir, p); d.IsDir() && slices.Contains([]string{"backups", ".git"}, rel) {
			return filepath.SkipDir
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if why := unsafe(fi, uid); why != "" {
			return fmt.Errorf("%w: %s %s: the backup job compiles and runs this checkout's code as its owner; fix it (chmod go-w, chown) first", errUnsafe, p, why)
		}
		return nil
	})
}

var errUnsafe = fmt.Errorf("refusing to schedule the backup job")

func inDockerGroup(u *user.User) error {
	g, err := user.LookupGroup("docker")
	if err != nil {
		return fmt.Errorf("%w: %s owns the checkout but there is no docker group for it to reach Docker through", errUnsafe, u.Username)
	}
	ids, err := u.GroupIds()
	if err != nil {
		return err
	}
	if !slices.Contains(ids, g.Gid) {
		return fmt.Errorf("%w: %s owns the checkout but is not in the docker group (usermod -aG docker %s), so the job could not reach Docker", errUnsafe, u.Username, u.Username)
	}
	return nil
}
