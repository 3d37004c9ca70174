//! Exits: the trap blocks every trap condition branches to, and the returns of a body.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{self, BlockArg, InstBuilder, Value, types};
use wes_core::TrapCode;

use super::Translator;

impl Translator<'_, '_> {
    pub(super) fn trap_block(&mut self, code: Option<TrapCode>) -> ir::Block {
        if let Some(b) = self.trap_blocks.get(&code) {
            return *b;
        }
        let b = self.builder.create_block();
        // The module offset of the trapping instruction, for the backtrace.
        self.builder.append_block_param(b, types::I32);
        self.trap_blocks.insert(code, b);
        b
    }

    /// The current instruction's module offset, as an argument for a trap block.
    pub(super) fn offset_arg(&mut self) -> BlockArg {
        BlockArg::Value(self.builder.ins().iconst(types::I32, i64::from(self.offset)))
    }

    /// Branches to the trap block of `code` when `cond` is non-zero, and continues otherwise.
    pub(super) fn trap_if(&mut self, cond: Value, code: TrapCode) {
        self.branch_trap_if(cond, Some(code));
    }

    pub(super) fn branch_trap_if(&mut self, cond: Value, code: Option<TrapCode>) {
        // Each site branches to a cold stub of its own that passes the offset on, so the hot
        // path does not materialise the offset before every check.
        let trap = self.trap_block(code);
        let stub = self.builder.create_block();
        let cont = self.builder.create_block();
        self.builder.ins().brif(cond, stub, &[], cont, &[]);
        self.builder.switch_to_block(stub);
        self.builder.set_cold_block(stub);
        let at = self.offset_arg();
        self.builder.ins().jump(trap, &[at]);
        self.builder.switch_to_block(cont);
    }

    /// Propagates a trap when a callee or libcall returned status zero.
    pub(super) fn check_status(&mut self, status: Value) {
        let failed = self.builder.ins().icmp_imm_s(IntCC::Equal, status, 0);
        self.branch_trap_if(failed, None);
    }

    /// Returns `status` with the gas left and `results` (zeros of the result types when `None`:
    /// on a trap or a pending tail call the caller ignores them).
    pub(super) fn return_with(&mut self, status: u8, results: Option<&[Value]>) {
        let mut rets = vec![self.builder.ins().iconst(types::I8, i64::from(status))];
        if let Some(var) = self.gas {
            rets.push(self.builder.use_var(var));
        }
        match results {
            Some(r) => rets.extend_from_slice(r),
            None => {
                for t in self.result_types.clone() {
                    let z = self.zero(t);
                    rets.push(z);
                }
            }
        }
        self.builder.ins().return_(&rets);
    }
}
