//! The man page, shell completions and README must match the clap definition.
//! Regenerate with `FDWATCH_REGEN_DOCS=1 cargo test --test docs`.

mod common;

use common::have;
use std::path::{Path, PathBuf};

use clap::ValueEnum;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Compares a generated file with the committed one, or rewrites it when asked.
fn check(rel: &str, generated: &[u8]) {
    let path = root().join(rel);
    if std::env::var_os("FDWATCH_REGEN_DOCS").is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create docs dir");
        }
        std::fs::write(&path, generated).expect("write generated docs");
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{rel} is out of date with the CLI; run FDWATCH_REGEN_DOCS=1 cargo test --test docs"
    );
}

use fdwatch::cli::Generate;

/// Every generated file: the man pages and the three shells' completions.
const ALL: [Generate; 8] = [
    Generate::Man,
    Generate::ManRelay,
    Generate::ManSend,
    Generate::ManBench,
    Generate::ManPipeline,
    Generate::CompleteBash,
    Generate::CompleteZsh,
    Generate::CompleteFish,
];

#[test]
fn man_pages_and_completions_are_fresh() {
    for what in ALL {
        check(what.path(), &what.render().expect("render"));
    }
}

/// The drift test: what an installed fdwatch prints with --generate is the committed
/// file, byte for byte (and the list covers every subcommand's page).
#[test]
fn generate_prints_the_committed_files() {
    for what in ALL {
        let name = what
            .to_possible_value()
            .expect("a value")
            .get_name()
            .to_owned();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_fdwatch"))
            .args(["--generate", &name])
            .output()
            .expect("run fdwatch --generate");
        assert!(out.status.success(), "--generate {name}: {out:?}");
        assert!(out.stderr.is_empty(), "--generate {name}: {out:?}");
        let committed = std::fs::read(root().join(what.path())).expect("committed file");
        assert!(
            out.stdout == committed,
            "fdwatch --generate {name} differs from {}",
            what.path()
        );
    }
    let subs: Vec<String> = fdwatch::cli::command()
        .get_subcommands()
        .map(|s| format!("man/fdwatch-{}.1", s.get_name()))
        .collect();
    for page in subs {
        assert!(
            ALL.iter().any(|g| g.path() == page),
            "{page}: no --generate value for it"
        );
    }
}

