//! `fdwatch --version`: the version and, built from a git checkout, the commit.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn main() {
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let long = match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(commit) => format!("{version} (commit {commit})"),
        None => version,
    };
    println!("cargo:rustc-env=FDWATCH_LONG_VERSION={long}");
    // Rebuilt when HEAD moves: the HEAD file, and the branch it names.
    if let Some(head) = git(&["rev-parse", "--git-path", "HEAD"]) {
        println!("cargo:rerun-if-changed={head}");
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(path) = git(&["rev-parse", "--git-path", &branch])
    {
        println!("cargo:rerun-if-changed={path}");
    }
    link_order();
    println!("cargo:rerun-if-changed=build.rs");
}

/// The start-up path's code and constants placed together (link/startup.ld, written by
/// bench/startup-order.sh): a one-shot check then takes a handful of page faults for its
/// code instead of one per 64 KiB window of a 3 MB binary. GNU ld and lld read the
/// script's INSERT form, which adds to the default layout rather than replacing it.
fn link_order() {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" {
        return;
    }
    let script = std::path::Path::new(&var("CARGO_MANIFEST_DIR")).join("link/startup.ld");
    println!("cargo:rerun-if-changed=link/startup.ld");
    if !script.exists() {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    // bench/startup-order.sh asks for the link map it reads the sections from.
    println!("cargo:rerun-if-env-changed=FDWATCH_LINK_MAP");
    if let Ok(map) = std::env::var("FDWATCH_LINK_MAP") {
        println!("cargo:rustc-link-arg-bins=-Wl,-Map={map}");
    }
}
