package swarm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/moby/moby/client"
)

// nodeEngine is a node's own engine, for image loads and status.
type nodeEngine struct {
	ID, Hostname string
	Client       client.APIClient
	close        func() error
}

// distribute makes sure every node in nodes holds the image id (known
// locally as ref): without a registry, the local engine saves it and each
// node that lacks it loads the stream. The image keeps its ID, and a
// service that names it by ID never tries to pull.
func (c *Cluster) distribute(ctx context.Context, id, ref string, nodes []*nodeEngine) error {
	for _, n := range nodes {
		if _, err := n.Client.ImageInspect(ctx, id); err == nil {
			continue
		}
		fmt.Fprintf(c.E.Err, "osgs: copying %s to %s\n", ref, n.Hostname)
		if err := copyImage(ctx, c.E.Docker(), n.Client, ref); err != nil {
			return fmt.Errorf("copy %s to node %s: %w", ref, n.Hostname, err)
		}
		if _, err := n.Client.ImageInspect(ctx, id); err != nil {
			return fmt.Errorf("copy %s to node %s: the node does not have %s after the load", ref, n.Hostname, short(id))
		}
	}
	return nil
}

// copyImage streams `save` from one engine into `load` on another.
func copyImage(ctx context.Context, from, to client.APIClient, ref string) error {
	saved, err := from.ImageSave(ctx, []string{ref})
	if err != nil {
		return err
	}
	defer saved.Close()
	res, err := to.ImageLoad(ctx, saved, client.ImageLoadWithQuiet(true))
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