/// No page refers to a man page that is not generated (fdwatch-help(1) did).
#[test]
fn man_pages_refer_only_to_pages_that_exist() {
    for what in ALL.iter().filter(|g| g.path().starts_with("man/")) {
        let text = String::from_utf8(what.render().expect("render")).expect("utf-8");
        for (at, _) in text.match_indices("fdwatch\\-") {
            let rest = &text[at + "fdwatch\\-".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            // `fdwatch\-relay(1)`, or in bold: `\fBfdwatch\-relay\fR(1)`.
            let after = &rest[name.len()..];
            let after = after.strip_prefix("\\fR").unwrap_or(after);
            if !after.starts_with("(1)") {
                continue;
            }
            let page = format!("man/fdwatch-{name}.1");
            assert!(
                ALL.iter().any(|g| g.path() == page),
                "{} refers to fdwatch-{name}(1), which is not generated",
                what.path()
            );
        }
    }
}

/// Every page's title line names fdwatch and its version (the subcommands' said
/// `"pipeline "`), and every page has an EXIT STATUS and a SEE ALSO naming each other
/// page and the system's pages it is about.
#[test]
fn man_pages_have_titles_exit_status_and_see_also() {
    let pages: Vec<&Generate> = ALL
        .iter()
        .filter(|g| g.path().starts_with("man/"))
        .collect();
    let names: Vec<String> = pages
        .iter()
        .map(|g| {
            g.path()
                .trim_start_matches("man/")
                .trim_end_matches(".1")
                .to_owned()
        })
        .collect();
    let title = format!("\"fdwatch {}\"", env!("CARGO_PKG_VERSION"));
    for (what, name) in pages.iter().zip(&names) {
        let text = String::from_utf8(what.render().expect("render")).expect("utf-8");
        let th = text
            .lines()
            .find(|l| l.starts_with(".TH "))
            .expect(".TH line");
        assert!(
            th.starts_with(&format!(".TH {name} 1 ")) && th.contains(&title),
            "{name}: title line {th:?}"
        );
        assert!(
            text.contains("\n.SH \"EXIT STATUS\"\n"),
            "{name}: no EXIT STATUS"
        );
        let see = text
            .split("\n.SH \"SEE ALSO\"\n")
            .nth(1)
            .unwrap_or_else(|| panic!("{name}: no SEE ALSO"));
        let see = see.split("\n.SH").next().unwrap_or(see);
        for other in names.iter().filter(|o| *o != name) {
            let bold = format!("\\fB{}\\fR(1)", other.replace('-', "\\-"));
            assert!(
                see.contains(&bold),
                "{name}: SEE ALSO lacks {other}(1): {see}"
            );
        }
        assert!(!see.contains(&format!("\\fB{}\\fR(1)", name.replace('-', "\\-"))));
        let outside = ["select(2)", "epoll(7)", "socat(1)", "send(2)", "proc(5)"];
        assert!(
            outside
                .iter()
                .any(|p| see.contains(p.split('(').next().unwrap_or(p))),
            "{name}: SEE ALSO names no system page: {see}"
        );
    }
}

/// `--generate`'s help names every value it takes (man-pipeline was missing).
#[test]
fn generate_help_names_every_target() {
    let cmd = fdwatch::cli::command();
    let arg = cmd
        .get_arguments()
        .find(|a| a.get_long() == Some("generate"))
        .expect("--generate");
    let help = arg.get_help().expect("help").to_string();
    for what in ALL {
        let name = what
            .to_possible_value()
            .expect("a value")
            .get_name()
            .to_owned();
        let named = help
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .any(|w| w == name);
        assert!(named, "--generate's help does not name {name}: {help}");
    }
}

#[test]
fn readme_documents_every_option() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let cmd = fdwatch::cli::command();
    let subs = cmd.get_subcommands().flat_map(|c| c.get_arguments());
    for arg in cmd.get_arguments().chain(subs) {
        if let Some(long) = arg.get_long() {
            if long == "help" || long == "version" {
                continue;
            }
            assert!(
                readme.contains(&format!("--{long}")),
                "README.md does not mention --{long}"
            );
        }
    }
    for value in ["select", "pselect", "poll", "ppoll", "epoll"] {
        assert!(
            readme.contains(value),
            "README.md does not mention backend {value}"
        );
    }
}

#[test]
fn docs_dir_has_no_strays() {
    // Only the generated files live in completions/; a renamed shell file would go stale.
    let mut names: Vec<String> = std::fs::read_dir(Path::new(&root()).join("completions"))
        .expect("completions/")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    assert_eq!(names, ["_fdwatch", "fdwatch.bash", "fdwatch.fish"]);
}

/// Every source path ARCHITECTURE.md and the README's layout name exists, and every
/// module file under src/ is named in ARCHITECTURE.md: the map stays true.
#[test]
fn architecture_and_layout_match_the_tree() {
    let arch = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let layout = readme.split("## Layout").nth(1).expect("a Layout section");
    for (doc, text) in [("ARCHITECTURE.md", arch.as_str()), ("README.md", layout)] {
        for word in text.split(|c: char| c.is_whitespace() || "`(),:;".contains(c)) {
            let named = word.trim_end_matches('.');
            if (named.starts_with("src/")
                || named.starts_with("benches/")
                || named.starts_with("tests/"))
                && !named.contains('*')
            {
                assert!(
                    root().join(named).exists(),
                    "{doc} names {named}, which does not exist"
                );
            }
        }
    }
    for f in source_files() {
        let rel = f
            .strip_prefix(root())
            .expect("under root")
            .to_string_lossy()
            .into_owned();
        let name = f.file_name().expect("name").to_string_lossy().into_owned();
        let dir = f
            .parent()
            .expect("dir")
            .strip_prefix(root())
            .expect("under root");
        // A file is on the map when its path is named, or its directory and its name are.
        let mapped = arch.contains(&rel)
            || (arch.contains(&format!("{}/", dir.display()))
                && arch.contains(&format!("`{name}`")));
        assert!(mapped, "ARCHITECTURE.md does not map {rel}");
    }
}

