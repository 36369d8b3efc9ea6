package plugins

import (
	"sync/atomic"
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// mappedAllocator backs each instance's linear memory with its own
// anonymous mapping instead of the Go heap (see RATIONALE.md, "Why is
// linear memory mapped by strata?"): the whole memory_limit is reserved
// PROT_NONE at instantiation (address space only), pages become readable
// and writable as the guest grows its memory (in place: nothing is copied
// and no second copy lives until a GC), and the mapping is unmapped when
// the instance is closed, so its pages go back to the OS at once.
//
// One exception: when a plugin is closed while calls still run (Close's
// deadline passed), wazero frees the memory of modules whose code may
// still be executing; unmapping it would fault that code and take the
// process down. Then abandoned is set, and Free only gives the pages back
// (madvise), leaving the mapping in place.
type mappedAllocator struct {
	abandoned *atomic.Bool
}

func memoryAllocator(abandoned *atomic.Bool) experimental.MemoryAllocator {
	return mappedAllocator{abandoned: abandoned}
}

// Allocate reserves max bytes. A memory that cannot grow (max 0) or a
// reservation the kernel refuses falls back to the Go heap, as wazero's
// own allocator would.
func (a mappedAllocator) Allocate(cap, max uint64) experimental.LinearMemory {
	if max == 0 || max > 1<<32 {
		return &heapMemory{max: max}
	}
	b, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_NONE, syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		return &heapMemory{max: max}
	}
	return &mappedMemory{buf: b, abandoned: a.abandoned}
}

// mappedMemory is one linear memory: buf is the whole reservation, its
// first committed bytes are accessible. Owned by the instance (wazero
// calls it from the goroutine running the instance, or when closing it).
type mappedMemory struct {
	buf       []byte
	committed int
	abandoned *atomic.Bool
}

// Reallocate makes the first size bytes accessible and returns them; nil
// (memory.grow fails) past the reservation or when the kernel refuses.
func (m *mappedMemory) Reallocate(size uint64) []byte {
	if m.buf == nil || size > uint64(len(m.buf)) {
		return nil
	}
	n := int(size)
	if n > m.committed {
		if err := syscall.Mprotect(m.buf[m.committed:n], syscall.PROT_READ|syscall.PROT_WRITE); err != nil {
			return nil
		}
		m.committed = n
	}
	return m.buf[:n:n]
}

// Free unmaps the memory: its pages go back to the OS. Abandoned, it
// only drops the pages: code still running sees zeros, not a fault.
func (m *mappedMemory) Free() {
	if m.buf == nil {
		return
	}
	if m.abandoned.Load() {
		_ = syscall.Madvise(m.buf[:m.committed], syscall.MADV_DONTNEED)
	} else {
		_ = syscall.Munmap(m.buf)
	}
	m.buf, m.committed = nil, 0
}

// heapMemory is a linear memory on the Go heap, bounded by max.
type heapMemory struct {
	b   []byte
	max uint64
}

func (m *heapMemory) Reallocate(size uint64) []byte {
	if size > m.max {
		return nil
	}
	if size > uint64(cap(m.b)) {
		nb := make([]byte, size, min(max(size, 2*uint64(cap(m.b))), m.max))
		copy(nb, m.b)
		m.b = nb
	}
	m.b = m.b[:size]
	return m.b
}

func (m *heapMemory) Free() { m.b = nil }
