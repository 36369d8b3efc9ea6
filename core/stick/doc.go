// Package stick implements stick tables and tracker slots: the per-key
// counters that track-sc rules feed and that sc_*, src_* and table_*
// fetches read. It knows nothing of sessions, streams or configuration
// files; sessions and streams embed its Slots.
//
// # Tables and entries
//
// A Table (Def: key type, size, expiry, stored data types) holds entries
// keyed by IP address, integer, string or binary key. Each entry's values
// live in one slice of 64-bit words laid out from the definition, with the
// key packed after them: an entry of an ip table storing conn_cur,
// conn_rate and http_req_rate takes 128 bytes, about 170 with its map slot.
//
// An entry is in one of three states:
//
//	referenced  refs > 0: held by trackers (Slots) or by Acquire. It is off
//	            the LRU list, so it is never expired and never evicted.
//	idle        refs == 0: on its shard's LRU list, ordered by last touch.
//	            It expires Expire after its last touch, or is evicted when
//	            the table is full and it is the least recently used.
//	removed     expired, evicted or deleted; a holder of a stale pointer
//	            can still read it, but it is no longer in the table.
//
// Transitions: Acquire (or Slots.Track) creates or takes an entry
// (absent/idle → referenced, refs+1); Release (Slots.Release) gives it back
// (refs-1; at 0 → idle, or removed at once if already expired); Sweep, a
// lookup meeting an expired idle entry, eviction on creation, and Delete
// remove idle entries. Every change of counters touches the entry (HAProxy's
// stktable_touch): its expiry is pushed back to now + Expire.
//
// A table is split in 64 shards by key hash, each with its own mutex, map
// and LRU list. Acquire and the last Release of an entry take its shard's
// lock; counting events on an entry one holds takes no lock at all: values
// are updated with atomic operations (see RATIONALE.md for the measures).
// Eviction picks the shard whose LRU tail is the oldest (published
// atomically), so it evicts the table's least recently used idle entry.
//
// # Tracker slots and ownership
//
// A session and each of its streams embed a Slots (DefaultSlots = 3 slots,
// sc0..sc2). Track takes a reference on an entry and starts its connection
// counters (conn_cur, conn_cnt, conn_rate); Release stops them and drops the
// reference — only for the slots of that Slots. A stream never copies its
// session's entries: it reads them through a View (its own slot n if it
// tracks one, else the session's slot n, read-only). So a session-owned
// entry is released once, by the session, however many streams saw it, and
// conn_cur cannot go negative. Events (requests, errors, bytes, sessions)
// are counted through the View once on every distinct entry tracked by the
// stream or its session, never twice on one entry. A session's slots may be
// read by several streams at once (HTTP/2) while the session adds a tracker:
// slots are atomic pointers, set once, cleared only by Release.
//
// Who owns what: a Table is safe for concurrent use by any goroutine. A
// Slots is written (Track, Release) by its owner — the session's or the
// stream's goroutine — and read by anyone. Time is always passed in (now),
// read once per event from the owner's coarse clock; nothing here reads the
// clock or starts a goroutine, so tests step time exactly and the owner
// calls Sweep on its own schedule.
//
// # Compatibility with HAProxy
//
// Matched: the data types and their "store" syntax (gpc/gpt arrays, the
// legacy gpc0, gpc1, gpt0, gpc0_rate and gpc1_rate names, which read and
// write the arrays when only those are stored, and may not be stored with
// them); rates are HAProxy's freq_ctr with its exact integer arithmetic
// (32-bit millisecond ticks, even period starts, rotation by one period or
// restart after two, the partial previous period, the anti-flapping rule
// for 0 and 1), so values read like "show table" shows them on the same
// traffic; track-sc semantics (a used slot ignores a second track-sc; a
// stream's slot n shadows its session's slot n for reading; conn_cur,
// conn_cnt and conn_rate count trackers, so an entry tracked in two slots
// counts two connections, as in HAProxy); conn_cur never goes below zero
// (an operator may reset it); an entry in use is never expired, evicted or
// deleted ("Entry currently in use"); src_* fetches look up without
// creating (Lookup) while src_inc_gpc, src_clr_gpc and "set table" create
// (Acquire); integer keys are 32-bit unsigned; binary keys are zero-padded
// to their length and string keys truncated to theirs; "show table" key
// formats, value order and array names (gpc0, gpc1_rate).
//
// Different, on purpose:
//   - An event is counted once per distinct entry of a stream and its
//     session. HAProxy counts it once per slot, so an entry tracked in two
//     slots counts every request twice.
//   - A stream never releases its session's trackers (HAProxy bugs of that
//     kind made conn_cur negative).
//   - "ip" and "ipv6" are one key type holding both families (IPv4 in its
//     IPv4-mapped form). HAProxy's "ip" tables hold IPv4 only. Keys print as
//     IPv4 when they are IPv4-mapped.
//   - Counters are 64-bit; HAProxy's (except bytes) are 32-bit and wrap at
//     2^32. Rates, tags (gpt) and server_id keep HAProxy's 32 bits.
//   - A string key compares as bytes: a NUL byte does not end it.
//   - When full, creating an entry evicts exactly one entry, the least
//     recently used idle one of the whole table. HAProxy evicts a batch of
//     size/256+1 of the oldest entries, shard by shard.
//   - A store type listed twice is an error (HAProxy warns and ignores it).
//   - Expired entries also go when a lookup meets them, not only on the
//     expiry task's schedule; the observable values are the same.
//   - server_key (server_name) is not stored; server_id is.
//   - "show table" lines carry no entry address and no shard number.
package stick
