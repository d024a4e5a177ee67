// Package storetest is the one suite every remote.Store backend passes,
// run against a real server of its kind.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/osgs/osgs/internal/remote"
)

// Run checks the Store contract on s, which must start empty.
func Run(t *testing.T, s remote.Store) {
	ctx := context.Background()
	small := []byte("hello, off-site\n")
	big := make([]byte, 20<<20+12345) // more than one 16 MiB upload part
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}

	t.Run("PutGet", func(t *testing.T) {
		put(t, s, "a/small", small)
		put(t, s, "a/b/big", big)
		if got := get(t, s, "a/small"); !bytes.Equal(got, small) {
			t.Fatalf("a/small: got %q", got)
		}
		if got := get(t, s, "a/b/big"); !bytes.Equal(got, big) {
			t.Fatalf("a/b/big: %d bytes back, want %d identical", len(got), len(big))
		}
	})
	t.Run("Overwrite", func(t *testing.T) {
		put(t, s, "a/small", []byte("v2"))
		if got := get(t, s, "a/small"); string(got) != "v2" {
			t.Fatalf("a/small after overwrite: %q", got)
		}
	})
	t.Run("List", func(t *testing.T) {
		put(t, s, "ab", small)
		objs, err := s.List(ctx, "a/")
		if err != nil {
			t.Fatal(err)
		}
		if len(objs) != 2 || objs[0].Key != "a/b/big" || objs[1].Key != "a/small" || objs[0].Size != int64(len(big)) {
			t.Fatalf("List(a/) = %+v", objs)
		}
		all, err := s.List(ctx, "")
		if err != nil || len(all) != 3 {
			t.Fatalf("List() = %+v, %v", all, err)
		}
		none, err := s.List(ctx, "zz/")
		if err != nil || len(none) != 0 {
			t.Fatalf("List(zz/) = %+v, %v", none, err)
		}
	})
	t.Run("Missing", func(t *testing.T) {
		_, err := s.Get(ctx, "a/none")
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("Get(a/none) = %v, want ErrNotExist", err)
		}
	})
	t.Run("FailedPutLeavesNothing", func(t *testing.T) {
		for _, size := range []int{1 << 10, 20 << 20} {
			r := io.MultiReader(bytes.NewReader(big[:size]), failing{})
			if err := s.Put(ctx, "c/broken", r, int64(size)); err == nil {
				t.Fatal("a Put whose reader fails succeeded")
			}
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if err := s.Put(cctx, "c/cancelled", bytes.NewReader(big[:size]), int64(size)); err == nil {
				t.Fatal("a Put with a cancelled context succeeded")
			}
			if objs, err := s.List(ctx, "c/"); err != nil || len(objs) != 0 {
				t.Fatalf("after failed Puts, List(c/) = %+v, %v", objs, err)
			}
			if err := s.Clean(ctx, "c/"); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("Delete", func(t *testing.T) {
		for _, k := range []string{"a/small", "a/b/big", "ab"} {
			if err := s.Delete(ctx, k); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Delete(ctx, "a/none"); err != nil {
			t.Fatalf("Delete of a missing key: %v", err)
		}
		if objs, err := s.List(ctx, ""); err != nil || len(objs) != 0 {
			t.Fatalf("after Delete, List() = %+v, %v", objs, err)
		}
	})
}

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errors.New("the source broke") }

func put(t *testing.T, s remote.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, s remote.Store, key string) []byte {
	t.Helper()
	r, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
