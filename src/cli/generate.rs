//! `--generate`: the man pages and shell completions, from the clap definition (as
//! ripgrep does), so an installed fdwatch can put them where they belong. The files
//! committed in man/ and completions/ are these bytes (tests/it/docs.rs checks).

use clap::ValueEnum;
use clap_complete::Shell;

use super::complete_pids;
use super::man::{MAN_END, durations, see_also};
use super::{MAN_EXTRA, MAN_RELAY, command, status};
use crate::output::schema::{Page, man_section};

/// What `--generate` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Generate {
    /// fdwatch(1)
    Man,
    /// fdwatch-relay(1)
    ManRelay,
    /// fdwatch-send(1)
    ManSend,
    /// fdwatch-bench(1)
    ManBench,
    /// fdwatch-pipeline(1)
    ManPipeline,
    /// bash completions
    CompleteBash,
    /// zsh completions (_fdwatch)
    CompleteZsh,
    /// fish completions
    CompleteFish,
}

impl Generate {
    /// Where the committed copy lives in the repository.
    pub fn path(self) -> &'static str {
        match self {
            Generate::Man => "man/fdwatch.1",
            Generate::ManRelay => "man/fdwatch-relay.1",
            Generate::ManSend => "man/fdwatch-send.1",
            Generate::ManBench => "man/fdwatch-bench.1",
            Generate::ManPipeline => "man/fdwatch-pipeline.1",
            Generate::CompleteBash => "completions/fdwatch.bash",
            Generate::CompleteZsh => "completions/_fdwatch",
            Generate::CompleteFish => "completions/fdwatch.fish",
        }
    }

    /// The file's bytes.
    pub fn render(self) -> std::io::Result<Vec<u8>> {
        match self {
            Generate::Man => main_page(),
            Generate::ManRelay => sub_page("relay", Page::Relay, status::RELAY),
            Generate::ManSend => sub_page("send", Page::Send, status::SEND),
            Generate::ManBench => sub_page("bench", Page::Bench, status::BENCH),
            Generate::ManPipeline => sub_page("pipeline", Page::Pipeline, status::PIPELINE),
            Generate::CompleteBash => completion(Shell::Bash),
            Generate::CompleteZsh => completion(Shell::Zsh),
            Generate::CompleteFish => completion(Shell::Fish),
        }
    }
}

/// fdwatch(1): clap's sections, then fdwatch's own roff sections instead of the raw
/// after_help text.
fn main_page() -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    // The plain version: the page must not change with every commit.
    let man = clap_mangen::Man::new(command().long_version(None));
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    out.extend_from_slice(durations("\\fITIMEOUT\\fR, \\fB\\-\\-interval\\fR", true).as_bytes());
    man.render_subcommands_section(&mut out)?;
    out.extend_from_slice(MAN_EXTRA.as_bytes());
    out.extend_from_slice(status::man(status::WATCH).as_bytes());
    out.extend_from_slice(MAN_END.as_bytes());
    out.extend_from_slice(man_section(Page::Watch).as_bytes());
    out.extend_from_slice(see_also("fdwatch", &pages()).as_bytes());
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// fdwatch-SUB(1): clap's sections, then the JSON events this command writes (`json`)
/// and its exit statuses (`exits`).
fn sub_page(sub: &str, json: Page, exits: status::Table) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let name = format!("fdwatch-{sub}");
    let page = command()
        .find_subcommand(sub)
        .cloned()
        .ok_or_else(|| std::io::Error::other(format!("no subcommand {sub}")))?
        .display_name(name.clone())
        .bin_name(name);
    // The title line's source is fdwatch's, as on fdwatch(1) (clap would say "bench ").
    let man = clap_mangen::Man::new(page).source(format!("fdwatch {}", env!("CARGO_PKG_VERSION")));
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    let opts = match sub {
        "relay" => "\\fB\\-\\-idle\\fR, \\fB\\-\\-interval\\fR",
        "send" => "\\fB\\-\\-delay\\fR",
        "pipeline" => "\\fB\\-\\-interval\\fR",
        _ => "",
    };
    if !opts.is_empty() {
        out.extend_from_slice(durations(opts, false).as_bytes());
    }
    if sub == "relay" {
        out.extend_from_slice(MAN_RELAY.as_bytes());
    }
    out.extend_from_slice(man_section(json).as_bytes());
    out.extend_from_slice(status::man(exits).as_bytes());
    out.extend_from_slice(see_also(&format!("fdwatch-{sub}"), &pages()).as_bytes());
    Ok(out)
}

