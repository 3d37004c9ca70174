//! The few WASI imports the real-world modules (C compiled against wasi-libc) declare, for
//! every runtime: `fd_close`, `fd_seek`, `fd_write` and `proc_exit`.
//!
//! They come from wasi-libc's stdio and `exit`, linked in because cJSON's number printing uses
//! `snprintf`; the workloads never print or exit, so the host is minimal and deterministic:
//! there is no open file (the fd calls answer `EBADF`), and `proc_exit` ends the call with an
//! error, which the harness reports rather than times.

use anyhow::{Result, anyhow};

/// The module the imports come from.
const MODULE: &str = "wasi_snapshot_preview1";

/// WASI's `errno::badf`: no such open file descriptor.
const EBADF: i32 = 8;

fn exit_message(code: i32) -> String {
    format!("the module called proc_exit({code})")
}

pub fn link_wes(linker: &mut wes_runtime::Linker) {
    use wes_runtime::{Caller, HostError};
    linker
        .func_wrap(MODULE, "fd_close", |_: &mut Caller<'_>, (_fd,): (i32,)| -> Result<i32, HostError> { Ok(EBADF) })
        .func_wrap(
            MODULE,
            "fd_seek",
            |_: &mut Caller<'_>, (_fd, _offset, _whence, _out): (i32, i64, i32, i32)| -> Result<i32, HostError> {
                Ok(EBADF)
            },
        )
        .func_wrap(
            MODULE,
            "fd_write",
            |_: &mut Caller<'_>, (_fd, _iovs, _len, _out): (i32, i32, i32, i32)| -> Result<i32, HostError> {
                Ok(EBADF)
            },
        )
        .func_wrap(MODULE, "proc_exit", |_: &mut Caller<'_>, (code,): (i32,)| -> Result<(), HostError> {
            Err(HostError::new(exit_message(code)))
        });
}

pub fn link_wasmtime(linker: &mut wasmtime::Linker<()>) -> Result<()> {
    linker.func_wrap(MODULE, "fd_close", |_fd: i32| -> i32 { EBADF }).map_err(|e| anyhow!("{e:#}"))?;
    linker
        .func_wrap(MODULE, "fd_seek", |_fd: i32, _offset: i64, _whence: i32, _out: i32| -> i32 { EBADF })
        .map_err(|e| anyhow!("{e:#}"))?;
    linker
        .func_wrap(MODULE, "fd_write", |_fd: i32, _iovs: i32, _len: i32, _out: i32| -> i32 { EBADF })
        .map_err(|e| anyhow!("{e:#}"))?;
    linker
        .func_wrap(MODULE, "proc_exit", |code: i32| -> wasmtime::Result<()> {
            Err(wasmtime::Error::msg(exit_message(code)))
        })
        .map_err(|e| anyhow!("{e:#}"))?;
    Ok(())
}

pub fn link_wasmi(linker: &mut wasmi::Linker<()>) -> Result<()> {
    linker.func_wrap(MODULE, "fd_close", |_fd: i32| -> i32 { EBADF }).map_err(|e| anyhow!("{e}"))?;
    linker
        .func_wrap(MODULE, "fd_seek", |_fd: i32, _offset: i64, _whence: i32, _out: i32| -> i32 { EBADF })
        .map_err(|e| anyhow!("{e}"))?;
    linker
        .func_wrap(MODULE, "fd_write", |_fd: i32, _iovs: i32, _len: i32, _out: i32| -> i32 { EBADF })
        .map_err(|e| anyhow!("{e}"))?;
    linker
        .func_wrap(MODULE, "proc_exit", |code: i32| -> Result<(), wasmi::Error> {
            Err(wasmi::Error::new(exit_message(code)))
        })
        .map_err(|e| anyhow!("{e}"))?;
    Ok(())
}
