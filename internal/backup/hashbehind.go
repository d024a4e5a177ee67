package backup

import (
	"hash"
	"io"
	"sync"
)

// hashChunk is the size of the copies handed to a HashBehind's goroutine.
const hashChunk = 64 << 10

// HashingReader reads r and hashes what it read on a goroutine of its own,
// so that a stream that is also sealed and uploaded does not wait on its
// hash: the read, the seal and the hash each take a core when cores are
// free. Sum waits for the hash of everything read; Close stops the
// goroutine of a stream abandoned halfway (an uploader may still read it:
// what it reads after Close is not hashed).
type HashingReader struct {
	r      io.Reader
	h      hash.Hash
	mu     sync.Mutex // over ch's sends and its close
	closed bool
	ch     chan []byte
	done   chan struct{}
	pool   sync.Pool
}

// HashBehind returns a reader of r's bytes that hashes them into h behind
// the reader, on another goroutine.
func HashBehind(r io.Reader, h hash.Hash) *HashingReader {
	hr := &HashingReader{r: r, h: h, ch: make(chan []byte, 32), done: make(chan struct{})}
	hr.pool.New = func() any { b := make([]byte, hashChunk); return &b }
	go func() {
		defer close(hr.done)
		for b := range hr.ch {
			hr.h.Write(b)
			b = b[:cap(b)]
			hr.pool.Put(&b)
		}
	}()
	return hr
}

func (hr *HashingReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	hr.mu.Lock()
	defer hr.mu.Unlock()
	for rest := p[:n]; len(rest) > 0 && !hr.closed; {
		b := *hr.pool.Get().(*[]byte)
		k := copy(b, rest)
		hr.ch <- b[:k]
		rest = rest[k:]
	}
	return n, err
}

// Sum is the hash of every byte read before it, once the goroutine has
// caught up.
func (hr *HashingReader) Sum() []byte {
	hr.Close()
	<-hr.done
	return hr.h.Sum(nil)
}

// Close ends the goroutine (after it hashed what was read). It is safe to
// call more than once, and after Sum.
func (hr *HashingReader) Close() error {
	hr.mu.Lock()
	defer hr.mu.Unlock()
	if !hr.closed {
		hr.closed = true
		close(hr.ch)
	}
	return nil
}
