package main

import "io"

// serveTCP echoes every byte until the client shuts its write side, then
// shuts the server's write side once everything is echoed.
func (c *conn) serveTCP() {
	buf := make([]byte, 32<<10)
	for {
		c.touchDeadline()
		n, err := c.nc.Read(buf)
		if n > 0 {
			c.touchDeadline()
			if _, werr := c.nc.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err == io.EOF {
			c.nc.CloseWrite()
			return
		}
		if err != nil {
			return
		}
	}
}
