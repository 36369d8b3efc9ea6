//go:build !linux

package plugins

import "github.com/tetratelabs/wazero/experimental"

// memoryAllocator is nil (wazero's own, on the Go heap) where strata does
// not map linear memory itself: see memory_linux.go.
func memoryAllocator() experimental.MemoryAllocator { return nil }
