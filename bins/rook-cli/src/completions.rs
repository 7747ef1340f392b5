//! `rook-cli completions SHELL` and `rook-cli man`: generated from the clap
//! definitions, so they always match the commands and options of this build.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::common::CliError;

/// Prints the completion script of `shell` for `C` (named `name`) to stdout.
pub(crate) fn completions<C: CommandFactory>(shell: Shell, name: &str) -> Result<(), CliError> {
    let mut cmd = C::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut out);
    write_stdout(&out)
}

/// Prints the man page (roff) of `C` to stdout.
pub(crate) fn man<C: CommandFactory>() -> Result<(), CliError> {
    let mut out = Vec::new();
    clap_mangen::Man::new(C::command())
        .render(&mut out)
        .map_err(|e| CliError::fail(format!("rendering the man page: {e}")))?;
    write_stdout(&out)
}

fn write_stdout(bytes: &[u8]) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| CliError::fail(format!("writing to stdout: {e}")))
}
