;; Exercises every place a function index appears, behind one function
;; import, so that the instrumenter's index shift shows in results: calls,
;; return calls, ref.func in code, globals and element expressions, active
;; and passive element segments, exports, the start function. The loops
;; and the recursion give the check function something to count.
(module
  (import "env" "add" (func $add (param i32 i32) (result i32)))
  (import "envmem" "mem" (memory 1))
  (import "envmem" "base" (global $base i32))
  (type $unary (func (param i32) (result i32)))
  (table $t 8 funcref)
  (global $started (mut i32) (i32.const 0))
  (global $fref funcref (ref.func $double))
  (elem (i32.const 0) $double $square)
  (elem $passive funcref (ref.func $fib) (ref.null func))
  (elem declare func $twice)
  (func $double (type $unary) (i32.mul (local.get 0) (i32.const 2)))
  (func $square (type $unary) (i32.mul (local.get 0) (local.get 0)))
  (func $twice (type $unary) (call $double (call $double (local.get 0))))
  (func $fib (export "fib") (type $unary)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (call $add
        (call $fib (i32.sub (local.get 0) (i32.const 1)))
        (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  ;; sum of i for i < n, plus $base, with a nested loop and br_table
  (func $sum (export "sum") (param $n i32) (result i32) (local $i i32) (local $acc i32)
    (local.set $acc (global.get $base))
    (block $out
      (loop $top
        (br_if $out (i32.ge_u (local.get $i) (local.get $n)))
        (block $a (block $b
          (br_table $a $b (i32.and (local.get $i) (i32.const 1)))))
        (local.set $acc (i32.add (local.get $acc) (local.get $i)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $top)))
    (local.get $acc))
  (func $indirect (export "indirect") (param i32) (result i32)
    (table.init $t $passive (i32.const 4) (i32.const 0) (i32.const 2))
    (table.set $t (i32.const 5) (ref.func $twice))
    (i32.add
      (i32.add (call_indirect (type $unary) (local.get 0) (i32.const 0))
               (call_indirect (type $unary) (local.get 0) (i32.const 1)))
      (i32.add (call_indirect (type $unary) (i32.const 10) (i32.const 4))
               (call_indirect (type $unary) (local.get 0) (i32.const 5)))))
  (func $via_global (export "via_global") (param i32) (result i32)
    (table.set $t (i32.const 6) (global.get $fref))
    (call_indirect (type $unary) (local.get 0) (i32.const 6)))
  (func $tail (export "tail") (param i32) (result i32)
    (return_call $square (local.get 0)))
  (func $bulk (export "bulk") (result i32)
    (memory.fill (i32.const 0) (i32.const 7) (i32.const 16))
    (memory.copy (i32.const 100) (i32.const 0) (i32.const 16))
    (i32.load8_u offset=15 (i32.const 100)))
  (func $spin (export "spin") (loop $l (br $l)))
  (func $endless (export "endless") (param i32) (result i32)
    ;; fans out 2^n calls, n deep: no loop at all
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 1))
      (else (i32.add (call $endless (i32.sub (local.get 0) (i32.const 1)))
                     (call $endless (i32.sub (local.get 0) (i32.const 1)))))))
  (func $start (global.set $started (i32.const 1)))
  (func $started (export "started") (result i32) (global.get $started))
  (start $start))
