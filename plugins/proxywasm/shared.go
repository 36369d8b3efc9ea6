package proxywasm

import (
	"context"
	"sync"

	"github.com/tetratelabs/wazero/api"
)

// Shared data and shared queues are process-wide, as in Envoy: every
// filter, instance and configuration generation sees the same ones, so
// state survives a reload.

// maxSharedValue bounds one shared value or queue item, and maxQueueLen
// one queue, so that a filter cannot grow the process without limit.
const (
	maxSharedValue = 1 << 20
	maxQueueLen    = 10000
	maxSharedKeys  = 100000
)

type sharedEntry struct {
	value []byte
	cas   uint32
}

var shared = struct {
	mu   sync.Mutex
	m    map[string]*sharedEntry
	next uint32 // the last CAS handed out
}{m: map[string]*sharedEntry{}}

func hGetSharedData(ctx context.Context, _ api.Module, s []uint64) {
	v := enter(ctx, s)
	if v == nil {
		return
	}
	key, ok := v.read(s[0], s[1])
	if !ok {
		ret(s, stInvalidMemoryAccess)
		return
	}
	if _, ok := v.read(s[4], 4); !ok {
		ret(s, stInvalidMemoryAccess)
		return
	}
	shared.mu.Lock()
	e := shared.m[string(key)]
	var val []byte
	var cas uint32
	if e != nil {
		val, cas = e.value, e.cas // values are replaced, never changed in place
	}
	shared.mu.Unlock()
	if e == nil {
		ret(s, stNotFound)
		return
	}
	if st := v.out(s[2], s[3], val); st != stOK {
		ret(s, st)
		return
	}
	v.in.Memory().WriteUint32Le(uint32(s[4]), cas)
	ret(s, stOK)
}

// hSetSharedData stores a value; a non-zero cas must be the one the
// value has (CAS_MISMATCH otherwise, or for a key that does not exist).
func hSetSharedData(ctx context.Context, _ api.Module, s []uint64) {
	v := enter(ctx, s)
	if v == nil {
		return
	}
	key, ok1 := v.read(s[0], s[1])
	val, ok2 := v.read(s[2], s[3])
	if !ok1 || !ok2 {
		ret(s, stInvalidMemoryAccess)
		return
	}
	if len(val) > maxSharedValue {
		ret(s, stBadArgument)
		return
	}
	cas := uint32(s[4])
	shared.mu.Lock()
	defer shared.mu.Unlock()
	e := shared.m[string(key)]
	switch {
	case cas != 0 && (e == nil || e.cas != cas):
		ret(s, stCASMismatch)
		return
	case e == nil && len(shared.m) >= maxSharedKeys:
		ret(s, stBadArgument)
		return
	case e == nil:
		e = &sharedEntry{}
		shared.m[string(key)] = e
	}
	shared.next++
	if shared.next == 0 {
		shared.next = 1
	}
	e.value, e.cas = append([]byte(nil), val...), shared.next
	ret(s, stOK)
}

// queue is a shared queue: registered by a root context, which is told
// (proxy_on_queue_ready) when an item is enqueued.
type queue struct {
	items [][]byte
	// owner is the root context that registered it last; nil once that
	// vm is retired or dead (releaseQueues), so that the registry does
	// not keep a closed plugin's instances reachable.
	owner *vm
}

var queues = struct {
	mu     sync.Mutex
	byName map[string]uint32 // vm id NUL name → id
	byID   map[uint32]*queue
	next   uint32
}{byName: map[string]uint32{}, byID: map[uint32]*queue{}}

// vmID is the plugin_vm_id of every filter: strata has no VM ids, so
// queues are named by their name alone (resolve with an empty vm id).
const vmID = ""

func queueKey(vm, name []byte) string { return string(vm) + "\x00" + string(name) }

func hRegisterSharedQueue(ctx context.Context, _ api.Module, s []uint64) {
	v := enter(ctx, s)
	if v == nil {
		return
	}
	name, ok := v.read(s[0], s[1])
	if _, ok2 := v.read(s[2], 4); !ok || !ok2 {
		ret(s, stInvalidMemoryAccess)
		return
	}
	key := queueKey([]byte(vmID), name)
	queues.mu.Lock()
	id, found := queues.byName[key]
	if !found {
		queues.next++
		id = queues.next
		queues.byName[key] = id
		queues.byID[id] = &queue{}
	}
	queues.byID[id].owner = v
	queues.mu.Unlock()
	v.in.Memory().WriteUint32Le(uint32(s[2]), id)
	ret(s, stOK)
}

func hResolveSharedQueue(ctx context.Context, _ api.Module, s []uint64) {
	v := enter(ctx, s)
	if v == nil {
		return
	}
	vm, ok1 := v.read(s[0], s[1])
	name, ok2 := v.read(s[2], s[3])
	_, ok3 := v.read(s[4], 4)
	if !ok1 || !ok2 || !ok3 {
		ret(s, stInvalidMemoryAccess)
		return
	}
	queues.mu.Lock()
	id, found := queues.byName[queueKey(vm, name)]
	queues.mu.Unlock()
	if !found {
		ret(s, stNotFound)
		return
	}
	v.in.Memory().WriteUint32Le(uint32(s[4]), id)
	ret(s, stOK)
}

