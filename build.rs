//! Embeds the shipped profiles (`profiles/{gpus,models,calibrated}/*.toml`)
//! in the binary, so a scenario runs from any folder without a copy of
//! `profiles/` beside it.
//!
//! Why a generated list instead of hand-written `include_str!`s: a profile
//! added to `profiles/` is picked up by the next build without editing
//! code. The list is sorted, so the generated file (and the binary) does
//! not depend on the order the file system returns entries in.

use std::fmt::Write as _;
use std::path::Path;

const KINDS: [&str; 3] = ["gpus", "models", "calibrated"];

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut entries = Vec::new();
    for kind in KINDS {
        let dir = root.join(kind);
        println!("cargo:rerun-if-changed={}", dir.display());
        let Ok(read) = std::fs::read_dir(&dir) else { continue };
        for path in read.flatten().map(|e| e.path()) {
            if path.extension().is_some_and(|e| e == "toml") {
                let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                entries.push((kind, name, path));
            }
        }
    }
    entries.sort();
    let mut out = String::from("&[\n");
    for (kind, name, path) in &entries {
        writeln!(out, "    BuiltIn {{ dir: {kind:?}, name: {name:?}, text: include_str!({:?}) }},", path.display())
            .expect("writing to a String");
    }
    out.push_str("]\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("builtin_profiles.rs");
    std::fs::write(&dest, out).expect("OUT_DIR is writable");
}