/// clap_complete's script for `shell`, with fdwatch's changes: the values and
/// subcommand handling below, and process ids (complete_pids.rs).
fn completion(shell: Shell) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command(), "fdwatch", &mut out);
    let text = match shell {
        Shell::Fish => {
            fish_top_level_values(&mut out);
            let cmd = command();
            let subs: Vec<&str> = cmd.get_subcommands().map(|s| s.get_name()).collect();
            let text = String::from_utf8(out).map_err(std::io::Error::other)?;
            complete_pids::fish(&text, &subs)?
        }
        Shell::Zsh => {
            let text =
                String::from_utf8(zsh_subcommand_first(out)?).map_err(std::io::Error::other)?;
            complete_pids::zsh(&text)?
        }
        _ => {
            let text = String::from_utf8(out).map_err(std::io::Error::other)?;
            complete_pids::bash(&text)?
        }
    };
    Ok(text.into_bytes())
}

/// Every man page's name: fdwatch, then fdwatch-SUBCOMMAND in clap's order.
fn pages() -> Vec<String> {
    let cmd = command();
    std::iter::once("fdwatch".to_owned())
        .chain(
            cmd.get_subcommands()
                .map(|s| format!("fdwatch-{}", s.get_name())),
        )
        .collect()
}

/// clap_complete's zsh script puts watch mode's two optional positionals (TIMEOUT,
/// SPEC) before the subcommand, so `fdwatch bench --backends ` took `bench` for a
/// TIMEOUT and offered subcommands, and `bench --format ` offered watch mode's values.
/// Here the subcommand is the first word: the positionals go, the dispatch reads
/// `$line[1]`, any other first word (a TIMEOUT) completes files (specs), and top-level
/// options stop at the first word that is not one (`_arguments -A`).
fn zsh_subcommand_first(script: Vec<u8>) -> std::io::Result<Vec<u8>> {
    let changed = || std::io::Error::other("clap_complete's zsh script changed its shape");
    let text = String::from_utf8(script).map_err(|_| changed())?;
    let kept: Vec<&str> = text
        .split('\n')
        .filter(|l| !l.starts_with("'::first -- ") && !l.starts_with("'::rest -- "))
        .collect();
    if kept.len() + 2 != text.split('\n').count() || !text.contains("$line[3]") {
        return Err(changed());
    }
    let top = "    local context curcontext=\"$curcontext\" state line\n    _arguments \"${_arguments_options[@]}\" : \\";
    let end = ";;\n        esac\n    ;;\nesac\n}";
    let text = kept.join("\n").replace("$line[3]", "$line[1]");
    if !text.contains(top) || !text.contains(end) {
        return Err(changed());
    }
    Ok(text
        .replacen(top, &top.replace("\" : \\", "\" -A '-*' : \\"), 1)
        .replacen(
            end,
            &end.replace(
                ";;\n        esac",
                ";;\n        (*)\n_default && ret=0\n;;\n        esac",
            ),
            1,
        )
        .into_bytes())
}

/// clap_complete's fish script finds no top-level option value after `fdwatch -b `
/// (its argparse of the words so far fails on the option still missing its value), so
/// fish offered files there. These lines complete each top-level option's values, and
/// nothing for one whose value is no path, by the word before the cursor.
fn fish_top_level_values(out: &mut Vec<u8>) {
    use std::fmt::Write as _;
    let cmd = command();
    let subs: Vec<&str> = cmd.get_subcommands().map(|s| s.get_name()).collect();
    let mut text =
        String::from("\n# Top-level option values (see fdwatch's src/cli/generate.rs).\n");
    for arg in cmd.get_arguments() {
        // `--read=MODE` takes its value only joined: nothing to offer after a space.
        if !arg.get_action().takes_values() || arg.is_positional() || arg.is_require_equals_set() {
            continue;
        }
        let mut names = Vec::new();
        if let Some(c) = arg.get_short() {
            names.push(format!("-{c}"));
        }
        if let Some(l) = arg.get_long() {
            names.push(format!("--{l}"));
        }
        let values: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| v.get_name().to_owned())
            .collect();
        let _ = write!(
            text,
            "complete -c fdwatch -n \"not __fish_seen_subcommand_from {}; and __fish_prev_arg_in {}\" -f",
            subs.join(" "),
            names.join(" ")
        );
        if !values.is_empty() {
            let _ = write!(text, " -a \"{}\"", values.join(" "));
        }
        text.push('\n');
    }
    out.extend_from_slice(text.as_bytes());
}
