package handover

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"os"
	"syscall"
)

// Listener is a listening socket to hand over: its configured address
// and a duplicate of its descriptor.
type Listener struct {
	Addr string
	File *os.File
}

// maxFiles bounds the descriptors one message can carry: the control
// buffer ReadMessage offers the kernel has room for this many.
const maxFiles = 64

// WriteMessage writes one message on c: a length-prefixed JSON body with
// files attached (SCM_RIGHTS).
func WriteMessage(c *net.UnixConn, v any, files ...*os.File) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	msg := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	msg = append(msg, body...)
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = syscall.UnixRights(fds...)
	}
	// The files travel with the first bytes; the rest follows as a
	// stream.
	n, _, err := c.WriteMsgUnix(msg, oob, nil)
	if err != nil {
		return err
	}
	if n < len(msg) {
		_, err = c.Write(msg[n:])
	}
	return err
}

// ReadMessage reads one message written by WriteMessage into v and
// returns the files attached.
func ReadMessage(c *net.UnixConn, v any) ([]*os.File, error) {
	head := make([]byte, 4)
	oob := make([]byte, syscall.CmsgSpace(maxFiles*4))
	n, oobn, _, _, err := c.ReadMsgUnix(head, oob)
	if err != nil {
		return nil, err
	}
	var files []*os.File
	if oobn > 0 {
		msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			fds, err := syscall.ParseUnixRights(&m)
			if err != nil {
				return nil, err
			}
			for _, fd := range fds {
				files = append(files, os.NewFile(uintptr(fd), "handed-over"))
			}
		}
	}
	if _, err := io.ReadFull(c, head[n:]); err != nil {
		return files, err
	}
	body := make([]byte, binary.BigEndian.Uint32(head))
	if _, err := io.ReadFull(c, body); err != nil {
		return files, err
	}
	return files, json.Unmarshal(body, v)
}
