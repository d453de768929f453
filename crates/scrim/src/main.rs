//! `scrim`: the command-line entry point.
//!
//! The binary only parses arguments and wires library crates together; every rule about
//! what is removed lives in `scrim-redact`.

use std::borrow::Cow;
use std::io::{self, Read, Write};
use std::process::ExitCode;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use scrim_redact::sql::{self, Dialect, SqlOptions};
use scrim_redact::{json_query, memcached, redis};

/// Scrim: a privacy-first APM for OpenTelemetry.
#[derive(Debug, Parser)]
#[command(name = "scrim", version, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Remove sensitive values from database statements: a filter from stdin to stdout.
    ///
    /// Each filter reads the whole of standard input as one statement and writes the
    /// redacted statement followed by a newline (one trailing line break of the input is
    /// not part of the statement). With `--lines`, every input line is its own statement
    /// and is answered by exactly one output line. Input that is not valid UTF-8 is read
    /// with each invalid sequence replaced by U+FFFD; any input, even malformed, exits 0.
    #[command(subcommand, arg_required_else_help = true)]
    Redact(Redact),
}

// The `scrim redact` filters.
#[derive(Debug, Subcommand)]
enum Redact {
    /// Replace every literal in a SQL statement with `?`.
    ///
    /// Example: `echo "SELECT * FROM users WHERE id = 42" | scrim redact sql`
    /// prints `SELECT * FROM users WHERE id = ?`.
    Sql {
        /// Lexical rules of the database the statement was written for (quotes,
        /// backslash escapes, comments). `generic` accepts the union of all dialects
        /// and, where they disagree, removes more.
        #[arg(
            long,
            value_name = "DIALECT",
            default_value = "generic",
            ignore_case = true,
            value_parser = dialect_parser()
        )]
        dialect: Dialect,
        #[command(flatten)]
        input: InputArgs,
    },
    /// Keep a Redis / Valkey command and its keys, remove the values.
    Redis {
        #[command(flatten)]
        input: InputArgs,
    },
    /// Keep a Memcached command and its keys, remove the stored data.
    Memcached {
        #[command(flatten)]
        input: InputArgs,
    },
    /// Keep the shape of a MongoDB / Elasticsearch JSON query, remove its values.
    Mongo {
        #[command(flatten)]
        input: InputArgs,
    },
}

#[derive(Debug, Args)]
struct InputArgs {
    /// Treat each input line as a separate statement; each output line answers the
    /// input line at the same position (an empty line answers an empty line).
    #[arg(long)]
    lines: bool,
}

/// `--dialect` accepts exactly the names of [`Dialect::ALL`], listed in help and errors.
fn dialect_parser() -> impl TypedValueParser<Value = Dialect> {
    PossibleValuesParser::new(Dialect::ALL.map(Dialect::name)).map(|name| {
        Dialect::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(&name))
            .unwrap_or_default()
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Redact(redact) => run_redact(redact),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`scrim redact sql | head -1`): nothing left to do.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scrim: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_redact(redact: Redact) -> io::Result<()> {
    match redact {
        Redact::Sql { dialect, input } => {
            let options = SqlOptions::for_dialect(dialect);
            filter(input.lines, |s| sql::obfuscate(s, &options))
        }
        Redact::Redis { input } => filter(input.lines, redis::obfuscate_redis),
        Redact::Memcached { input } => filter(input.lines, memcached::obfuscate_memcached),
        Redact::Mongo { input } => filter(input.lines, json_query::obfuscate_json_query),
    }
}

/// Reads all of stdin, applies `redact` to the whole text or to each line, writes stdout.
fn filter<F>(lines: bool, redact: F) -> io::Result<()>
where
    F: for<'a> Fn(&'a str) -> Cow<'a, str>,
{
    let mut bytes = Vec::new();
    io::stdin().lock().read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut out = io::BufWriter::new(io::stdout().lock());
    if lines {
        for line in text.lines() {
            let redacted = redact(line);
            // One output line per input line, whatever the engine returns.
            if redacted.contains('\n') {
                writeln!(out, "{}", redacted.replace('\n', " "))?;
            } else {
                writeln!(out, "{redacted}")?;
            }
        }
    } else {
        let statement = text
            .strip_suffix('\n')
            .map(|s| s.strip_suffix('\r').unwrap_or(s))
            .unwrap_or(&text);
        writeln!(out, "{}", redact(statement))?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }
}
