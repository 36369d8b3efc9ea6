// Package fleet shares stick tables across the strata instances of a fleet
// through Redis.
//
// A shared table counts locally, on the request path, exactly as an
// unshared one (see core/stick's share.go); a Syncer per shared table
// exchanges what changed with Redis once per sync interval, in one
// pipeline, on its own goroutine. Every instance writes its own share of
// each value whole, in a hash field named after it, and reads the others'
// fields back:
//
//   - counters (conn_cnt, http_req_cnt, bytes, gpc, …): its own total; the
//     fleet's value sums every instance's field, live or gone, since their
//     events happened;
//   - rates: its own count in a hash per wall-clock period bucket
//     (now / period) that expires after two periods, so the fleet's rate is
//     HAProxy's sliding estimate over the last two buckets;
//   - conn_cur: its own value; the fleet's sums the fields of live
//     instances (a heartbeat per sync), so the share of an instance that
//     stops is removed at once and that of one that dies when its
//     heartbeat goes stale;
//   - gpt tags: last writer wins.
//
// Because shares are written whole, a push repeated after a lost reply
// counts nothing twice, a push that failed is simply sent again, and a
// Redis that restarted empty is filled again by the next full sync. No
// request waits on Redis. When a sync fails the table is marked degraded
// (in /v1/tables, /metrics and the log) and counting goes on locally.
//
// An entry that did not change since the last sync is left out of it,
// except at a full sync every fullEvery intervals, which pushes and pulls
// every entry (and refreshes the expiry of its counter and conn_cur keys;
// a tag's key is refreshed only when the tag is set), so an idle entry's view of
// the fleet is at most that old and the cost of a sync follows the keys in
// use rather than the table's size.
//
// sc_clr_gpc clears a counter fleet-wide: the clearing instance writes the
// time of the clear in the hash (field "~clear"), and every instance that
// held the entry before then sets its own share to zero when it sees it.
//
// Keys, under the configured prefix (default "strata:"):
//
//	PREFIX t:TABLE:KEYHEX:TYPE          hash: instance → its total (TYPE: http_req_cnt, gpc[1], …)
//	PREFIX t:TABLE:KEYHEX:TYPE:EPOCH    hash: instance → its count in the bucket, EPOCH = unix ms / period
//	PREFIX t:TABLE:KEYHEX:conn_cur      hash: instance → its conn_cur
//	PREFIX t:TABLE:KEYHEX:gpt[N]        string: the last tag set
//	PREFIX i:TABLE                      sorted set: instance → last heartbeat (unix ms)
//
// KEYHEX is the entry's key bytes as stored, in hexadecimal. Heartbeats and
// buckets use each instance's clock: a fleet's clocks must agree within a
// few intervals (NTP).
//
// Ownership: a Syncer's goroutine owns its bookkeeping (the entries' Own
// shares); Start and Stop are called by the proxy's generation machinery.
package fleet

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/strata-proxy/strata/core/config"
	"github.com/strata-proxy/strata/core/stick"
)

// fullEvery is how many syncs apart a full sync comes.
const fullEvery = 10

// clearField is the hash field holding the time of a fleet-wide clear; it
// cannot be an instance's name (those hold a host name first).
const clearField = "~clear"

// forgetAfter is how long a heartbeat is kept in the instances' set after
// it went stale.
const forgetAfter = time.Hour

