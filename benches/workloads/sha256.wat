;; Workload 3: SHA-256 (FIPS 180-4) over a few MiB of linear memory, padding included.
;; Memory layout: K (64 round constants) at 0, the initial hash value at 256, the running state
;; at 288, the message schedule W at 512, a 128-byte padding buffer at 768, the message at 65536.
;; `fill` writes a deterministic message (xorshift64 bytes); `hash` returns the first 8 bytes of
;; the digest as a big-endian i64.
(module
  (memory (export "memory") 80)  ;; 5 MiB: room for a 4 MiB message
  (data (i32.const 0) "\98\2f\8a\42\91\44\37\71\cf\fb\c0\b5\a5\db\b5\e9\5b\c2\56\39\f1\11\f1\59\a4\82\3f\92\d5\5e\1c\ab\98\aa\07\d8\01\5b\83\12\be\85\31\24\c3\7d\0c\55\74\5d\be\72\fe\b1\de\80\a7\06\dc\9b\74\f1\9b\c1\c1\69\9b\e4\86\47\be\ef\c6\9d\c1\0f\cc\a1\0c\24\6f\2c\e9\2d\aa\84\74\4a\dc\a9\b0\5c\da\88\f9\76\52\51\3e\98\6d\c6\31\a8\c8\27\03\b0\c7\7f\59\bf\f3\0b\e0\c6\47\91\a7\d5\51\63\ca\06\67\29\29\14\85\0a\b7\27\38\21\1b\2e\fc\6d\2c\4d\13\0d\38\53\54\73\0a\65\bb\0a\6a\76\2e\c9\c2\81\85\2c\72\92\a1\e8\bf\a2\4b\66\1a\a8\70\8b\4b\c2\a3\51\6c\c7\19\e8\92\d1\24\06\99\d6\85\35\0e\f4\70\a0\6a\10\16\c1\a4\19\08\6c\37\1e\4c\77\48\27\b5\bc\b0\34\b3\0c\1c\39\4a\aa\d8\4e\4f\ca\9c\5b\f3\6f\2e\68\ee\82\8f\74\6f\63\a5\78\14\78\c8\84\08\02\c7\8c\fa\ff\be\90\eb\6c\50\a4\f7\a3\f9\be\f2\78\71\c6")
  (data (i32.const 256) "\67\e6\09\6a\85\ae\67\bb\72\f3\6e\3c\3a\f5\4f\a5\7f\52\0e\51\8c\68\05\9b\ab\d9\83\1f\19\cd\e0\5b")

  (func $bswap (param $x i32) (result i32)
    (i32.or
      (i32.and (i32.rotl (local.get $x) (i32.const 8)) (i32.const 0x00ff00ff))
      (i32.and (i32.rotr (local.get $x) (i32.const 8)) (i32.const 0xff00ff00))))

  ;; One 64-byte block at $p into the state at 288.
  (func $compress (param $p i32)
    (local $i i32) (local $w15 i32) (local $w2 i32) (local $t1 i32) (local $t2 i32)
    (local $a i32) (local $b i32) (local $c i32) (local $d i32)
    (local $e i32) (local $f i32) (local $g i32) (local $h i32)
    ;; W[0..16]: the block's big-endian words
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.const 64)))
        (i32.store offset=512 (local.get $i)
          (call $bswap (i32.load (i32.add (local.get $p) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $next)))
    ;; W[16..64]
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.const 256)))
        (local.set $w15 (i32.load offset=452 (local.get $i)))  ;; W[t-15]
        (local.set $w2 (i32.load offset=504 (local.get $i)))   ;; W[t-2]
        (i32.store offset=512 (local.get $i)
          (i32.add
            (i32.add
              (i32.load offset=448 (local.get $i))                ;; W[t-16]
              (i32.xor (i32.xor (i32.rotr (local.get $w15) (i32.const 7))
                                (i32.rotr (local.get $w15) (i32.const 18)))
                       (i32.shr_u (local.get $w15) (i32.const 3))))
            (i32.add
              (i32.load offset=484 (local.get $i))                ;; W[t-7]
              (i32.xor (i32.xor (i32.rotr (local.get $w2) (i32.const 17))
                                (i32.rotr (local.get $w2) (i32.const 19)))
                       (i32.shr_u (local.get $w2) (i32.const 10))))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $next)))
    (local.set $a (i32.load (i32.const 288)))
    (local.set $b (i32.load (i32.const 292)))
    (local.set $c (i32.load (i32.const 296)))
    (local.set $d (i32.load (i32.const 300)))
    (local.set $e (i32.load (i32.const 304)))
    (local.set $f (i32.load (i32.const 308)))
    (local.set $g (i32.load (i32.const 312)))
    (local.set $h (i32.load (i32.const 316)))
    (local.set $i (i32.const 0))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.const 256)))
        ;; T1 = h + Σ1(e) + Ch(e, f, g) + K[t] + W[t]
        (local.set $t1
          (i32.add
            (i32.add
              (i32.add (local.get $h)
                (i32.xor (i32.xor (i32.rotr (local.get $e) (i32.const 6))
                                  (i32.rotr (local.get $e) (i32.const 11)))
                         (i32.rotr (local.get $e) (i32.const 25))))
              (i32.xor (i32.and (local.get $e) (local.get $f))
                       (i32.and (i32.xor (local.get $e) (i32.const -1)) (local.get $g))))
            (i32.add (i32.load (local.get $i)) (i32.load offset=512 (local.get $i)))))
        ;; T2 = Σ0(a) + Maj(a, b, c)
        (local.set $t2
          (i32.add
            (i32.xor (i32.xor (i32.rotr (local.get $a) (i32.const 2))
                              (i32.rotr (local.get $a) (i32.const 13)))
                     (i32.rotr (local.get $a) (i32.const 22)))
            (i32.xor (i32.xor (i32.and (local.get $a) (local.get $b))
                              (i32.and (local.get $a) (local.get $c)))
                     (i32.and (local.get $b) (local.get $c)))))
        (local.set $h (local.get $g))
        (local.set $g (local.get $f))
        (local.set $f (local.get $e))
        (local.set $e (i32.add (local.get $d) (local.get $t1)))
        (local.set $d (local.get $c))
        (local.set $c (local.get $b))
        (local.set $b (local.get $a))
        (local.set $a (i32.add (local.get $t1) (local.get $t2)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $next)))
    (i32.store (i32.const 288) (i32.add (i32.load (i32.const 288)) (local.get $a)))
    (i32.store (i32.const 292) (i32.add (i32.load (i32.const 292)) (local.get $b)))
    (i32.store (i32.const 296) (i32.add (i32.load (i32.const 296)) (local.get $c)))
    (i32.store (i32.const 300) (i32.add (i32.load (i32.const 300)) (local.get $d)))
    (i32.store (i32.const 304) (i32.add (i32.load (i32.const 304)) (local.get $e)))
    (i32.store (i32.const 308) (i32.add (i32.load (i32.const 308)) (local.get $f)))
    (i32.store (i32.const 312) (i32.add (i32.load (i32.const 312)) (local.get $g)))
    (i32.store (i32.const 316) (i32.add (i32.load (i32.const 316)) (local.get $h))))

  ;; Writes $len bytes of xorshift64 output at 65536 ($len a multiple of 8).
  (func (export "fill") (param $len i32)
    (local $p i32) (local $x i64)
    (local.set $x (i64.const 0x2545f4914f6cdd1d))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $len)))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
        (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
        (i64.store offset=65536 (local.get $p) (local.get $x))
        (local.set $p (i32.add (local.get $p) (i32.const 8)))
        (br $next))))

  ;; SHA-256 of the $len bytes at 65536.
  (func (export "hash") (param $len i32) (result i64)
    (local $p i32) (local $end i32) (local $tail i32) (local $padded i32)
    (memory.copy (i32.const 288) (i32.const 256) (i32.const 32))
    (local.set $p (i32.const 65536))
    (local.set $end
      (i32.add (i32.const 65536) (i32.and (local.get $len) (i32.const -64))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (call $compress (local.get $p))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (br $next)))
    ;; Padding: the tail, 0x80, zeros, then the bit length as a big-endian u64, in one block
    ;; if the tail leaves 9 bytes free, else two.
    (local.set $tail (i32.and (local.get $len) (i32.const 63)))
    (local.set $padded (select (i32.const 64) (i32.const 128)
      (i32.lt_u (local.get $tail) (i32.const 56))))
    (memory.fill (i32.const 768) (i32.const 0) (i32.const 128))
    (memory.copy (i32.const 768) (local.get $end) (local.get $tail))
    (i32.store8 offset=768 (local.get $tail) (i32.const 0x80))
    (i32.store offset=760 (local.get $padded)
      (call $bswap (i32.shr_u (local.get $len) (i32.const 29))))
    (i32.store offset=764 (local.get $padded)
      (call $bswap (i32.shl (local.get $len) (i32.const 3))))
    (call $compress (i32.const 768))
    (if (i32.eq (local.get $padded) (i32.const 128))
      (then (call $compress (i32.const 832))))
    (i64.or
      (i64.shl (i64.extend_i32_u (i32.load (i32.const 288))) (i64.const 32))
      (i64.extend_i32_u (i32.load (i32.const 292))))))
