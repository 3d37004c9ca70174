//! Binary modules of a chosen shape: exactly `n` of the quantity one [`Limit`] bounds, and
//! as little as possible of everything else. Written by hand rather than through `wat`,
//! because the limits of the presets reach a million items.
//!
//! Shared with `wes-security`'s preset tests (included there by path), so both crates test
//! their limits against the same modules.

use wes_decode::Limit;

fn leb(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn leb_len(v: u64) -> u64 {
    let mut out = Vec::new();
    leb(v, &mut out);
    out.len() as u64
}

/// A module under construction: sections in order.
struct Wasm(Vec<u8>);

impl Wasm {
    fn new() -> Self {
        Wasm(b"\0asm\x01\0\0\0".to_vec())
    }

    fn section(&mut self, id: u8, count: u64, items: &[u8]) -> &mut Self {
        let mut content = Vec::with_capacity(items.len() + 5);
        leb(count, &mut content);
        content.extend_from_slice(items);
        self.raw_section(id, &content)
    }

    fn raw_section(&mut self, id: u8, content: &[u8]) -> &mut Self {
        self.0.push(id);
        leb(content.len() as u64, &mut self.0);
        self.0.extend_from_slice(content);
        self
    }

    /// One type, `(func)`.
    fn one_type(&mut self) -> &mut Self {
        self.section(1, 1, &[0x60, 0, 0])
    }

    /// One function of type 0 with the given body (locals and operators, without the size).
    fn one_function(&mut self, body: &[u8]) -> &mut Self {
        self.section(3, 1, &[0]);
        let mut entry = Vec::with_capacity(body.len() + 5);
        leb(body.len() as u64, &mut entry);
        entry.extend_from_slice(body);
        self.section(10, 1, &entry)
    }

    fn finish(&self) -> Vec<u8> {
        self.0.clone()
    }
}

/// `n` items, each encoded by `item(i)`.
fn items(n: u64, mut item: impl FnMut(u64, &mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        item(i, &mut out);
    }
    out
}

fn name(i: u64, out: &mut Vec<u8>) {
    let s = i.to_string();
    leb(s.len() as u64, out);
    out.extend_from_slice(s.as_bytes());
}

/// A valid module with exactly `n` of what `limit` bounds. `n` must be at least the least
/// such a module can have (1 for the sizes of a body, 10 for module bytes).
pub(crate) fn shape(limit: Limit, n: u64) -> Vec<u8> {
    let mut w = Wasm::new();
    match limit {
        Limit::ModuleBytes => {
            // Header 8 bytes, then a custom section (id, size, name "x", padding) of exactly
            // the rest: find the padding whose size field has the length assumed for it.
            let pad = (1..=10)
                .find_map(|size_len| {
                    let pad = n.checked_sub(8 + 1 + size_len + 2)?;
                    (leb_len(2 + pad) == size_len).then_some(pad)
                })
                .unwrap_or_else(|| panic!("no module of exactly {n} bytes"));
            let mut content = vec![1, b'x'];
            content.resize(content.len() + pad as usize, 0);
            w.raw_section(0, &content);
        }
        Limit::Types => {
            w.section(1, n, &items(n, |_, o| o.extend_from_slice(&[0x60, 0, 0])));
        }
        Limit::Functions => {
            w.one_type();
            w.section(3, n, &items(n, |_, o| o.push(0)));
            w.section(10, n, &items(n, |_, o| o.extend_from_slice(&[2, 0, 0x0b])));
        }
        Limit::Imports => {
            w.one_type();
            w.section(
                2,
                n,
                &items(n, |i, o| {
                    o.extend_from_slice(&[1, b'm']);
                    name(i, o);
                    o.extend_from_slice(&[0x00, 0]);
                }),
            );
        }
        Limit::Exports => {
            w.one_type();
            w.section(3, 1, &[0]);
            w.section(
                7,
                n,
                &items(n, |i, o| {
                    name(i, o);
                    o.extend_from_slice(&[0x00, 0]);
                }),
            );
            w.section(10, 1, &[2, 0, 0x0b]);
        }
        Limit::Globals => {
            w.section(6, n, &items(n, |_, o| o.extend_from_slice(&[0x7f, 0, 0x41, 0, 0x0b])));
        }
        Limit::Tables => {
            w.section(4, n, &items(n, |_, o| o.extend_from_slice(&[0x70, 0, 0])));
        }
        Limit::Memories => {
            w.section(5, n, &items(n, |_, o| o.extend_from_slice(&[0, 0])));
        }
        Limit::DataSegments => {
            w.section(11, n, &items(n, |_, o| o.extend_from_slice(&[1, 0])));
        }
        Limit::ElementSegments => {
            w.section(9, n, &items(n, |_, o| o.extend_from_slice(&[1, 0, 0])));
        }
        Limit::LocalsPerFunction => {
            w.one_type();
            let mut body = vec![1];
            leb(n, &mut body);
            body.extend_from_slice(&[0x7f, 0x0b]);
            w.one_function(&body);
        }
        Limit::Params | Limit::Results => {
            let mut ty = vec![0x60];
            let (params, results) = if limit == Limit::Params { (n, 0) } else { (0, n) };
            leb(params, &mut ty);
            ty.resize(ty.len() + params as usize, 0x7f);
            leb(results, &mut ty);
            ty.resize(ty.len() + results as usize, 0x7f);
            w.section(1, 1, &ty);
        }
        Limit::BodyBytes => {
            assert!(n >= 2);
            let mut body = vec![0];
            body.resize(n as usize - 1, 0x01);
            body.push(0x0b);
            w.one_type();
            w.one_function(&body);
        }
        Limit::OperatorsPerFunction => {
            assert!(n >= 1);
            let mut body = vec![0];
            body.resize(n as usize, 0x01);
            body.push(0x0b);
            w.one_type();
            w.one_function(&body);
        }
        Limit::NestingDepth => {
            let mut body = vec![0];
            body.extend(std::iter::repeat_n([0x02, 0x40], n as usize).flatten());
            body.resize(body.len() + n as usize, 0x0b);
            body.push(0x0b);
            w.one_type();
            w.one_function(&body);
        }
        Limit::BrTableTargets => {
            let mut body = vec![0, 0x02, 0x40, 0x41, 0, 0x0e];
            leb(n, &mut body);
            body.resize(body.len() + n as usize, 0);
            body.extend_from_slice(&[0, 0x0b, 0x0b]);
            w.one_type();
            w.one_function(&body);
        }
        Limit::MemoryPages => {
            let mut mem = vec![0];
            leb(n, &mut mem);
            w.section(5, 1, &mem);
        }
        Limit::TableElements => {
            let mut table = vec![0x70, 0];
            leb(n, &mut table);
            w.section(4, 1, &table);
        }
        Limit::CustomSectionBytes => {
            // The section's content: name length, name "x", payload.
            assert!(n >= 2);
            let mut content = vec![1, b'x'];
            content.resize(n as usize, 0);
            w.raw_section(0, &content);
        }
        other => panic!("no shape for {other:?}"),
    }
    w.finish()
}
