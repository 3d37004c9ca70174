//! The loop's dispatch: the `match` arms generated from the op lists of `crate::code`.

/// The loop's `match` over ops: the arms written in the loop, then the ops of
/// `for_each_fast_op`, running `$fast!(operator, stack move, result slot, a, b)`. Optimised
/// builds give each op an arm with its operator a constant, so the arm compiles to that
/// operator's code alone; debug builds share one arm per form, which reads the operator from
/// the op, since an unoptimised build gives every arm its own stack slots and the loop's frame
/// would pass its bound (`MAX_NATIVE_FRAME`).
macro_rules! dispatch {
    ([$op:ident, $fast:ident, $brc:ident, $c:ident, $fp:ident, { $($arms:tt)* }, $( $bk:ident => $bss:ident, $bsi:ident; )*]
     $( $kind:ident => $ss:ident, $si:ident; )*) => {
        match *$op {
            $($arms)*
            $(
                #[cfg(not(debug_assertions))]
                Op::$bss { sp: ds, a, b, t } => {
                    $brc!(crate::num::NumOp::$bk, ds, $c!(a as usize), $c!(b as usize), t)
                }
                #[cfg(not(debug_assertions))]
                Op::$bsi { sp: ds, a, imm, t } => {
                    $brc!(crate::num::NumOp::$bk, ds, $c!(a as usize), imm as i64 as u64, t)
                }
            )*
            #[cfg(debug_assertions)]
            $( Op::$bss { sp: ds, a, b, t } )|* => {
                if let Some(n) = $op.branch_kind() {
                    $brc!(n, ds, $c!(a as usize), $c!(b as usize), t)
                }
            }
            #[cfg(debug_assertions)]
            $( Op::$bsi { sp: ds, a, imm, t } )|* => {
                if let Some(n) = $op.branch_kind() {
                    $brc!(n, ds, $c!(a as usize), imm as i64 as u64, t)
                }
            }
            $(
                #[cfg(not(debug_assertions))]
                Op::$ss { sp: ds, d, a, b } => {
                    $fast!(crate::num::NumOp::$kind, ds, d, $c!(a as usize), $c!(b as usize))
                }
                #[cfg(not(debug_assertions))]
                Op::$si { sp: ds, d, a, imm } => $fast!(crate::num::NumOp::$kind, ds, d, $c!(a as usize), imm),
            )*
            #[cfg(debug_assertions)]
            $( Op::$ss { sp: ds, d, a, b } )|* => {
                if let Some(n) = $op.fast_kind() {
                    $fast!(n, ds, d, $c!(a as usize), $c!(b as usize))
                }
            }
            #[cfg(debug_assertions)]
            $( Op::$si { sp: ds, d, a, imm } )|* => {
                if let Some(n) = $op.fast_kind() {
                    $fast!(n, ds, d, $c!(a as usize), imm)
                }
            }
        }
    };
}

/// Passes the list of `for_each_branch_cmp` on to [`dispatch`] with that of
/// `for_each_fast_op`.
macro_rules! dispatch_with_branches {
    ([$op:ident, $fast:ident, $brc:ident, $c:ident, $fp:ident, { $($arms:tt)* }] $( $bk:ident => $bss:ident, $bsi:ident; )*) => {
        for_each_fast_op!(dispatch, $op, $fast, $brc, $c, $fp, { $($arms)* }, $( $bk => $bss, $bsi; )*)
    };
}
