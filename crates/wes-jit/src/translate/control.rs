//! Structured control flow: the control stack's frames, block signatures, branch targets and
//! `end`.

use cranelift_codegen::ir::{self, BlockArg, InstBuilder, Type, Value};
use wasmparser::BlockType;
use wes_core::CompileError;

use super::{Translator, ir_type, wasm_val_type};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Block,
    Loop,
    If,
}

pub(super) struct Frame {
    pub(super) kind: Kind,
    /// Where `br` to this frame goes: the loop header for loops, `next` otherwise.
    pub(super) br_dest: ir::Block,
    /// The block after `end`, with the results as parameters.
    pub(super) next: ir::Block,
    pub(super) num_params: usize,
    pub(super) num_results: usize,
    /// Operand-stack height below this frame's parameters.
    pub(super) height: usize,
    /// Whether anything branches or falls through to `next`.
    pub(super) next_reached: bool,
    /// For `if`: the else block, and the parameters to give it, until `else` is seen.
    pub(super) else_block: Option<(ir::Block, Vec<Value>)>,
    /// How many bounds facts held when the frame was entered (see `memory::BoundsFacts`):
    /// the ones learnt inside it do not hold after its `end`, nor in its `else`.
    pub(super) facts: usize,
}

impl Translator<'_, '_> {
    pub(super) fn block_sig(&self, bt: BlockType) -> Result<(Vec<Type>, Vec<Type>), CompileError> {
        let fi = self.func_index;
        Ok(match bt {
            BlockType::Empty => (vec![], vec![]),
            BlockType::Type(t) => (vec![], vec![ir_type(wasm_val_type(t, fi)?, fi)?]),
            BlockType::FuncType(idx) => {
                let ft = self.module.types.get(idx as usize).ok_or_else(|| self.err("block type out of range"))?;
                let p = ft.params().iter().map(|t| ir_type(*t, fi)).collect::<Result<Vec<_>, _>>()?;
                let r = ft.results().iter().map(|t| ir_type(*t, fi)).collect::<Result<Vec<_>, _>>()?;
                (p, r)
            }
        })
    }

    pub(super) fn block_with_params(&mut self, tys: &[Type]) -> ir::Block {
        let b = self.builder.create_block();
        for t in tys {
            self.builder.append_block_param(b, *t);
        }
        b
    }

    /// Switches to `block`, whose predecessors are all in place, and seals it. Sealing as
    /// soon as possible lets the SSA builder read a variable through a block's only
    /// predecessor instead of giving the block a parameter to remove later, so the same wasm
    /// local read on a straight path is the same SSA value (which bounds facts are keyed on,
    /// see `memory::BoundsFacts`), and there is less for Cranelift to clean up.
    pub(super) fn seal_and_switch(&mut self, block: ir::Block) {
        self.builder.seal_block(block);
        self.builder.switch_to_block(block);
    }

    pub(super) fn jump(&mut self, dest: ir::Block, args: &[Value]) {
        let args: Vec<BlockArg> = args.iter().map(|v| BlockArg::Value(*v)).collect();
        self.builder.ins().jump(dest, &args);
    }

    /// The frame `depth` levels out, and the values a branch to it carries.
    pub(super) fn branch_target(&mut self, depth: u32) -> Result<(ir::Block, usize), CompileError> {
        let i =
            self.frames.len().checked_sub(1 + depth as usize).ok_or_else(|| self.err("branch depth out of range"))?;
        let f = &mut self.frames[i];
        if f.kind == Kind::Loop {
            Ok((f.br_dest, f.num_params))
        } else {
            f.next_reached = true;
            Ok((f.br_dest, f.num_results))
        }
    }

    /// Handles `end` of the innermost frame.
    pub(super) fn end(&mut self) -> Result<(), CompileError> {
        let mut frame = self.frames.pop().ok_or_else(|| self.err("`end` without a block"))?;
        self.bounds.forget_since(frame.facts);
        if self.reachable {
            let results = self.popn(frame.num_results)?;
            self.jump(frame.next, &results);
            frame.next_reached = true;
        }
        if let Some((else_block, params)) = frame.else_block.take() {
            // An `if` without `else`: the missing branch passes its parameters through.
            self.builder.switch_to_block(else_block);
            self.jump(frame.next, &params);
            frame.next_reached = true;
        }
        self.stack.truncate(frame.height);
        if self.frames.is_empty() {
            // The function's own block: `next` is the return block, handled by the caller.
            return Ok(());
        }
        if frame.kind == Kind::Loop {
            // Every branch back to the header is inside the loop, so all are in place now.
            self.builder.seal_block(frame.br_dest);
        }
        if frame.next_reached {
            // Only code inside the frame can branch to its end.
            self.seal_and_switch(frame.next);
            let params = self.builder.block_params(frame.next).to_vec();
            self.stack.extend(params);
            self.reachable = true;
        } else {
            self.reachable = false;
        }
        Ok(())
    }
}
