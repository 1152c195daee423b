package main

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// stampConn is a TCP connection that remembers when the kernel received
// the data of its latest read (SO_TIMESTAMPNS), so that an observer
// sharing a busy machine with what it measures stamps frames with their
// arrival, not with the moment it got a core to read them.
type stampConn struct {
	*net.TCPConn
	raw  syscall.RawConn
	oob  [128]byte
	last atomic.Int64 // Unix ns of the latest read's data; 0 before one
}

func dialStamped(ctx context.Context, network, addr string) (*stampConn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tc := conn.(*net.TCPConn)
	raw, err := tc.SyscallConn()
	if err != nil {
		conn.Close()
		return nil, err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		conn.Close()
		if err == nil {
			err = serr
		}
		return nil, err
	}
	return &stampConn{TCPConn: tc, raw: raw}, nil
}

func (c *stampConn) Read(p []byte) (int, error) {
	var n, oobn int
	var rerr error
	err := c.raw.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = syscall.Recvmsg(int(fd), p, c.oob[:], 0)
		return rerr != syscall.EAGAIN
	})
	if err != nil {
		return 0, err
	}
	if rerr != nil {
		return 0, rerr
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	if msgs, err := syscall.ParseSocketControlMessage(c.oob[:oobn]); err == nil {
		for _, m := range msgs {
			if m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == syscall.SO_TIMESTAMPNS && len(m.Data) >= 16 {
				sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
				nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
				c.last.Store(sec*1e9 + nsec)
			}
		}
	}
	return n, nil
}

// arrival is when the kernel received the latest read's data.
func (c *stampConn) arrival() time.Time {
	if ns := c.last.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Now()
}