/// The README's examples marked runnable end by themselves: each block's `$ ` lines
/// run as one bash script, with this build's fdwatch first on PATH, in a temporary
/// directory, and must exit within 20 s (the --peek example once never did).
#[test]
fn readme_runnable_examples_end_by_themselves() {
    if !have("bash", "the README's examples") {
        return;
    }
    const MARK: &str = "<!-- runnable:";
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let mut blocks = Vec::new();
    let mut lines = readme.lines().peekable();
    while let Some(l) = lines.next() {
        if !l.starts_with(MARK) {
            continue;
        }
        assert_eq!(
            lines.next(),
            Some("```console"),
            "a runnable mark before a console block"
        );
        let script: Vec<&str> = lines
            .by_ref()
            .take_while(|l| *l != "```")
            .filter_map(|l| l.strip_prefix("$ "))
            .collect();
        blocks.push(script.join("\n"));
    }
    assert!(blocks.len() >= 5, "runnable blocks: {blocks:?}");
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_fdwatch"));
    let dir = bin.parent().expect("the binary's directory").to_owned();
    let path = std::env::join_paths(std::iter::once(dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH");
    let tmp = std::env::temp_dir().join(format!("fdwatch-readme-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    for script in &blocks {
        let mut child = std::process::Command::new("bash")
            .args(["--norc", "--noprofile", "-c", script])
            .env("PATH", &path)
            .current_dir(&tmp)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("run bash");
        // Read as it comes (a full pipe would stall the example).
        let mut stdout = child.stdout.take().expect("stdout");
        let output = std::thread::spawn(move || {
            let mut v = String::new();
            let _ = std::io::Read::read_to_string(&mut stdout, &mut v);
            v
        });
        let start = std::time::Instant::now();
        let ended = loop {
            if let Some(st) = child.try_wait().expect("try_wait") {
                break Some(st);
            }
            if start.elapsed() > std::time::Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        assert!(
            ended.is_some(),
            "README example did not end by itself: {script}"
        );
        let output = output.join().expect("the example's output");
        // The two-urgent-bytes example shows both bytes, as it says.
        if script.contains("--urgent a --urgent b") {
            for byte in ["urgent \"a\"", "urgent \"b\""] {
                assert!(output.contains(byte), "{script}: no {byte} in {output}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

/// No source file over 500 lines and no function over 80, nor over 60 in src/output/
/// (a printer is one small method per kind). A function is measured from its `fn`
/// line to the closing brace at the same indentation.
#[test]
fn source_files_and_functions_stay_small() {
    let mut too_long = Vec::new();
    for p in source_files() {
        let rel = p
            .strip_prefix(root())
            .expect("under root")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&p).expect("read source");
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() > 500 {
            too_long.push(format!("{rel}: {} lines", lines.len()));
        }
        let limit = if rel.starts_with("src/output/") {
            60
        } else {
            80
        };
        for (i, line) in lines.iter().enumerate() {
            let Some((indent, name)) = fn_start(line) else {
                continue;
            };
            let close = format!("{indent}}}");
            let len = lines[i..]
                .iter()
                .position(|l| l.trim_end() == close)
                .map_or(lines.len() - i, |n| n + 1);
            if len > limit {
                too_long.push(format!("{rel}: fn {name}, {len} lines"));
            }
        }
    }
    assert!(too_long.is_empty(), "over the limits: {too_long:?}");
}

/// `(indentation, name)` when `line` starts a function with a body.
fn fn_start(line: &str) -> Option<(&str, &str)> {
    let body = line.trim_start();
    let indent = &line[..line.len() - body.len()];
    let mut rest = body;
    for prefix in [
        "pub(crate) ",
        "pub(super) ",
        "pub ",
        "const ",
        "unsafe ",
        "async ",
    ] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    let rest = rest.strip_prefix("fn ")?;
    if line.trim_end().ends_with(';') {
        return None;
    }
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    Some((indent, &rest[..end]))
}

/// Every .rs file under src/.
fn source_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![root().join("src")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("read src").flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    files
}
