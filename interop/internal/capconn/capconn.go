// Package capconn records the bytes a stream writes and reads, and hands
// both directions to a callback once, when the stream is closed. The
// interop tests and the golden-vector generator capture streams with it.
package capconn

import (
	"net"
	"sync"
)

// Conn is a net.Conn that records what passes through it.
type Conn struct {
	net.Conn

	// OnClose receives everything written and read, once, on the first
	// Close.
	OnClose func(wrote, read []byte)

	mu          sync.Mutex
	wrote, read []byte
	once        sync.Once
}

// New wraps conn; onClose may be nil.
func New(conn net.Conn, onClose func(wrote, read []byte)) *Conn {
	return &Conn{Conn: conn, OnClose: onClose}
}

// Write writes to the underlying stream and records what was written.
func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	c.wrote = append(c.wrote, p[:n]...)
	c.mu.Unlock()
	return n, err
}

// Read reads from the underlying stream and records what was read.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.read = append(c.read, p[:n]...)
	c.mu.Unlock()
	return n, err
}

// Close closes the underlying stream and reports the recording.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.mu.Lock()
		w, r := c.wrote, c.read
		c.mu.Unlock()
		if c.OnClose != nil {
			c.OnClose(w, r)
		}
	})
	return err
}
