//! The source tree's layering: `src/lib.rs` declares its modules (the
//! leaves, then the stage folders) in order, and every file of a module
//! uses only the modules declared before it, which rules out an import
//! cycle between modules. The files of one stage folder are that stage's
//! own business. Test code, which may reach anywhere, is not counted.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// `mod name;` lines of `text`, in order.
fn declared_modules(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l
                .strip_prefix("pub mod ")
                .or_else(|| l.strip_prefix("mod "))?;
            rest.strip_suffix(';').map(str::to_string)
        })
        .collect()
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `text` without its test code: everything from the first
/// `#[cfg(test)]` on (test modules sit at the bottom of each file).
fn production_code(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |at| &text[..at])
}

/// The paths `text` names under `crate::`, as their segments, from `use`
/// lines and inline paths alike (`use crate::{a::b, c}` gives both).
fn crate_paths(text: &str) -> Vec<Vec<String>> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut paths = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                paths.push(segments(item.trim()));
            }
        } else {
            paths.push(segments(rest));
        }
    }
    paths.retain(|p| !p.is_empty());
    paths
}

/// The leading `a::b::c` segments of `text`.
fn segments(text: &str) -> Vec<String> {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(text.len());
    text[..end]
        .split("::")
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn modules_use_only_modules_below_them_and_folders_have_no_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = fs::read_to_string(src.join("lib.rs")).unwrap();
    let order = declared_modules(production_code(&lib));
    let rank: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_str(), i))
        .collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
            .collect();
        let Some(&own) = rank.get(parts[0].as_str()) else {
            continue; // lib.rs, main.rs and the binary's own modules
        };
        if parts.last().is_some_and(|p| p == "tests") {
            continue; // a whole file of tests
        }
        let text = fs::read_to_string(file).unwrap();
        let code = production_code(&text);
        for path in crate_paths(code) {
            let top = path[0].as_str();
            match rank.get(top) {
                Some(&r) if r > own => wrong.push(format!(
                    "{}: uses crate::{} (declared after {} in lib.rs)",
                    rel.display(),
                    path.join("::"),
                    parts[0]
                )),
                _ => {}
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layering of src/lib.rs ({}):\n{}",
        order.join(" < "),
        wrong.join("\n")
    );
}
