//! The man page, shell completions and README must match the clap definition.
//! Regenerate with `FDWATCH_REGEN_DOCS=1 cargo test --test docs`.

use std::path::{Path, PathBuf};

use clap_complete::Shell;

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

#[test]
fn man_page_is_fresh() {
    // clap's sections, then fdwatch's own roff sections instead of the raw after_help text.
    let man = clap_mangen::Man::new(fdwatch::cli::command());
    let mut out = Vec::new();
    man.render_title(&mut out).expect("title");
    man.render_name_section(&mut out).expect("name");
    man.render_synopsis_section(&mut out).expect("synopsis");
    man.render_description_section(&mut out)
        .expect("description");
    man.render_options_section(&mut out).expect("options");
    man.render_subcommands_section(&mut out)
        .expect("subcommands");
    out.extend_from_slice(fdwatch::cli::MAN_EXTRA.as_bytes());
    man.render_version_section(&mut out).expect("version");
    check("man/fdwatch.1", &out);
}

#[test]
fn subcommand_man_pages_are_fresh() {
    let cmd = fdwatch::cli::command();
    for sub in cmd.get_subcommands() {
        let name = format!("fdwatch-{}", sub.get_name());
        let page = sub
            .clone()
            .display_name(name.clone())
            .bin_name(name.clone());
        let mut out = Vec::new();
        clap_mangen::Man::new(page)
            .render(&mut out)
            .expect("render subcommand page");
        check(&format!("man/{name}.1"), &out);
    }
}

#[test]
fn completions_are_fresh() {
    for (shell, rel) in [
        (Shell::Bash, "completions/fdwatch.bash"),
        (Shell::Zsh, "completions/_fdwatch"),
        (Shell::Fish, "completions/fdwatch.fish"),
    ] {
        let mut cmd = fdwatch::cli::command();
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut cmd, "fdwatch", &mut out);
        check(rel, &out);
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
    for f in files {
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
