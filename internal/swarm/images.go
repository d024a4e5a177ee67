package swarm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/moby/moby/client"
)

// nodeEngine is a node's own engine, for image loads and status.
type nodeEngine struct {
	ID, Hostname string
	Client       client.APIClient
	close        func() error
}

// distribute makes sure every node in nodes holds the image id (known
// locally as ref): without a registry, the local engine saves it once and
// every node that lacks it loads that one stream at the same time. The
// image keeps its ID, and a service that names it by ID never tries to
// pull.
func (c *Cluster) distribute(ctx context.Context, id, ref string, nodes []*nodeEngine) error {
	var need []*nodeEngine
	for _, n := range nodes {
		if _, err := n.Client.ImageInspect(ctx, id); err != nil {
			need = append(need, n)
		}
	}
	if len(need) == 0 {
		return nil
	}
	names := make([]string, len(need))
	to := make([]client.APIClient, len(need))
	for i, n := range need {
		names[i], to[i] = n.Hostname, n.Client
	}
	fmt.Fprintf(c.E.Err, "osgs: copying %s to %s\n", ref, strings.Join(names, ", "))
	if err := CopyImage(ctx, c.E.Docker(), to, ref); err != nil {
		return fmt.Errorf("copy %s to %s: %w", ref, strings.Join(names, ", "), err)
	}
	for _, n := range need {
		if _, err := n.Client.ImageInspect(ctx, id); err != nil {
			return fmt.Errorf("copy %s to node %s: the node does not have %s after the load", ref, n.Hostname, short(id))
		}
	}
	return nil
}

// CopyImage streams one `save` of ref from an engine into `load` on every
// engine of to at once: the image is read once, however many nodes need it.
// If one load fails, the copy stops for all (the deploy fails anyway).
func CopyImage(ctx context.Context, from client.APIClient, to []client.APIClient, ref string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	saved, err := from.ImageSave(ctx, []string{ref})
	if err != nil {
		return err
	}
	defer saved.Close()
	if len(to) == 1 {
		return loadImage(ctx, to[0], saved) // no tee, no extra copy
	}
	pipes := make([]io.Writer, len(to))
	ends := make([]*io.PipeWriter, len(to))
	errs := make([]error, len(to))
	var wg sync.WaitGroup
	for i, cl := range to {
		pr, pw := io.Pipe()
		pipes[i], ends[i] = pw, pw
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = loadImage(ctx, cl, pr)
			// A load that stopped early must not leave the save blocked.
			pr.CloseWithError(errors.Join(errs[i], io.ErrClosedPipe))
		}()
	}
	_, err = io.Copy(io.MultiWriter(pipes...), saved)
	for _, pw := range ends {
		pw.CloseWithError(err)
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return e // the load's own error says more than the broken pipe
		}
	}
	if errors.Is(err, io.ErrClosedPipe) {
		// Every load succeeded and stopped reading (the archive's end):
		// the caller checks that each engine has the image.
		return nil
	}
	return err
}

// loadImage loads an image stream into an engine, reporting the error the
// engine gives in its progress stream.
func loadImage(ctx context.Context, to client.APIClient, r io.Reader) error {
	res, err := to.ImageLoad(ctx, r, client.ImageLoadWithQuiet(true))
	if err != nil {
		return err
	}
	defer res.Close()
	dec := json.NewDecoder(res)
	for {
		var m struct {
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}

// imageID resolves ref on an engine.
func imageID(ctx context.Context, c client.APIClient, ref string) (string, bool) {
	img, err := c.ImageInspect(ctx, ref)
	if err != nil {
		return "", false
	}
	return img.ID, true
}
