package plugins

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// procStatus returns a field of /proc/self/status in bytes (VmRSS,
// VmHWM), or -1.
func procStatus(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return -1
			}
			return kb << 10
		}
	}
	return -1
}

// settledRSS is the resident set once the Go heap has given back what
// it can.
func settledRSS() int64 {
	runtime.GC()
	debug.FreeOSMemory()
	return procStatus("VmRSS")
}

// Overheads stated in RATIONALE.md ("Why is linear memory mapped by
// strata?"): what a plugin of 16 instances costs besides their linear
// memory at its peak (compiled code, instance and runtime structures,
// the test's own goroutines), and what may stay once it is closed.
const (
	memPeakOverhead = 64 << 20
	memLeftOverhead = 32 << 20
)

// 16 instances that each take all of their 32 MiB memory_limit: the
// process's peak RSS stays within 16 × 32 MiB plus the stated overhead,
// and once the instances are gone RSS returns to within the stated
// overhead of where it was.
func TestPlugin_MemoryReturnsToOS(t *testing.T) {
	if procStatus("VmRSS") < 0 {
		t.Skip("no /proc/self/status")
	}
	const instances, limit = 16, 32 << 20
	file := watFile(t, "grow")
	e := newEnv(t)
	base := settledRSS()
	// Reset the peak (VmHWM) to the current RSS, where the kernel allows.
	peakReset := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	// Every instance fails on purpose: no quarantine may skip a call.
	p := e.load(t, Config{Name: "grow", File: file, MemoryLimit: limit, InstancesMin: instances, InstancesMax: instances, CallTimeout: time.Minute,
		Quarantine: Quarantine{Failures: 1000}})
	var wg sync.WaitGroup
	for range instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.eval(t, "grow_touch", httpCtx())
		}()
	}
	wg.Wait()
	peak := procStatus("VmHWM")
	if s := p.Stats(); s.MemoryFaults != instances {
		t.Fatalf("memory faults %d (traps %d, timeouts %d, skipped %d): want every instance to reach its limit", s.MemoryFaults, s.Traps, s.Timeouts, s.Skipped)
	}
	p.Close(context.Background())
	// A collection, but no debug.FreeOSMemory: memory that only the Go
	// heap's scavenger would return, slowly, counts as staying.
	runtime.GC()
	left := procStatus("VmRSS")
	t.Logf("RSS: baseline %d MiB, peak %d MiB (reset: %v; bound %d MiB), after close %d MiB (bound %d MiB)",
		base>>20, peak>>20, peakReset, (base+instances*limit+memPeakOverhead)>>20, left>>20, (base+memLeftOverhead)>>20)
	if peakReset && peak > base+instances*limit+memPeakOverhead {
		t.Errorf("peak RSS %d MiB over %d instances × %d MiB + %d MiB above the baseline %d MiB",
			peak>>20, instances, limit>>20, memPeakOverhead>>20, base>>20)
	}
	if left > base+memLeftOverhead {
		t.Errorf("RSS after the instances were closed: %d MiB, baseline %d MiB: more than %d MiB stayed",
			left>>20, base>>20, memLeftOverhead>>20)
	}
}

// Closing a plugin whose call is still running (Close's deadline passes)
// closes its runtime under that call: the call's memory must stay mapped
// so the guest's next write does not fault the process.
func TestPlugin_CloseUnderRunningCall(t *testing.T) {
	file := watFile(t, "grow")
	e := newEnv(t)
	p := e.load(t, Config{Name: "grow", File: file, CallTimeout: 2 * time.Second, InstancesMax: 1})
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.eval(t, "touch_forever", httpCtx())
	}()
	for p.Stats().Idle != 0 { // the call has taken the instance
		runtime.Gosched()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	p.Close(ctx)
	<-done
	if s := p.Stats(); s.Calls != 1 || s.Timeouts+s.Traps != 1 {
		t.Errorf("the running call did not end as a failure: %+v", s)
	}
}
