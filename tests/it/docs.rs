//! The man pages and shell completions must match the clap definition, and the README
//! and docs/ must stay true: every option documented, every README command runnable,
//! nothing cited from outside the repository.
//! Regenerate with `FDWATCH_REGEN_DOCS=1 cargo test --test it docs::`.

use crate::common::{CountedSpawn, have, repo};
use std::path::{Path, PathBuf};

use clap::ValueEnum;

/// Compares a generated file with the committed one, or rewrites it when asked.
fn check(rel: &str, generated: &[u8]) {
    let path = repo().join(rel);
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
        "{rel} is out of date with the CLI; run FDWATCH_REGEN_DOCS=1 cargo test --test it docs::"
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
            .counted_output()
            .expect("run fdwatch --generate");
        assert!(out.status.success(), "--generate {name}: {out:?}");
        assert!(out.stderr.is_empty(), "--generate {name}: {out:?}");
        let committed = std::fs::read(repo().join(what.path())).expect("committed file");
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

/// Every option of every command is documented in the user guide (the README only
/// names the groups), and every backend is named there.
#[test]
fn guide_documents_every_option() {
    let guide = read_doc("docs/guide.md");
    let cmd = fdwatch::cli::command();
    let subs = cmd.get_subcommands().flat_map(|c| c.get_arguments());
    for arg in cmd.get_arguments().chain(subs) {
        if let Some(long) = arg.get_long() {
            if long == "help" || long == "version" {
                continue;
            }
            assert!(
                guide.contains(&format!("--{long}")),
                "docs/guide.md does not mention --{long}"
            );
        }
    }
    for value in ["select", "pselect", "poll", "ppoll", "epoll", "uring"] {
        assert!(
            guide.contains(&format!("`{value}`")) || guide.contains(&format!("-b {value}")),
            "docs/guide.md does not mention backend {value}"
        );
    }
}

#[test]
fn docs_dir_has_no_strays() {
    // Only the generated files live in completions/; a renamed shell file would go stale.
    let mut names: Vec<String> = std::fs::read_dir(Path::new(&repo()).join("completions"))
        .expect("completions/")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    assert_eq!(names, ["_fdwatch", "fdwatch.bash", "fdwatch.fish"]);
}

/// Every source path ARCHITECTURE.md names exists, and every module file under src/ is
/// named in ARCHITECTURE.md: the map stays true.
#[test]
fn architecture_matches_the_tree() {
    let arch = std::fs::read_to_string(repo().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    assert_paths_exist("ARCHITECTURE.md", &arch);
    for f in source_files() {
        let rel = f
            .strip_prefix(repo())
            .expect("under root")
            .to_string_lossy()
            .into_owned();
        let name = f.file_name().expect("name").to_string_lossy().into_owned();
        let dir = f
            .parent()
            .expect("dir")
            .strip_prefix(repo())
            .expect("under root");
        // A file is on the map when its path is named, or its directory and its name are.
        let mapped = arch.contains(&rel)
            || (arch.contains(&format!("{}/", dir.display()))
                && arch.contains(&format!("`{name}`")));
        assert!(mapped, "ARCHITECTURE.md does not map {rel}");
    }
}

/// README.md and the documents in docs/, each with its text.
fn user_docs() -> Vec<(String, String)> {
    let mut names = vec!["README.md".to_owned()];
    let mut more: Vec<String> = std::fs::read_dir(repo().join("docs"))
        .expect("docs/")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    more.sort();
    assert!(
        ["guide", "kernel", "performance", "reliability"]
            .iter()
            .all(|d| more.contains(&format!("docs/{d}.md"))),
        "docs/ lacks one of guide, kernel, performance, reliability: {more:?}"
    );
    names.extend(more);
    names
        .into_iter()
        .map(|n| {
            let text = read_doc(&n);
            (n, text)
        })
        .collect()
}

fn read_doc(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every `src/`, `tests/`, `benches/` or `bench/` path a document names exists.
fn assert_paths_exist(doc: &str, text: &str) {
    for word in text.split(|c: char| c.is_whitespace() || "`(),:;|[]".contains(c)) {
        let named = word.trim_end_matches('.');
        if ["src/", "tests/", "benches/", "bench/"]
            .iter()
            .any(|p| named.starts_with(p))
            && !named.contains('*')
        {
            assert!(
                repo().join(named).exists(),
                "{doc} names {named}, which does not exist"
            );
        }
    }
}

/// The README reads in ten minutes: at most 300 lines, the rest is in docs/.
#[test]
fn readme_is_at_most_300_lines() {
    let lines = read_doc("README.md").lines().count();
    assert!(lines <= 300, "README.md has {lines} lines (at most 300)");
}

/// A reader has only the repository: no document cites the project's contract, its
/// kernel report, its issues or a directory beside the clone.
#[test]
fn docs_cite_nothing_outside_the_repository() {
    const OUTSIDE: [&str; 8] = [
        "spec §",
        "spec.md",
        "report row",
        "report.md",
        "semantics/",
        "../shared",
        "/work/",
        "issue tracker",
    ];
    for (doc, text) in user_docs() {
        let lower = text.to_lowercase();
        for pat in OUTSIDE {
            assert!(
                !lower.contains(pat),
                "{doc} cites {pat:?}, which a clone lacks"
            );
        }
        // "issue 20", "issues 16 and 29", "issue #7".
        for (at, _) in lower.match_indices("issue") {
            let rest = lower[at + "issue".len()..].trim_start_matches('s');
            let rest = rest.trim_start_matches([' ', '#']);
            assert!(
                !rest.starts_with(|c: char| c.is_ascii_digit()),
                "{doc} cites an issue: {:?}",
                &text[at..(at + 12).min(text.len())]
            );
        }
        assert_paths_exist(&doc, &text);
    }
}

/// Links between the documents lead somewhere: the file exists, and an anchor names a
/// heading of it (as GitHub makes them: lower case, punctuation dropped, spaces to `-`).
#[test]
fn docs_links_resolve() {
    for (doc, text) in user_docs() {
        let dir = Path::new(&doc).parent().expect("dir").to_owned();
        for (at, _) in text.match_indices("](") {
            let target = &text[at + 2..];
            let target = &target[..target.find(')').expect("a closed link")];
            if target.contains("://") {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
            let file = if file.is_empty() {
                doc.clone()
            } else {
                dir.join(file).to_string_lossy().into_owned()
            };
            assert!(
                repo().join(&file).exists(),
                "{doc} links to {target}: no {file}"
            );
            if !anchor.is_empty() {
                let heads: Vec<String> = read_doc(&file)
                    .lines()
                    .filter_map(|l| l.strip_prefix('#'))
                    .map(|h| slug(h.trim_start_matches('#')))
                    .collect();
                assert!(
                    heads.iter().any(|h| h == anchor),
                    "{doc} links to {target}: {file} has no such heading ({heads:?})"
                );
            }
        }
    }
}

/// A heading's anchor as GitHub makes it.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The README's console blocks, each with its commands (`$ ` lines, as one script) and
/// the output it shows. Every console block must be marked runnable: every command in
/// the README is run by the test below.
fn readme_console_blocks() -> Vec<(String, Vec<String>)> {
    const MARK: &str = "<!-- runnable:";
    let readme = read_doc("README.md");
    let mut blocks = Vec::new();
    let mut marked = false;
    let mut lines = readme.lines();
    while let Some(l) = lines.next() {
        if l.starts_with(MARK) {
            marked = true;
            continue;
        }
        if l == "```console" {
            assert!(marked, "README.md: a console block not marked runnable");
            let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            let script: Vec<&str> = body.iter().filter_map(|l| l.strip_prefix("$ ")).collect();
            let shown = body
                .iter()
                .filter(|l| !l.starts_with("$ "))
                .map(|l| (*l).to_owned())
                .collect();
            blocks.push((script.join("\n"), shown));
        } else if marked && !l.trim().is_empty() {
            panic!("README.md: a runnable mark not followed by a console block: {l}");
        }
        marked = marked && l.trim().is_empty();
    }
    blocks
}

/// PATH with this build's fdwatch first.
fn path_with_fdwatch() -> std::ffi::OsString {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_fdwatch"));
    let dir = bin.parent().expect("the binary's directory").to_owned();
    std::env::join_paths(std::iter::once(dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH")
}

/// Runs `script` with bash in `dir` (its own process group) and returns its status,
/// stdout and stderr, or None when it (or a process it left behind holding its
/// stdout) is still running after 20 s: then the whole group is killed.
fn run_block(script: &str, dir: &Path) -> Option<(std::process::ExitStatus, String, String)> {
    use std::os::unix::process::CommandExt;
    let mut child = std::process::Command::new("bash")
        .args(["--norc", "--noprofile", "-c", script])
        .env("PATH", path_with_fdwatch())
        .current_dir(dir)
        .process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .counted_spawn()
        .expect("run bash");
    let dog = crate::common::Watchdog::new(&child, std::time::Duration::from_secs(25), script);
    // Read as it comes (a full pipe would stall the example); the end of both pipes is
    // the end of every process the block started.
    let (tx, rx) = std::sync::mpsc::channel();
    for (n, mut r) in [
        Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().expect("stderr")),
    ]
    .into_iter()
    .enumerate()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut v = String::new();
            let _ = r.read_to_string(&mut v);
            let _ = tx.send((n, v));
        });
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut got = [None, None];
    while got.iter().any(Option::is_none) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok((n, v)) => got[n] = Some(v),
            Err(_) => break,
        }
    }
    if got.iter().any(Option::is_none) {
        let pgid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = child.wait();
        return None;
    }
    let status = child.wait().expect("wait for bash");
    drop(dog);
    let [out, err] = got;
    Some((status, out.unwrap_or_default(), err.unwrap_or_default()))
}

/// Every console block of the README runs: its `$ ` lines as one bash script, with this
/// build's fdwatch first on PATH, in a temporary directory of its own. It must end by
/// itself within 20 s (the --peek example once never did), with status 0 and nothing
/// on stderr, and print the lines the README shows that do not vary between runs (the
/// ones not indented under a timestamp): `status 10`, jq's answers.
#[test]
fn readme_runnable_examples_end_by_themselves() {
    if !have("bash", "the README's examples") {
        return;
    }
    let blocks = readme_console_blocks();
    assert!(blocks.len() >= 5, "runnable blocks: {blocks:?}");
    let tmp = crate::common::TempDir::new();
    for (n, (script, shown)) in blocks.iter().enumerate() {
        if script.contains("| jq ") && !have("jq", "the README's jq recipes") {
            continue;
        }
        let dir = tmp.path(&format!("block-{n}"));
        std::fs::create_dir(&dir).expect("the block's directory");
        let Some((status, output, err)) = run_block(script, &dir) else {
            panic!("README example did not end by itself: {script}");
        };
        assert!(
            status.success() && err.is_empty(),
            "{script}: {status}, stderr {err:?}, stdout {output}"
        );
        let printed: Vec<&str> = output.lines().collect();
        for line in shown {
            if line.starts_with([' ', '{']) || line.is_empty() {
                continue;
            }
            assert!(
                printed.contains(&line.as_str()),
                "{script}: the README shows {line:?}, the run printed {output}"
            );
        }
        // The two-urgent-bytes example shows both bytes, as it says.
        if script.contains("--urgent a --urgent b") {
            for byte in ["urgent \"a\"", "urgent \"b\""] {
                assert!(output.contains(byte), "{script}: no {byte} in {output}");
            }
        }
    }
}

/// The README's install block works in a fresh home directory (it once failed because
/// ~/.local/share/man/man1 did not exist) and installs each man page and completion.
#[test]
fn readme_install_block_works_in_a_fresh_home() {
    if !have("bash", "the README's install block") {
        return;
    }
    let readme = read_doc("README.md");
    let block = readme
        .split("<!-- install:")
        .nth(1)
        .and_then(|r| r.split("```sh\n").nth(1))
        .and_then(|r| r.split("\n```").next())
        .expect("README.md: a block marked <!-- install: ... -->");
    let tmp = crate::common::TempDir::new();
    let home = tmp.path("home");
    std::fs::create_dir(&home).expect("home");
    let out = std::process::Command::new("bash")
        .args(["--norc", "--noprofile", "-e", "-c", block])
        .env("PATH", path_with_fdwatch())
        .env("HOME", &home)
        .current_dir(&home)
        .stdin(std::process::Stdio::null())
        .counted_output()
        .expect("run bash");
    assert!(out.status.success(), "the install block failed: {out:?}");
    let installed = [
        (Generate::Man, ".local/share/man/man1/fdwatch.1"),
        (Generate::ManRelay, ".local/share/man/man1/fdwatch-relay.1"),
        (Generate::ManSend, ".local/share/man/man1/fdwatch-send.1"),
        (Generate::ManBench, ".local/share/man/man1/fdwatch-bench.1"),
        (
            Generate::ManPipeline,
            ".local/share/man/man1/fdwatch-pipeline.1",
        ),
        (
            Generate::CompleteBash,
            ".local/share/bash-completion/completions/fdwatch",
        ),
        (Generate::CompleteZsh, ".zfunc/_fdwatch"),
        (
            Generate::CompleteFish,
            ".config/fish/completions/fdwatch.fish",
        ),
    ];
    assert_eq!(installed.len(), ALL.len());
    for (what, at) in installed {
        let got = std::fs::read(home.join(at)).unwrap_or_else(|e| panic!("~/{at}: {e}"));
        let committed = std::fs::read(repo().join(what.path())).expect("committed file");
        assert!(got == committed, "~/{at} is not {}", what.path());
    }
}

/// No source file over 500 lines and no function over 80, nor over 60 in src/output/
/// (a printer is one small method per kind), and at most five over 60 in all of src/.
/// A function is measured from its `fn` line to the closing brace at the same
/// indentation.
#[test]
fn source_files_and_functions_stay_small() {
    let mut too_long = Vec::new();
    let mut over_60 = Vec::new();
    for p in source_files() {
        let rel = p
            .strip_prefix(repo())
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
            } else if len > 60 {
                over_60.push(format!("{rel}: fn {name}, {len} lines"));
            }
        }
    }
    assert!(too_long.is_empty(), "over the limits: {too_long:?}");
    assert!(
        over_60.len() <= 5,
        "{} functions over 60 lines, at most 5: {over_60:?}",
        over_60.len()
    );
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
    let mut dirs = vec![repo().join("src")];
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
