package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/osgs/osgs/internal/catalog"
)

// goBuildStamp is the file in catalog.GoBuildDir recording what was built
// there; the programs are built again when it differs.
const goBuildStamp = "STAMP"

// goBuildsStamp is what a service's Go programs contribute to its context
// hash: their stamps, not their bytes, so that a fresh checkout whose image
// exists does not have to build them to know it is current.
// A local program's stamp also holds a digest of its sources and of the
// checkout's go.mod and go.sum.
func goBuildsStamp(root string, builds []catalog.GoBuild) (string, error) {
	var b strings.Builder
	for _, g := range builds {
		fmt.Fprintf(&b, "%s %s/%s\n", g.Stamp(), runtime.GOOS, runtime.GOARCH)
		if !g.Local() {
			continue
		}
		h := sha256.New()
		for _, dir := range append([]string{"go.mod", "go.sum"}, g.Sources...) {
			if err := hashTree(h, filepath.Join(root, dir)); err != nil {
				return "", fmt.Errorf("sources of %s: %w", g.Binary, err)
			}
		}
		fmt.Fprintf(&b, "sources %x\n", h.Sum(nil))
	}
	return b.String(), nil
}

// ensureGoBuilds builds the Go programs of a service into its build context
// when the stamp there differs from the catalog's. It runs under the build
// lock. The folder is replaced whole, by a rename, once every program built.
func (e *Engine) ensureGoBuilds(ctx context.Context, contextDir string, builds []catalog.GoBuild) error {
	if len(builds) == 0 {
		return nil
	}
	dir := filepath.Join(contextDir, catalog.GoBuildDir)
	want, err := goBuildsStamp(e.Dir, builds)
	if err != nil {
		return err
	}
	if have, err := os.ReadFile(filepath.Join(dir, goBuildStamp)); err == nil && string(have) == want {
		return nil
	}
	stage, err := os.MkdirTemp(contextDir, catalog.GoBuildDir+".tmp-")
	if err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	defer os.RemoveAll(stage)
	for _, g := range builds {
		fmt.Fprintf(e.Err, "osgs: building %s %s with %s\n", g.PackagePath(), g.Version, runtime.Version())
		if err := goBuild(ctx, e.Dir, g, stage, e.Err); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(stage, goBuildStamp), []byte(want), 0o644); err != nil {
		return err
	}
	if err := os.Chmod(stage, 0o755); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	return os.Rename(stage, dir)
}

// goBuild builds one program into out: a module's in a module of its own
// under the user's cache (which keeps its go.sum), a local one in the
// checkout root; with Go's build cache, a second build takes seconds.
func goBuild(ctx context.Context, root string, g catalog.GoBuild, out string, log io.Writer) error {
	goCmd, err := goTool()
	if err != nil {
		return err
	}
	if g.Local() {
		_, err := runGo(ctx, goCmd, root, g, goBuildCommands(g, filepath.Join(out, g.Binary))[1], log)
		return err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return fmt.Errorf("go build %s: %w", g.Module, err)
	}
	work := filepath.Join(cache, "osgs", "gobuild", strings.ReplaceAll(g.Module, "/", "_")+"@"+g.Version)
	if err := os.MkdirAll(work, 0o700); err != nil {
		return fmt.Errorf("go build %s: %w", g.Module, err)
	}
	// The catalog's requires may have changed since the folder was made:
	// a go.mod that differs is written anew (and go get settles go.sum).
	mod := []byte(goBuildModule(g))
	if have, err := os.ReadFile(filepath.Join(work, "go.mod")); err != nil || !bytes.HasPrefix(have, mod) {
		if err := os.WriteFile(filepath.Join(work, "go.mod"), mod, 0o600); err != nil {
			return err
		}
	}
	for _, args := range goBuildCommands(g, filepath.Join(out, g.Binary)) {
		if _, err := runGo(ctx, goCmd, work, g, args, log); err != nil {
			return err
		}
	}
	if len(g.Files) == 0 {
		return nil
	}
	modDir, err := runGo(ctx, goCmd, work, g, []string{"list", "-m", "-f", "{{.Dir}}", g.Module}, io.Discard)
	if err != nil {
		return err
	}
	for _, f := range g.Files {
		if err := os.CopyFS(filepath.Join(out, f), os.DirFS(filepath.Join(strings.TrimSpace(modDir), f))); err != nil {
			return fmt.Errorf("go build %s: copy %s from the module: %w", g.Module, f, err)
		}
	}
	return nil
}

// goBuildModule is the go.mod of the module a program is built in.
func goBuildModule(g catalog.GoBuild) string {
	var b strings.Builder
	fmt.Fprintf(&b, "module osgs.local/gobuild\n\ngo 1.26\n\nrequire %s %s\n", g.Module, g.Version)
	for _, r := range g.Require {
		fmt.Fprintf(&b, "require %s\n", r)
	}
	return b.String()
}

// goBuildCommands are the go commands that build g into binary: resolve the
// module graph (go get writes go.sum; the proxy serves exact versions only),
// then build it stripped and reproducibly.
func goBuildCommands(g catalog.GoBuild, binary string) [][]string {
	return [][]string{
		{"get", g.PackagePath() + "@" + g.Version},
		{"build", "-trimpath", "-ldflags=-s -w", "-o", binary, g.PackagePath()},
	}
}

// goBuildEnv is the environment of those commands: catalog.GoToolchain
// (the host's go when it is that release, else fetched from the module
// proxy), module mode, no workspace, cgo as the catalog says.
func goBuildEnv(g catalog.GoBuild) []string {
	env := []string{"GOFLAGS=-mod=mod", "GOTOOLCHAIN=" + catalog.GoToolchain, "GOWORK=off", "CGO_ENABLED=0"}
	if g.Local() {
		env[0] = "GOFLAGS=-mod=readonly"
	}
	if g.Cgo {
		env[3] = "CGO_ENABLED=1"
	}
	return env
}

func runGo(ctx context.Context, goCmd, dir string, g catalog.GoBuild, args []string, log io.Writer) (string, error) {
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), goBuildEnv(g)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = io.MultiWriter(&stderr, log)
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		msg := oneLine(lastLines(stderr.String(), 1))
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("go %s %s: %s", args[0], g.Module, msg)
	}
	return stdout.String(), nil
}

// goTool finds the go command: the one on PATH, else the toolchain that
// built osgs.
func goTool() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		return "", errors.New("go build: no go command on PATH: building this service's image needs Go 1.26")
	}
	return p, nil
}

// hashTree writes the names and contents of the regular files under path
// (a file or a folder) into h, in walk order.
func hashTree(h io.Writer, path string) error {
	return filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(h, "%s\x00", filepath.ToSlash(p[len(path):]))
		_, err = io.Copy(h, f)
		return err
	})
}
