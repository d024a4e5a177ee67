package backup

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestTapPassesEverythingAndSurvivesAnEarlyReturn(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 100000) // 1.6 MB
	var got []byte
	tp := newTap(func(r io.Reader) (err error) {
		got, err = io.ReadAll(r)
		return err
	})
	for p := data; len(p) > 0; {
		n := min(len(p), 100000) // larger than a tap buffer
		tp.Write(p[:n])
		p = p[n:]
	}
	if err := tp.Close(); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("tap passed %d of %d bytes: %v", len(got), len(data), err)
	}
	// A consumer that gives up must not block the writer.
	stop := errors.New("stop")
	tp = newTap(func(r io.Reader) error {
		r.Read(make([]byte, 10))
		return stop
	})
	for range 100 {
		tp.Write(data)
	}
	if err := tp.Close(); err != stop {
		t.Fatalf("err = %v", err)
	}
}
