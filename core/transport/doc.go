// Package transport is strata's L4 layer: TCP connections read and written
// through their raw file descriptors so that the engine controls when memory
// and timers are spent.
//
// Two habits make an idle connection cheap and a busy one fast:
//
//   - A connection holds no read buffer while it waits. Fill takes a buffer
//     from the pool only when the kernel has data, and gives it back when a
//     read would block with nothing buffered (see Buffer).
//   - Timeouts are armed only when an operation actually blocks. A read or
//     write that the kernel completes at once touches no timer; one that
//     would block arms the deadline (HAProxy-style inactivity timeout, or a
//     fixed phase deadline) just before the goroutine parks.
//
// A Conn is used by one goroutine for reading and one for writing at a time,
// like net.Conn.
package transport