func hEnqueueSharedQueue(ctx context.Context, _ api.Module, s []uint64) {
	v := enter(ctx, s)
	if v == nil {
		return
	}
	data, ok := v.read(s[1], s[2])
	if !ok {
		ret(s, stInvalidMemoryAccess)
		return
	}
	id := uint32(s[0])
	queues.mu.Lock()
	q := queues.byID[id]
	var owner *vm
	st := stOK
	switch {
	case q == nil:
		st = stNotFound
	case len(q.items) >= maxQueueLen || len(data) > maxSharedValue:
		st = stBadArgument
	default:
		q.items = append(q.items, append([]byte(nil), data...))
		owner = q.owner
	}
	queues.mu.Unlock()
	if owner != nil && !owner.isDead() {
		owner.queueReady(id)
	}
	ret(s, st)
}

// queueLen is the number of items in queue id (0 for none).
func queueLen(id uint32) int {
	queues.mu.Lock()
	defer queues.mu.Unlock()
	if q := queues.byID[id]; q != nil {
		return len(q.items)
	}
	return 0
}

// releaseQueues forgets v as the owner of the queues it registered: a
// retired or dead vm is told of nothing more, and the registry no longer
// keeps it (its instance, its memory) reachable.
func releaseQueues(v *vm) {
	queues.mu.Lock()
	defer queues.mu.Unlock()
	for _, q := range queues.byID {
		if q.owner == v {
			q.owner = nil
		}
	}
}

// queueOwnersOf counts the queues whose owner is a vm of f.
func queueOwnersOf(f *Filter) int {
	queues.mu.Lock()
	defer queues.mu.Unlock()
	n := 0
	for _, q := range queues.byID {
		if q.owner != nil && q.owner.f == f {
			n++
		}
	}
	return n
}

// queueEvents are the proxy_on_queue_ready calls a root context is owed.
// Enqueues add to pending; one goroutine at a time (running) makes the
// calls, so a burst of enqueues costs one goroutine, not one each. It is
// a goroutine of its own because the owner may be the vm making the
// enqueue, whose mu is held.
type queueEvents struct {
	mu      sync.Mutex
	pending map[uint32]int // guarded by mu: queue id → enqueues not yet announced
	running bool           // guarded by mu: a goroutine is delivering
}

// queueReady owes v's root context one proxy_on_queue_ready for queue id,
// and starts the delivering goroutine unless it runs.
func (v *vm) queueReady(id uint32) {
	e := &v.queueEvents
	e.mu.Lock()
	if e.pending == nil {
		e.pending = map[uint32]int{}
	}
	if e.pending[id] < maxQueueLen { // never more events than a queue holds items
		e.pending[id]++
	}
	start := !e.running
	e.running = true
	e.mu.Unlock()
	if start {
		go v.deliverQueueEvents()
	}
}

// deliverQueueEvents makes the calls owed until none is left. A call whose
// queue was emptied meanwhile (the guest drained it on an earlier call) is
// skipped: it would only read an empty queue. Once the vm is dead the
// events owed are dropped.
func (v *vm) deliverQueueEvents() {
	for {
		id, ok := v.queueEvents.next(v.isDead())
		if !ok {
			return
		}
		if queueLen(id) > 0 {
			v.rootCall(cbQueueReady, rootID, uint64(id))
		}
	}
}

// next takes one owed event, or (drop) forgets them all; false when none
// is left, and the goroutine that called it must end.
func (e *queueEvents) next(drop bool) (uint32, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if drop {
		clear(e.pending)
	}
	for id, n := range e.pending {
		if n <= 1 {
			delete(e.pending, id)
		} else {
			e.pending[id] = n - 1
		}
		return id, true
	}
	e.running = false
	return 0, false
}

func hDequeueSharedQueue(ctx context.Context, _ api.Module, s []uint64) {
	v := enter(ctx, s)
	if v == nil {
		return
	}
	if _, ok := v.read(s[1], 4); !ok {
		ret(s, stInvalidMemoryAccess)
		return
	}
	if _, ok := v.read(s[2], 4); !ok {
		ret(s, stInvalidMemoryAccess)
		return
	}
	queues.mu.Lock()
	q := queues.byID[uint32(s[0])]
	var item []byte
	st := stOK
	switch {
	case q == nil:
		st = stNotFound
	case len(q.items) == 0:
		st = stEmpty
	default:
		item = q.items[0]
		q.items[0] = nil
		q.items = q.items[1:]
	}
	queues.mu.Unlock()
	if st != stOK {
		ret(s, st)
		return
	}
	if st := v.out(s[1], s[2], item); st != stOK {
		// Not delivered: the item goes back at the head, nothing is lost.
		queues.mu.Lock()
		q.items = append([][]byte{item}, q.items...)
		queues.mu.Unlock()
		ret(s, st)
		return
	}
	ret(s, stOK)
}
