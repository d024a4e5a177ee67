package backup

import "io"

// tap passes a copy of everything written to it to a consumer running in
// its own goroutine, so that the consumer (the archive scan) works on the
// other core beside the compressor rather than in its path. A fixed set of
// buffers circulates, so memory stays bounded; when the consumer returns
// early, the rest is discarded and writes still never block for long.
type tap struct {
	full, free chan []byte
	done       chan struct{}
	err        error
}

const (
	tapBufferSize = 64 << 10
	tapBuffers    = 16
)

func newTap(consume func(io.Reader) error) *tap {
	t := &tap{full: make(chan []byte, tapBuffers), free: make(chan []byte, tapBuffers), done: make(chan struct{})}
	for range tapBuffers {
		t.free <- make([]byte, tapBufferSize)
	}
	go func() {
		defer close(t.done)
		t.err = consume(&tapReader{t: t})
		for b := range t.full {
			t.free <- b[:cap(b)]
		}
	}()
	return t
}

// Write copies p for the consumer. It never fails.
func (t *tap) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		b := <-t.free
		c := copy(b, p)
		t.full <- b[:c]
		p = p[c:]
	}
	return n, nil
}

// Close ends the stream and returns the consumer's error.
func (t *tap) Close() error {
	close(t.full)
	<-t.done
	return t.err
}

type tapReader struct {
	t      *tap
	held   []byte // the buffer being read, returned when used up
	unread []byte
}

func (r *tapReader) Read(p []byte) (int, error) {
	for len(r.unread) == 0 {
		if r.held != nil {
			r.t.free <- r.held[:cap(r.held)]
			r.held = nil
		}
		b, ok := <-r.t.full
		if !ok {
			return 0, io.EOF
		}
		r.held, r.unread = b, b
	}
	n := copy(p, r.unread)
	r.unread = r.unread[n:]
	return n, nil
}
