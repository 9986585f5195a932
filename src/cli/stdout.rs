//! Printing to stdout: when the reader goes away (`hookbox payload ... |
//! head -1`), the command ends quietly with [`exit_code::CLOSED_PIPE`], as
//! `cat` does, instead of panicking.

use std::fmt;
use std::io::{self, Write};

use crate::exit_code;

/// Writes `text` to stdout and flushes it; a closed pipe ends the process.
pub fn write(text: fmt::Arguments<'_>) {
    let mut stdout = io::stdout().lock();
    if let Err(error) = stdout.write_fmt(text).and_then(|()| stdout.flush()) {
        if !is_closed_pipe(&error) {
            // Nothing more can be said on stdout; say it on stderr.
            eprintln!("hookbox: error: writing to stdout: {error}");
        }
        std::process::exit(closed_or_internal(&error).into());
    }
}

/// Whether `error` says the reader of a pipe went away.
pub fn is_closed_pipe(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::BrokenPipe
}

fn closed_or_internal(error: &io::Error) -> u8 {
    if is_closed_pipe(error) {
        exit_code::CLOSED_PIPE
    } else {
        exit_code::INTERNAL
    }
}

/// `print!` for the CLI: see [`write`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::stdout::write(format_args!($($arg)*))
    };
}

/// `println!` for the CLI: see [`write`].
macro_rules! outln {
    () => {
        $crate::cli::stdout::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::stdout::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};
