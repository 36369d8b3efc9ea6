//go:build !linux

package plugins

import (
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// memoryAllocator is nil (wazero's own, on the Go heap) where strata does
// not map linear memory itself: see memory_linux.go.
func memoryAllocator(*atomic.Bool) experimental.MemoryAllocator { return nil }
