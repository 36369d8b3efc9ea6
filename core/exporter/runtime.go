package exporter

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/strata-proxy/strata/core/listen"
	"github.com/strata-proxy/strata/core/telemetry"
)

// GatherRuntime adds the process_* and go_* families under the names of
// the Prometheus Go client's process and Go collectors (the ones every Go
// service exports, so the usual Go dashboards work), and
// strata_build_info{version,goversion,revision} 1.
func GatherRuntime(m *telemetry.Metrics, version, revision string) {
	gatherBuildInfo(m, version, revision)
	gatherProcessStd(m)
	gatherGo(m)
}

func gatherBuildInfo(m *telemetry.Metrics, version, revision string) {
	m.Gauge("strata_build_info", "A metric with a constant '1' value labeled by the version, Go version and VCS revision strata was built from.", 1,
		"version", version, "goversion", runtime.Version(), "revision", revision)
}

// gatherProcessStd reads /proc/self, as the Go client's process collector
// does; on a system without it only the file descriptor limit shows.
func gatherProcessStd(m *telemetry.Metrics) {
	if st, ok := readProcStat(); ok {
		m.Counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", st.cpuSeconds)
		m.Gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", st.vsize)
		m.Gauge("process_resident_memory_bytes", "Resident memory size in bytes.", st.rss)
		m.Gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", st.startTime)
	}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		m.Gauge("process_open_fds", "Number of open file descriptors.", float64(len(ents)))
	}
	// The soft limit on open files, what accept runs into.
	if n := listen.FileLimit(); n > 0 {
		m.Gauge("process_max_fds", "Maximum number of open file descriptors.", float64(n))
	}
}

type procStat struct {
	cpuSeconds, vsize, rss, startTime float64
}

// Linux's USER_HZ and the boot time give the start time; both as the Go
// client reads them.
const userHZ = 100

func readProcStat() (procStat, bool) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return procStat{}, false
	}
	// The command name (field 2) may hold spaces: fields count from the
	// last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 22 {
		return procStat{}, false
	}
	num := func(k int) float64 { v, _ := strconv.ParseFloat(f[k-3], 64); return v }
	st := procStat{
		cpuSeconds: (num(14) + num(15)) / userHZ,
		vsize:      num(23),
		rss:        num(24) * float64(os.Getpagesize()),
	}
	if boot, ok := bootTime(); ok { // read once: it does not change
		st.startTime = boot + num(22)/userHZ
	}
	return st, true
}

// bootTime is the system's boot time (btime of /proc/stat), read on the
// first scrape only.
var bootTime = sync.OnceValues(readBootTime)

func readBootTime() (float64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			t, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return t, err == nil
		}
	}
	return 0, false
}

// gatherGo reads the Go runtime's figures. ReadMemStats stops the world
// for a moment: fine once per scrape, as the Go client does.
func gatherGo(m *telemetry.Metrics) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	threads, _ := runtime.ThreadCreateProfile(nil)
	m.Gauge("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))
	m.Gauge("go_threads", "Number of OS threads created.", float64(threads))
	m.Gauge("go_info", "Information about the Go environment.", 1, "version", runtime.Version())
	m.Gauge("go_memstats_alloc_bytes", "Number of bytes allocated and still in use.", float64(ms.Alloc))
	m.Counter("go_memstats_alloc_bytes_total", "Total number of bytes allocated, even if freed.", float64(ms.TotalAlloc))
	m.Gauge("go_memstats_sys_bytes", "Number of bytes obtained from system.", float64(ms.Sys))
	m.Counter("go_memstats_mallocs_total", "Total number of mallocs.", float64(ms.Mallocs))
	m.Counter("go_memstats_frees_total", "Total number of frees.", float64(ms.Frees))
	m.Gauge("go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and still in use.", float64(ms.HeapAlloc))
	m.Gauge("go_memstats_heap_sys_bytes", "Number of heap bytes obtained from system.", float64(ms.HeapSys))
	m.Gauge("go_memstats_heap_idle_bytes", "Number of heap bytes waiting to be used.", float64(ms.HeapIdle))
	m.Gauge("go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use.", float64(ms.HeapInuse))
	m.Gauge("go_memstats_heap_released_bytes", "Number of heap bytes released to OS.", float64(ms.HeapReleased))
	m.Gauge("go_memstats_heap_objects", "Number of allocated objects.", float64(ms.HeapObjects))
	m.Gauge("go_memstats_stack_inuse_bytes", "Number of bytes in use by the stack allocator.", float64(ms.StackInuse))
	m.Gauge("go_memstats_next_gc_bytes", "Number of heap bytes when next garbage collection will take place.", float64(ms.NextGC))
	m.Gauge("go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", float64(ms.LastGC)/1e9)
	m.Gauge("go_sched_gomaxprocs_threads", "The current runtime.GOMAXPROCS setting, or the number of operating system threads that can execute user-level Go code simultaneously.", float64(runtime.GOMAXPROCS(0)))
}