// Syncer keeps one shared table in step with the fleet.
type Syncer struct {
	// Immutable after New.
	t        *stick.Table
	cfg      config.SharedTable
	rdb      redis.UniversalClient
	instance string
	log      *slog.Logger
	words    []stick.SharedWord
	tprefix  string // PREFIX t:TABLE:
	ikey     string // PREFIX i:TABLE
	keyTTL   time.Duration
	deadAft  time.Duration

	// Owned by the sync goroutine (or the caller of SyncOnce, one at a time).
	mu       sync.Mutex
	syncs    uint64 // syncs attempted
	lastSync int64  // Unix ms of the last successful sync
	entries  []*stick.Entry
	ops      []op
	keybuf   []byte

	// Read by anyone.
	commands atomic.Uint64 // Redis commands sent
	degraded atomic.Bool

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// op is one word of one entry in a sync's pipeline.
type op struct {
	e       *stick.Entry
	w       stick.SharedWord
	pushed  int64 // the value pushed (counters, conn_cur)
	cleared bool  // a fleet-wide clear pushed
	dirty   bool  // a tag pushed
	epoch   int64 // rates
	main    redis.Cmder
	prev    *redis.MapStringStringCmd // rates: the previous bucket
}

// New returns the syncer of table t, shared as cfg says. instance names
// this process in the fleet (unique: host, pid and a random part).
func New(t *stick.Table, cfg config.SharedTable, instance string, log *slog.Logger) (*Syncer, error) {
	rdb, err := newClient(cfg.Redis)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := t.Def()
	s := &Syncer{
		t: t, cfg: cfg, rdb: rdb, instance: instance,
		log:     log.With("table", d.Name),
		words:   t.SharedWords(),
		tprefix: cfg.Redis.KeyPrefix + "t:" + d.Name + ":",
		ikey:    cfg.Redis.KeyPrefix + "i:" + d.Name,
		// An instance whose heartbeat is older than this is gone: its
		// conn_cur share no longer counts.
		deadAft: max(10*cfg.SyncInterval, 3*time.Second),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	// Keys live as long as an idle entry would, and at least long enough
	// to outlast the longest rate's two buckets.
	s.keyTTL = d.Expire
	for _, w := range s.words {
		s.keyTTL = max(s.keyTTL, 2*w.Period+time.Second)
	}
	if d.Expire == 0 {
		s.keyTTL = 0 // no expiry: the table keeps entries until evicted
	}
	return s, nil
}

func newClient(c config.RedisConfig) (redis.UniversalClient, error) {
	o := &redis.UniversalOptions{
		Username:     c.Username,
		DB:           c.DB,
		DialTimeout:  time.Second,
		ReadTimeout:  time.Second,
		WriteTimeout: time.Second,
		// Never queue behind a broken connection: a sync that cannot get
		// one fails and is retried at the next interval.
		PoolTimeout:     time.Second,
		MaxRetries:      -1,
		DisableIdentity: true,
	}
	if c.PasswordEnv != "" {
		p, ok := os.LookupEnv(c.PasswordEnv)
		if !ok {
			return nil, fmt.Errorf("%w: %s is not set (password_env)", ErrConfig, c.PasswordEnv)
		}
		o.Password = p
	}
	if c.TLS {
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	switch {
	case c.Sentinel.Master != "":
		o.MasterName = c.Sentinel.Master
		o.Addrs = c.Sentinel.Addresses
		return redis.NewFailoverClient(o.Failover()), nil
	case len(c.Addresses) > 0:
		o.Addrs = c.Addresses
		return redis.NewClusterClient(o.Cluster()), nil
	}
	o.Addrs = []string{c.Address}
	return redis.NewClient(o.Simple()), nil
}

// Check reports what in cfg cannot be used, without connecting.
func Check(cfg config.SharedTable) error {
	if e := cfg.Redis.PasswordEnv; e != "" {
		if _, ok := os.LookupEnv(e); !ok {
			return fmt.Errorf("%w: %s is not set (password_env)", ErrConfig, e)
		}
	}
	return nil
}

// ErrConfig is a shared table's configuration that cannot be used.
var ErrConfig = errors.New("fleet: shared table")

// InstanceID returns this process's name in a fleet: host, pid and a
// random part, the same for every table of the process.
var InstanceID = sync.OnceValue(func() string {
	host, _ := os.Hostname()
	var r [4]byte
	_, _ = rand.Read(r[:])
	return host + ":" + strconv.Itoa(os.Getpid()) + ":" + hex.EncodeToString(r[:])
})

// Start reads the fleet's keys and values for the table (preload), so that
// it enforces with them from the first request, then syncs every interval
// until Stop, on its own goroutine. The preload waits at most the larger of
// a second and the interval; a Redis that does not answer then is retried
// by the loop, the table degraded meanwhile.
func (s *Syncer) Start() {
	ctx, cancel := context.WithTimeout(context.Background(), max(s.cfg.SyncInterval, time.Second))
	if err := s.preload(ctx); err != nil {
		s.log.Warn("shared stick table: the fleet's values could not be read at start; counting locally until Redis answers", "err", err)
	}
	cancel()
	go func() {
		defer close(s.done)
		tick := time.NewTicker(s.cfg.SyncInterval)
		defer tick.Stop()
		for {
			s.sync()
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
}

// sync runs one SyncOnce bounded by the interval (at least a second, so a
// slow Redis is not given up on too early), records the outcome, and logs
// the transitions between healthy and degraded.
func (s *Syncer) sync() {
	ctx, cancel := context.WithTimeout(context.Background(), max(s.cfg.SyncInterval, time.Second))
	defer cancel()
	err := s.SyncOnce(ctx, time.Now())
	st := s.t.ShareState()
	if err != nil {
		st.Failures++
		st.Degraded, st.LastError = true, err.Error()
		if !s.degraded.Swap(true) {
			s.log.Warn("shared stick table degraded: counting locally until Redis answers", "err", err)
		}
	} else {
		st.Syncs++
		st.Degraded, st.LastError, st.LastSync = false, "", time.Now()
		if s.degraded.Swap(false) {
			s.log.Info("shared stick table back in sync with the fleet")
		}
	}
	s.t.SetShareState(st)
}

// Stop ends the sync loop, pushes what is pending, and takes this
// instance's conn_cur share and heartbeat out of the fleet. It waits at
// most until ctx is done.
func (s *Syncer) Stop(ctx context.Context) {
	s.stopOnce.Do(func() {
		close(s.stop)
		select {
		case <-s.done:
		case <-ctx.Done():
		}
		_ = s.SyncOnce(ctx, time.Now())
		s.leave(ctx)
		s.rdb.Close()
	})
}

// Close releases a syncer that was never started.
func (s *Syncer) Close() { s.rdb.Close() }

// leave removes this instance's conn_cur fields and heartbeat.
func (s *Syncer) leave(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pipe := s.rdb.Pipeline()
	for _, w := range s.words {
		if w.Kind() != stick.ShareAbsolute {
			continue
		}
		for _, e := range s.t.Entries(s.entries) {
			pipe.HDel(ctx, s.key(e, w, -1), s.instance)
		}
	}
	pipe.ZRem(ctx, s.ikey, s.instance)
	_, _ = pipe.Exec(ctx)
}

// Commands returns how many Redis commands the syncer sent.
func (s *Syncer) Commands() uint64 { return s.commands.Load() }

// key builds the Redis key of word w of entry e (epoch >= 0: a rate
// bucket).
func (s *Syncer) key(e *stick.Entry, w stick.SharedWord, epoch int64) string {
	b := append(s.keybuf[:0], s.tprefix...)
	var raw [64]byte
	kb := e.RawKey(raw[:0])
	b = hex.AppendEncode(b, kb)
	b = append(b, ':')
	b = append(b, w.Type.String()...)
	if w.Type.IsArray() {
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(w.Index), 10)
		b = append(b, ']')
	}
	if epoch >= 0 {
		b = append(b, ':')
		b = strconv.AppendInt(b, epoch, 10)
	}
	s.keybuf = b
	return string(b)
}

// SyncOnce pushes this instance's share of the entries that changed (every
// entry at a full sync) and pulls the rest of the fleet's, in one pipeline.
// Nothing is lost when it fails: shares are pushed whole, so the next sync
// sends them again.
func (s *Syncer) SyncOnce(ctx context.Context, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	nowMs := now.UnixMilli()
	full := s.syncs%fullEvery == 0
	s.syncs++
	s.entries = s.t.Entries(s.entries)
	s.ops = s.ops[:0]
	pipe := s.rdb.Pipeline()
	pipe.ZAdd(ctx, s.ikey, redis.Z{Score: float64(nowMs), Member: s.instance})
	if full {
		pipe.ZRemRangeByScore(ctx, s.ikey, "-inf", strconv.FormatInt(nowMs-forgetAfter.Milliseconds(), 10))
	}
	live := pipe.ZRangeByScore(ctx, s.ikey, &redis.ZRangeBy{Min: strconv.FormatInt(nowMs-s.deadAft.Milliseconds(), 10), Max: "+inf"})
	for _, e := range s.entries {
		sh := e.Share()
		if sh == nil {
			continue
		}
		if sh.Joined == 0 {
			sh.Joined = nowMs
		}
		// An entry nobody changed since the last sync that worked has
		// nothing to push, and its pull can wait for the full sync.
		if !full && e.Touched() < s.lastSync {
			continue
		}
		dirty := sh.TakeDirty()
		for _, w := range s.words {
			o := op{e: e, w: w, epoch: -1}
			k := s.key(e, w, -1)
			switch w.Kind() {
			case stick.ShareCounter, stick.ShareAbsolute:
				o.pushed = int64(e.Local(w.Off))
				if w.Kind() == stick.ShareCounter && sh.TakeCleared(w.Off) {
					o.cleared = true
					pipe.HSet(ctx, k, clearField, nowMs)
				}
				if full || o.cleared || o.pushed != sh.Own[w.Off].Pushed {
					pipe.HSet(ctx, k, s.instance, o.pushed)
					if ttl := s.ttl(w); ttl > 0 {
						pipe.PExpire(ctx, k, ttl)
					}
				}
				o.main = pipe.HGetAll(ctx, k)
			case stick.ShareRate:
				o.epoch = stick.RateEpoch(w.Period, now)
				own := &sh.Own[w.Off]
				rotate(own, o.epoch)
				own.Curr += sh.TakePending(w.Off)
				k := s.key(e, w, o.epoch)
				if own.Curr > 0 {
					pipe.HSet(ctx, k, s.instance, own.Curr)
					pipe.PExpire(ctx, k, 2*w.Period+time.Second)
				}
				o.main = pipe.HGetAll(ctx, k)
				o.prev = pipe.HGetAll(ctx, s.key(e, w, o.epoch-1))
			case stick.ShareTag:
				if dirty {
					o.dirty = true
					o.main = pipe.Set(ctx, k, e.Local(w.Off), s.keyTTL)
				} else {
					o.main = pipe.Get(ctx, k)
				}
			}
			s.ops = append(s.ops, o)
		}
	}
	s.commands.Add(uint64(pipe.Len()))
	_, _ = pipe.Exec(ctx) // each command's own error is looked at below
	// A cluster may answer some commands and not others: what failed is
	// sent again by the next sync, what came back counts.
	firstErr := live.Err()
	alive := map[string]bool{}
	for _, m := range live.Val() {
		alive[m] = true
	}
	var gone []string // conn_cur hashes holding fields of dead instances
	for i := range s.ops {
		o := &s.ops[i]
		if err := o.main.Err(); err != nil && !errors.Is(err, redis.Nil) {
			firstErr = cmp.Or(firstErr, err)
			if o.dirty {
				o.e.Share().ReturnDirty()
			}
			if o.cleared {
				o.e.Share().ReturnCleared(o.w.Off)
			}
			continue
		}
		if o.w.Kind() == stick.ShareAbsolute && live.Err() != nil {
			continue // without the live set, keep the last sum
		}
		gone = s.apply(o, nowMs, alive, gone)
	}
	if len(gone) > 0 {
		// Best effort: a dead instance's fields are ignored anyway.
		pipe := s.rdb.Pipeline()
		for i := 0; i+1 < len(gone); i += 2 {
			pipe.HDel(ctx, gone[i], gone[i+1])
		}
		s.commands.Add(uint64(pipe.Len()))
		_, _ = pipe.Exec(ctx)
	}
	if firstErr != nil {
		return fmt.Errorf("sync with redis: %w", firstErr)
	}
	s.lastSync = nowMs
	return nil
}

// ttl is how long the key of word w lives after a push: as an idle entry
// would (0: no expiry), and for conn_cur at least long enough to outlast a
// dead instance's heartbeat.
func (s *Syncer) ttl(w stick.SharedWord) time.Duration {
	if w.Kind() == stick.ShareAbsolute {
		return max(s.keyTTL, s.deadAft)
	}
	return s.keyTTL
}

// rotate moves a rate's own bucket counts to epoch.
func rotate(own *stick.OwnShare, epoch int64) {
	switch own.Epoch {
	case epoch:
	case epoch - 1:
		own.Prev, own.Curr = own.Curr, 0
	default:
		own.Prev, own.Curr = 0, 0
	}
	own.Epoch = epoch
}

// apply records the fleet's share that an operation returned. It appends
// to gone the (hash, field) pairs of dead instances' conn_cur it met.
func (s *Syncer) apply(o *op, nowMs int64, alive map[string]bool, gone []string) []string {
	sh := o.e.Share()
	own := &sh.Own[o.w.Off]
	switch o.w.Kind() {
	case stick.ShareCounter:
		own.Pushed = o.pushed
		fields := o.main.(*redis.MapStringStringCmd).Val()
		if o.cleared {
			own.ClearSeen = nowMs
		} else if t, err := strconv.ParseInt(fields[clearField], 10, 64); err == nil && t > own.ClearSeen {
			own.ClearSeen = t
			if t >= sh.Joined {
				// Another instance cleared it after this one held it:
				// this instance's share goes too, at the next push.
				o.e.ClearLocal(o.w.Off)
				sh.SetOthers(o.w.Off, 0)
				return gone
			}
		}
		sh.SetOthers(o.w.Off, sumOthers(fields, s.instance, nil))
	case stick.ShareAbsolute:
		own.Pushed = o.pushed
		fields := o.main.(*redis.MapStringStringCmd).Val()
		for inst := range fields {
			if inst != s.instance && !alive[inst] {
				gone = append(gone, s.key(o.e, o.w, -1), inst)
			}
		}
		sh.SetOthers(o.w.Off, sumOthers(fields, s.instance, alive))
	case stick.ShareRate:
		curr := sumOthers(o.main.(*redis.MapStringStringCmd).Val(), s.instance, nil)
		prev := sumOthers(o.prev.Val(), s.instance, nil)
		sh.SetOthersRate(o.w.Off, o.epoch, curr, prev)
	case stick.ShareTag:
		if o.dirty {
			break
		}
		if v, err := o.main.(*redis.StringCmd).Uint64(); err == nil {
			o.e.SetFleetTag(o.w.Off, uint32(v))
		}
	}
	return gone
}

// sumOthers sums the instances' fields of a hash but self's (and, when
// alive is not nil, those of instances not in it).
func sumOthers(fields map[string]string, self string, alive map[string]bool) int64 {
	var sum int64
	for inst, v := range fields {
		if inst == self || inst == clearField || (alive != nil && !alive[inst]) {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		sum += max(0, n)
	}
	return sum
}
