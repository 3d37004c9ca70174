//! `wes run --profile FILE.svg` / `--profile-folded FILE.txt`: the call's gas per stack of
//! functions, as a flame graph (through `inferno`, the Rust port of flamegraph.pl) and in the
//! folded format other tools read. An unmetered run has no gas to weigh, so its stacks are
//! weighed by time (nanoseconds) instead, and the graph says so.

use std::path::Path;

/// Writes the profile's folded stacks and flame graph where asked.
pub(crate) fn write(profile: &wes::GasProfile, svg: Option<&Path>, folded: Option<&Path>) -> Result<(), String> {
    let by_gas = profile.total_gas() > 0;
    let lines = if by_gas {
        profile.folded()
    } else {
        let mut out = String::new();
        for (stack, _, time) in &profile.stacks {
            let nanos = time.as_nanos();
            if nanos > 0 {
                out.push_str(&format!("{} {nanos}\n", stack.join(";")));
            }
        }
        out
    };
    if let Some(path) = folded {
        std::fs::write(path, &lines).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if let Some(path) = svg {
        let file = std::fs::File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        let mut options = inferno::flamegraph::Options::default();
        options.title = if by_gas { "Gas by function".into() } else { "Time by function (unmetered)".into() };
        options.count_name = if by_gas { "gas".into() } else { "ns".into() };
        inferno::flamegraph::from_lines(&mut options, lines.lines(), std::io::BufWriter::new(file))
            .map_err(|e| format!("cannot draw the flame graph: {e}"))?;
    }
    Ok(())
}
