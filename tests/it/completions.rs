//! The committed completions, run in the shells themselves: for a handful of command
//! lines, what bash, zsh and fish offer (each subcommand's and each option's values).
//! A shell that is not installed is skipped, saying so (.ci/run installs them all and
//! sets FDWATCH_TEST_REQUIRE_ALL, so CI skips nothing).

use crate::common::{BACKENDS, CountedSpawn, have, repo};
use std::path::PathBuf;
use std::process::Command;

fn completions() -> PathBuf {
    repo().join("completions")
}

fn shell(name: &str) -> Command {
    Command::new(name)
}

/// What bash's completion offers for `words` (the last one is being completed).
fn bash(words: &[&str]) -> Vec<String> {
    let script = format!(
        "source '{}'; COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1)); \
         _fdwatch fdwatch \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        completions().join("fdwatch.bash").display()
    );
    let out = shell("bash")
        .args(["--norc", "--noprofile", "-c", &script, "_"])
        .args(words)
        .counted_output()
        .expect("run bash");
    assert!(out.status.success(), "bash: {out:?}");
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

/// What fish offers for the command line `line` (cursor at its end).
fn fish(line: &str) -> Vec<String> {
    let script = format!(
        "source '{}'; complete -C '{line}'",
        completions().join("fdwatch.fish").display()
    );
    let out = shell("fish")
        .args(["--no-config", "-c", &script])
        .counted_output()
        .expect("run fish");
    assert!(out.status.success(), "fish: {out:?}");
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split('\t').next())
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    v.sort();
    v.dedup();
    v
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// (the words typed, the one being completed last; what both shells must offer)
fn cases() -> Vec<(Vec<&'static str>, Vec<String>)> {
    let mut bench_backends = BACKENDS.to_vec();
    bench_backends.push("none");
    vec![
        (vec!["fdwatch", "-b", ""], sorted(&BACKENDS)),
        (
            vec!["fdwatch", "--format", ""],
            sorted(&["text", "json", "tlpi"]),
        ),
        (
            vec!["fdwatch", "--color", ""],
            sorted(&["auto", "always", "never"]),
        ),
        (
            vec!["fdwatch", "--generate", ""],
            sorted(&[
                "man",
                "man-relay",
                "man-send",
                "man-bench",
                "man-pipeline",
                "complete-bash",
                "complete-zsh",
                "complete-fish",
            ]),
        ),
        (vec!["fdwatch", "rel"], sorted(&["relay"])),
        (vec!["fdwatch", "relay", "-b", ""], sorted(&BACKENDS)),
        (
            vec!["fdwatch", "relay", "--format", ""],
            sorted(&["text", "json"]),
        ),
        (
            vec!["fdwatch", "bench", "--backends", ""],
            sorted(&bench_backends),
        ),
        (
            vec!["fdwatch", "bench", "--format", ""],
            sorted(&["text", "json"]),
        ),
        (
            vec!["fdwatch", "send", "--d"],
            sorted(&["--data", "--delay"]),
        ),
        (vec!["fdwatch", "bench", "--rep"], sorted(&["--repeats"])),
        (vec!["fdwatch", "pip"], sorted(&["pipeline"])),
        (
            vec!["fdwatch", "pipeline", "--format", ""],
            sorted(&["text", "json"]),
        ),
        (vec!["fdwatch", "pipeline", "--p"], sorted(&["--pgid"])),
    ]
}

#[test]
fn bash_offers_each_subcommand_and_value() {
    if !have("bash", "bash completions") {
        return;
    }
    let mut bad = Vec::new();
    for (words, want) in cases() {
        let got = bash(&words);
        if got != want {
            bad.push(format!("bash {words:?}: offered {got:?}, want {want:?}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn fish_offers_each_subcommand_and_value() {
    if !have("fish", "fish completions") {
        return;
    }
    let mut bad = Vec::new();
    for (words, want) in cases() {
        let line = words.join(" ");
        let got = fish(&line);
        if got != want {
            bad.push(format!("fish {line:?}: offered {got:?}, want {want:?}"));
        }
    }
    // After an option whose value is no path, no files either (fish offered them).
    let got = fish("fdwatch -c ");
    if !got.is_empty() {
        bad.push(format!("fish 'fdwatch -c ': offered {got:?}, want nothing"));
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// What zsh's completion offers for the command line `line` (cursor at its end): a
/// zsh in a pty (zpty) with the committed `_fdwatch`, its compadd wrapped to print the
/// matches (tests/zsh/).
fn zsh(line: &str) -> Vec<String> {
    let dir = repo().join("tests/zsh");
    let out = shell("zsh")
        .arg("-f")
        .arg(dir.join("capture.zsh"))
        .arg(dir.join("setup.zsh"))
        .arg(line)
        .env("FDWATCH_COMPLETIONS", completions())
        .counted_output()
        .expect("run zsh");
    assert!(
        out.status.success(),
        "zsh {line:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn zsh_offers_each_subcommand_and_value() {
    if !have("zsh", "zsh completions") {
        return;
    }
    let mut bad = Vec::new();
    for (words, want) in cases() {
        let line = words.join(" ");
        let got = zsh(&line);
        if got != want {
            bad.push(format!("zsh {line:?}: offered {got:?}, want {want:?}"));
        }
    }
    // Watch mode's SPEC arguments are paths.
    let got = zsh("fdwatch 5 Cargo.t");
    if got != ["Cargo.toml"] {
        bad.push(format!(
            "zsh 'fdwatch 5 Cargo.t': offered {got:?}, want Cargo.toml"
        ));
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Process ids: `pid:<Tab>` in watch mode (a SPEC, or alone as the first word) offers
/// `pid:PID`, and `pipeline --tree`, `--pgid` and its PID arguments offer pids, in
/// each shell that is installed. A child of this test is the pid looked for; every
/// offer must be a pid starting with what was typed.
#[test]
fn pids_are_offered_for_pid_tree_and_pgid() {
    let mut child = Command::new("sleep")
        .arg("60")
        .counted_spawn()
        .expect("spawn sleep");
    let pid = child.id().to_string();
    let lines = [
        format!("fdwatch 5 pid:{pid}"),
        format!("fdwatch pid:{pid}"),
        format!("fdwatch -m pid:{pid}"),
        format!("fdwatch pipeline --tree {pid}"),
        format!("fdwatch pipeline --pgid {pid}"),
        format!("fdwatch pipeline {pid}"),
        format!("fdwatch pipeline --once {pid}"),
    ];
    let mut bad = Vec::new();
    let mut check = |shell: &str, line: &str, got: Vec<String>| {
        // bash and fish insert `pid:PID`, zsh keeps the typed `pid:` and adds the PID.
        let pids: Vec<&str> = got.iter().map(|g| g.trim_start_matches("pid:")).collect();
        let spec = line.contains("pid:");
        let ok = pids.contains(&pid.as_str())
            && pids
                .iter()
                .all(|p| p.starts_with(&pid) && p.bytes().all(|b| b.is_ascii_digit()))
            && (!spec || shell == "zsh" || got.iter().all(|g| g.starts_with("pid:")));
        if !ok {
            bad.push(format!("{shell} {line:?}: offered {got:?}, want {pid}"));
        }
    };
    if have("bash", "bash pid completions") {
        for line in &lines {
            let words: Vec<&str> = line.split(' ').collect();
            check("bash", line, bash(&words));
        }
    }
    if have("fish", "fish pid completions") {
        for line in &lines {
            check("fish", line, fish(line));
        }
    }
    if have("zsh", "zsh pid completions") {
        for line in &lines {
            check("zsh", line, zsh(line));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
