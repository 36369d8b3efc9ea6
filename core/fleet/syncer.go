// Package fleet shares stick tables across the strata instances of a fleet
// through Redis.
//
// A shared table counts locally, on the request path, exactly as an
// unshared one (see core/stick's share.go); a Syncer per shared table
// exchanges what changed with Redis once per sync interval, in one
// pipeline, on its own goroutine:
//
//   - counters (conn_cnt, http_req_cnt, bytes, gpc, …): the events counted
//     here since the last sync are added to a fleet total (INCRBY), whose
//     reply gives the fleet's total back;
//   - rates: the same, into a counter per wall-clock period bucket
//     (now / period) that expires after two periods, so the fleet's rate is
//     HAProxy's sliding estimate over the last two buckets;
//   - conn_cur: each instance writes its own absolute value in a hash field
//     named after the instance; the fleet's value sums the fields of live
//     instances, so the share of an instance that stops is removed at once
//     and that of an instance that dies when its heartbeat goes stale;
//   - gpt tags: last writer wins.
//
// No request waits on Redis. When a sync fails, the events it carried go
// back to the entries' pending counts, the table is marked degraded (in
// /v1/tables, /metrics and the log), counting goes on locally, and the next
// successful sync merges everything.
//
// Keys, under the configured prefix (default "strata:"):
//
//	PREFIX t:TABLE:KEYHEX:TYPE          counter total (TYPE: http_req_cnt, gpc[1], …)
//	PREFIX t:TABLE:KEYHEX:TYPE:EPOCH    rate bucket, EPOCH = unix ms / period
//	PREFIX t:TABLE:KEYHEX:conn_cur      hash: instance → its conn_cur
//	PREFIX i:TABLE                      sorted set: instance → last heartbeat (unix ms)
//
// KEYHEX is the entry's key bytes as stored, in hexadecimal.
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
	rkey     string // PREFIX r:TABLE: Redis's incarnation, see repair
	keyTTL   time.Duration
	deadAft  time.Duration

	// Owned by the sync goroutine (or the caller of SyncOnce, one at a time).
	mu      sync.Mutex
	seen    string // the incarnation the last sync saw
	syncs   uint64 // syncs attempted, for incarnation candidates
	entries []*stick.Entry
	ops     []op
	keybuf  []byte

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
	d       int64 // events pushed
	cleared bool  // a counter reset first
	dirty   bool  // a tag pushed
	epoch   int64 // rates
	main    redis.Cmder
	prev    *redis.StringCmd // rates: the previous bucket
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
		rkey:    cfg.Redis.KeyPrefix + "r:" + d.Name,
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

