package netpeers

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// delayConn adds a one-way delay to both directions of a connection, for
// devnets that need peers at different distances on one machine. Bytes are
// delayed, not throttled: a pump goroutine per direction holds each chunk
// until its time, so the delay does not limit throughput.
type delayConn struct {
	net.Conn
	delay time.Duration

	out chan chunk // written by Write, sent by the write pump
	in  chan chunk // read by the read pump, handed out by Read

	closing   chan struct{} // Close began: the write pump flushes and stops
	flushed   chan struct{} // the write pump stopped
	done      chan struct{} // the connection is closed
	closeOnce sync.Once
	pumps     sync.WaitGroup

	readMu       sync.Mutex // one Read at a time; guards pending and readErr
	pending      []byte
	readErr      error
	readDeadline atomic.Pointer[time.Time]

	writeErr atomic.Pointer[error]
}

type chunk struct {
	data []byte
	err  error
	due  time.Time
}

func newDelayConn(c net.Conn, delay time.Duration) *delayConn {
	d := &delayConn{
		Conn:    c,
		delay:   delay,
		out:     make(chan chunk, 256),
		in:      make(chan chunk, 256),
		closing: make(chan struct{}),
		flushed: make(chan struct{}),
		done:    make(chan struct{}),
	}
	d.pumps.Add(2)
	go d.writePump()
	go d.readPump()
	return d
}

// wait sleeps until t, or returns false when the connection closes first.
func (d *delayConn) wait(t time.Time) bool {
	w := time.Until(t)
	if w <= 0 {
		return true
	}
	timer := time.NewTimer(w)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-d.done:
		return false
	}
}

// writePump sends each chunk when it is due; once Close begins it sends
// what is still queued, as a TCP close sends its buffered bytes.
func (d *delayConn) writePump() {
	defer d.pumps.Done()
	defer close(d.flushed)
	send := func(c chunk) bool {
		if w := time.Until(c.due); w > 0 {
			time.Sleep(w) // at most the link delay; this pump is the only sender
		}
		if _, err := d.Conn.Write(c.data); err != nil {
			d.writeErr.Store(&err)
			return false
		}
		return true
	}
	for {
		select {
		case c := <-d.out:
			if !send(c) {
				return
			}
		case <-d.closing:
			for {
				select {
				case c := <-d.out:
					if !send(c) {
						return
					}
				default:
					return
				}
			}
		}
	}
}

func (d *delayConn) readPump() {
	defer d.pumps.Done()
	// One read buffer, and each chunk a copy of what was read: a fresh
	// 32 KiB buffer per read made most of a large devnet's garbage.
	buf := make([]byte, 32<<10)
	for {
		n, err := d.Conn.Read(buf)
		c := chunk{data: append([]byte(nil), buf[:n]...), err: err, due: time.Now().Add(d.delay)}
		select {
		case d.in <- c:
		case <-d.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// Write queues p for delivery after the delay and returns at once.
func (d *delayConn) Write(p []byte) (int, error) {
	if errp := d.writeErr.Load(); errp != nil {
		return 0, *errp
	}
	select {
	case <-d.closing:
		return 0, net.ErrClosed
	default:
	}
	c := chunk{data: append([]byte(nil), p...), due: time.Now().Add(d.delay)}
	select {
	case d.out <- c:
		return len(p), nil
	case <-d.closing:
		return 0, net.ErrClosed
	}
}

// Read returns bytes that arrived at least the delay ago.
func (d *delayConn) Read(p []byte) (int, error) {
	d.readMu.Lock()
	defer d.readMu.Unlock()
	if len(d.pending) == 0 {
		if d.readErr != nil {
			return 0, d.readErr
		}
		var timeout <-chan time.Time
		if dl := d.readDeadline.Load(); dl != nil && !dl.IsZero() {
			w := time.Until(*dl)
			if w <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(w)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case c := <-d.in:
			if !d.wait(c.due) {
				return 0, net.ErrClosed
			}
			d.pending, d.readErr = c.data, c.err
		case <-d.done:
			return 0, net.ErrClosed
		case <-timeout:
			return 0, os.ErrDeadlineExceeded
		}
		if len(d.pending) == 0 {
			return 0, d.readErr
		}
	}
	n := copy(p, d.pending)
	d.pending = d.pending[n:]
	return n, nil
}

// Close flushes queued writes (bounded by the delay plus a second), closes
// the connection and waits for the pumps.
func (d *delayConn) Close() error {
	err := net.ErrClosed
	d.closeOnce.Do(func() {
		close(d.closing)
		_ = d.Conn.SetWriteDeadline(time.Now().Add(d.delay + time.Second))
		<-d.flushed
		close(d.done)
		err = d.Conn.Close()
		d.pumps.Wait()
	})
	return err
}

// SetDeadline sets the read deadline; writes are asynchronous and have none.
func (d *delayConn) SetDeadline(t time.Time) error { return d.SetReadDeadline(t) }

// SetReadDeadline applies to Reads that start after it.
func (d *delayConn) SetReadDeadline(t time.Time) error {
	d.readDeadline.Store(&t)
	return nil
}

// SetWriteDeadline is accepted and ignored: Write never blocks on the network.
func (d *delayConn) SetWriteDeadline(time.Time) error { return nil }
