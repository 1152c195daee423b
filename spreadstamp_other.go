//go:build !linux

package main

import (
	"context"
	"net"
	"sync/atomic"
	"time"
)

// stampConn stamps each read when it returns: kernel receive times
// (SO_TIMESTAMPNS) are read on Linux only.
type stampConn struct {
	net.Conn
	last atomic.Int64
}

func dialStamped(ctx context.Context, network, addr string) (*stampConn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &stampConn{Conn: conn}, nil
}

func (c *stampConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.last.Store(time.Now().UnixNano())
	return n, err
}

func (c *stampConn) arrival() time.Time {
	if ns := c.last.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Now()
}