// SyncOnce pushes the table's pending events and pulls the fleet's values
// of every entry it holds, in one pipeline. On failure nothing is lost: the
// events go back to the entries, to be pushed by the next sync.
func (s *Syncer) SyncOnce(ctx context.Context, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = s.t.Entries(s.entries)
	s.ops = s.ops[:0]
	pipe := s.rdb.Pipeline()
	nowMs := now.UnixMilli()
	// The incarnation marker: set once by whichever instance comes first,
	// it changes only when Redis lost its data (a restart without
	// persistence, a flush). Then every instance pushes its whole share
	// again (repair), so the fleet's totals come back.
	// A candidate is never offered twice: were an instance to set the same
	// value again after a loss, nobody would notice the loss.
	s.syncs++
	pipe.SetNX(ctx, s.rkey, s.instance+":"+strconv.FormatUint(s.syncs, 36), 0)
	incarnation := pipe.Get(ctx, s.rkey)
	pipe.ZAdd(ctx, s.ikey, redis.Z{Score: float64(nowMs), Member: s.instance})
	live := pipe.ZRangeByScore(ctx, s.ikey, &redis.ZRangeBy{Min: strconv.FormatInt(nowMs-s.deadAft.Milliseconds(), 10), Max: "+inf"})
	for _, e := range s.entries {
		sh := e.Share()
		if sh == nil {
			continue
		}
		dirty := sh.TakeDirty()
		for _, w := range s.words {
			o := op{e: e, w: w, epoch: -1}
			switch w.Kind() {
			case stick.ShareCounter:
				k := s.key(e, w, -1)
				o.d = sh.TakePending(w.Off)
				o.cleared = sh.TakeCleared(w.Off)
				if o.cleared {
					pipe.Set(ctx, k, 0, 0)
				}
				o.main = pipe.IncrBy(ctx, k, o.d)
				if (o.d != 0 || o.cleared) && s.keyTTL > 0 {
					pipe.PExpire(ctx, k, s.keyTTL)
				}
			case stick.ShareRate:
				o.epoch = stick.RateEpoch(w.Period, now)
				k := s.key(e, w, o.epoch)
				o.d = sh.TakePending(w.Off)
				o.main = pipe.IncrBy(ctx, k, o.d)
				if o.d != 0 {
					pipe.PExpire(ctx, k, 2*w.Period+time.Second)
				}
				o.prev = pipe.Get(ctx, s.key(e, w, o.epoch-1))
			case stick.ShareAbsolute:
				k := s.key(e, w, -1)
				pipe.HSet(ctx, k, s.instance, e.Local(w.Off))
				pipe.PExpire(ctx, k, max(s.keyTTL, s.deadAft))
				o.main = pipe.HGetAll(ctx, k)
			case stick.ShareTag:
				k := s.key(e, w, -1)
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
	// A cluster may answer some commands and not others: an operation
	// whose command failed gives its events back, the others count.
	var firstErr error
	alive := map[string]bool{}
	if err := live.Err(); err != nil {
		firstErr = err
	}
	for _, m := range live.Val() {
		alive[m] = true
	}
	lost := false
	if inc, err := incarnation.Result(); err == nil {
		lost = s.seen != "" && inc != s.seen
		s.seen = inc
	}
	var repairs []*op
	var gone []string // conn_cur hashes holding fields of dead instances
	for i := range s.ops {
		o := &s.ops[i]
		if err := o.main.Err(); err != nil && !errors.Is(err, redis.Nil) {
			firstErr = cmp.Or(firstErr, err)
			s.giveBack(o)
			continue
		}
		if lost {
			repairs = append(repairs, o)
		}
		if o.w.Kind() == stick.ShareAbsolute && live.Err() != nil {
			continue // without the live set, keep the last sum
		}
		gone = s.apply(o, alive, gone)
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
	if len(repairs) > 0 {
		s.log.Warn("Redis lost the shared table's values: pushing this instance's share again", "keys", len(repairs))
		if err := s.repair(ctx, repairs); err != nil {
			firstErr = cmp.Or(firstErr, err)
		}
	}
	if firstErr != nil {
		return fmt.Errorf("sync with redis: %w", firstErr)
	}
	return nil
}

// repair pushes again what this instance had pushed before Redis lost it:
// counter totals and the two current rate buckets (conn_cur is written
// whole at every sync anyway). The events of the sync that found the loss
// are already in, so only what was pushed before it is added.
func (s *Syncer) repair(ctx context.Context, ops []*op) error {
	pipe := s.rdb.Pipeline()
	for _, o := range ops {
		own := o.e.Share().Own[o.w.Off]
		switch o.w.Kind() {
		case stick.ShareCounter:
			if before := own.Total - o.d; before != 0 {
				k := s.key(o.e, o.w, -1)
				pipe.IncrBy(ctx, k, before)
				if s.keyTTL > 0 {
					pipe.PExpire(ctx, k, s.keyTTL)
				}
			}
		case stick.ShareRate:
			if before := own.Curr - o.d; before > 0 && own.Epoch == o.epoch {
				pipe.IncrBy(ctx, s.key(o.e, o.w, o.epoch), before)
				pipe.PExpire(ctx, s.key(o.e, o.w, o.epoch), 2*o.w.Period+time.Second)
			}
			if own.Prev > 0 {
				pipe.IncrBy(ctx, s.key(o.e, o.w, o.epoch-1), own.Prev)
				pipe.PExpire(ctx, s.key(o.e, o.w, o.epoch-1), o.w.Period+time.Second)
			}
		}
	}
	s.commands.Add(uint64(pipe.Len()))
	_, err := pipe.Exec(ctx)
	return err
}

// giveBack returns the events of an operation that failed to its entry.
func (s *Syncer) giveBack(o *op) {
	sh := o.e.Share()
	if o.d != 0 {
		sh.ReturnPending(o.w.Off, o.d)
	}
	if o.cleared {
		sh.ReturnCleared(o.w.Off)
	}
	if o.dirty {
		sh.ReturnDirty()
	}
}

// apply records the fleet's value that an operation returned. It appends
// to gone the (hash, field) pairs of dead instances it met.
func (s *Syncer) apply(o *op, alive map[string]bool, gone []string) []string {
	sh := o.e.Share()
	own := &sh.Own[o.w.Off]
	{
		switch o.w.Kind() {
		case stick.ShareCounter:
			if o.cleared {
				own.Total = 0
			}
			own.Total += o.d
			total := o.main.(*redis.IntCmd).Val()
			sh.SetOthers(o.w.Off, max(0, total-own.Total))
		case stick.ShareRate:
			switch own.Epoch {
			case o.epoch:
			case o.epoch - 1:
				own.Prev, own.Curr = own.Curr, 0
			default:
				own.Prev, own.Curr = 0, 0
			}
			own.Epoch = o.epoch
			own.Curr += o.d
			curr := o.main.(*redis.IntCmd).Val()
			prev, _ := o.prev.Int64() // redis.Nil: no bucket, 0
			sh.SetOthersRate(o.w.Off, o.epoch, max(0, curr-own.Curr), max(0, prev-own.Prev))
		case stick.ShareAbsolute:
			var sum int64
			for inst, v := range o.main.(*redis.MapStringStringCmd).Val() {
				if inst == s.instance {
					continue
				}
				if !alive[inst] {
					gone = append(gone, s.key(o.e, o.w, -1), inst)
					continue
				}
				n, _ := strconv.ParseInt(v, 10, 64)
				sum += max(0, n)
			}
			sh.SetOthers(o.w.Off, sum)
		case stick.ShareTag:
			if o.dirty {
				break
			}
			if v, err := o.main.(*redis.StringCmd).Uint64(); err == nil {
				o.e.SetFleetTag(o.w.Off, uint32(v))
			}
		}
	}
	return gone
}
