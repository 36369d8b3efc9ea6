;; A plugin that takes all the memory it may: its fetch "grow_touch" grows
;; linear memory one page at a time, writing to every 4 KiB of each new
;; page so that the pages are really resident, until memory.grow fails
;; (memory_limit), then traps. "touch_forever" writes to its first page
;; until its call is stopped.
(module
  (import "strata_v1" "register_fetch"
    (func $register_fetch (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "grow_touch")
  (data (i32.const 16) "touch_forever")
  (func (export "strata_abi_v1"))
  (func (export "strata_init") (result i32)
    (drop (call $register_fetch (i32.const 1) (i32.const 16) (i32.const 13)
      (i32.const 0) (i32.const 2) (i32.const 0) (i32.const 0) (i32.const 0)))
    (call $register_fetch (i32.const 0) (i32.const 0) (i32.const 10)
      (i32.const 0) (i32.const 2) (i32.const 0) (i32.const 0) (i32.const 0)))
  (func (export "strata_fetch") (param $ctx i32) (param $layers i32) (param $id i32) (result i32)
    (local $page i32) (local $p i32) (local $end i32)
    (if (i32.eq (local.get $id) (i32.const 1))
      (then
        (loop $forever
          (i32.store (i32.const 1024) (i32.add (i32.load (i32.const 1024)) (i32.const 1)))
          (br $forever))))
    (loop $grow
      (local.set $page (memory.grow (i32.const 1)))
      (if (i32.eq (local.get $page) (i32.const -1)) (then unreachable))
      (local.set $p (i32.shl (local.get $page) (i32.const 16)))
      (local.set $end (i32.add (local.get $p) (i32.const 65536)))
      (loop $touch
        (i32.store8 (local.get $p) (i32.const 1))
        (local.set $p (i32.add (local.get $p) (i32.const 4096)))
        (br_if $touch (i32.lt_u (local.get $p) (local.get $end))))
      (br $grow))
    (i32.const 0)))
