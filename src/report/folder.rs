//! Report folders that never destroy a user's files.
//!
//! Every report folder carries a small manifest, [`MANIFEST`], listing the
//! files servesim wrote into it. An existing `--out` folder is replaced only
//! when it is empty, or holds that manifest and nothing else but the files
//! the manifest lists; anything else (a user's folder, the scenario's own
//! folder, a project, an existing plain file) is refused and left untouched.
//! There is deliberately no `--force`: the only folders servesim may replace
//! are ones it can prove it wrote, and a flag that deletes anything else
//! would be the bug this module exists to prevent.
//!
//! Writes are atomic: the new report is built in a hidden sibling
//! `.<leaf>.tmp-<pid>` (manifest first), then renamed into place; the old
//! report is renamed aside to `.<leaf>.old-<pid>` and only its listed files
//! are deleted. An interrupted run (SIGTERM, power loss) leaves at most such
//! a hidden sibling, which the next write into the same parent cleans up
//! once its process is gone, again deleting only the files it lists.

use super::ReportError;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

/// The marker file of a report folder: the files servesim wrote there.
pub const MANIFEST: &str = ".servesim-report.json";

#[derive(Serialize, Deserialize)]
struct Manifest {
    /// Always "servesim report": what the folder is, for someone who opens it.
    kind: String,
    /// The files servesim wrote beside the manifest, by name.
    files: Vec<String>,
}

const KIND: &str = "servesim report";

const NOT_A_REPORT: &str = "exists and is not a servesim report folder";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io { path: path.to_path_buf(), source }
}

fn refused(dir: &Path, why: impl Into<String>) -> ReportError {
    let why = format!(
        "{}; use an empty or new folder (servesim replaces only report folders it wrote, marked by {MANIFEST})",
        why.into()
    );
    ReportError::Refused { path: dir.to_path_buf(), why }
}

/// The files a folder may hold for servesim to delete it: `Some(listed)`
/// when it is empty or a report folder (manifest plus only listed regular
/// files), `None` when it holds anything servesim did not write.
fn own_files(dir: &Path) -> Result<Option<Vec<String>>, ReportError> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let is_file = entry.file_type().map_err(io(dir))?.is_file();
        match entry.file_name().into_string() {
            Ok(name) if is_file => names.push(name),
            _ => return Ok(None),
        }
    }
    if names.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let Some(manifest) = fs::read(dir.join(MANIFEST)).ok().and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
    else {
        return Ok(None);
    };
    if manifest.kind != KIND || names.iter().any(|n| n != MANIFEST && !manifest.files.contains(n)) {
        return Ok(None);
    }
    Ok(Some(names))
}

/// Deletes a folder servesim wrote: its listed files, then the (now empty)
/// folder. Never recursive, so a file that appeared meanwhile survives
/// (and keeps the folder).
fn remove_own(dir: &Path, names: &[String]) {
    for name in names {
        let _ = fs::remove_file(dir.join(name));
    }
    let _ = fs::remove_dir(dir);
}

/// `dir` made absolute where it exists, so `.` and `..` have a leaf.
fn resolve(dir: &Path) -> Result<PathBuf, ReportError> {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(dir.to_path_buf()),
        Err(e) => Err(io(dir)(e)),
        Ok(meta) if meta.file_type().is_symlink() => {
            Err(refused(dir, "is a symbolic link; servesim writes a report only into a real folder"))
        }
        Ok(meta) if !meta.is_dir() => Err(refused(dir, "is a file, not a folder; it was left untouched")),
        Ok(_) => fs::canonicalize(dir).map_err(io(dir)),
    }
}

/// Checks that a report may be written at `dir`, before any work is done
/// for it: `dir` is new, empty, or a report folder servesim wrote.
pub fn check_out(dir: &Path) -> Result<(), ReportError> {
    let target = resolve(dir)?;
    if !target.exists() {
        return Ok(());
    }
    if std::env::current_dir().is_ok_and(|cwd| cwd.starts_with(&target)) {
        return Err(refused(dir, "is the current folder (or holds it)"));
    }
    match own_files(&target)? {
        Some(_) => Ok(()),
        None => Err(refused(dir, NOT_A_REPORT)),
    }
}

/// Whether process `pid` is still running (where that can be known: Linux
/// `/proc`; elsewhere every process is assumed alive, so nothing is cleaned).
fn alive(pid: u32) -> bool {
    !Path::new("/proc/self").exists() || Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes `.<leaf>.tmp-<pid>` and `.<leaf>.old-<pid>` folders in `parent`
/// left by servesim processes that are gone, if they hold only their own files.
fn clean_stale(parent: &Path, leaf: &str) {
    let Ok(entries) = fs::read_dir(parent) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = [".tmp-", ".old-"]
            .iter()
            .find_map(|tag| name.strip_prefix(&format!(".{leaf}{tag}")))
            .and_then(|pid| pid.parse::<u32>().ok());
        if pid.filter(|&p| p != std::process::id() && !alive(p)).is_none() {
            continue;
        }
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            if let Ok(Some(names)) = own_files(&path) {
                remove_own(&path, &names);
            }
        }
    }
}

/// Writes `files` (name, bytes) as the report folder `dir`, atomically, and
/// returns `dir`. Refuses (leaving everything as it was) unless `dir` is
/// new, empty, or a report folder servesim wrote.
pub fn write_files(dir: &Path, files: &[(&str, Vec<u8>)]) -> Result<PathBuf, ReportError> {
    check_out(dir)?;
    let target = resolve(dir)?;
    let Some(leaf) = target.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Err(refused(dir, "names no folder"));
    };
    let parent = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(io(parent))?;
    clean_stale(parent, &leaf);
    let pid = std::process::id();
    let tmp = parent.join(format!(".{leaf}.tmp-{pid}"));
    let old = parent.join(format!(".{leaf}.old-{pid}"));
    let names: Vec<String> = files.iter().map(|(name, _)| name.to_string()).collect();
    // A previous process with this pid may have left its folders behind.
    for leftover in [&tmp, &old] {
        if let Ok(Some(names)) = own_files(leftover) {
            remove_own(leftover, &names);
        }
    }
    let result = (|| {
        fs::create_dir(&tmp).map_err(io(&tmp))?;
        let manifest = Manifest { kind: KIND.into(), files: names.clone() };
        let mut text = serde_json::to_string_pretty(&manifest)
            .map_err(|e| ReportError::Encode { what: MANIFEST, message: e.to_string() })?;
        text.push('\n');
        fs::write(tmp.join(MANIFEST), text).map_err(io(&tmp))?;
        for (name, bytes) in files {
            let path = tmp.join(name);
            fs::write(&path, bytes).map_err(io(&path))?;
        }
        // Checked again: the folder may have changed while the run worked.
        let replaced = match target.exists() {
            true => Some(own_files(&target)?.ok_or_else(|| refused(dir, NOT_A_REPORT))?),
            false => None,
        };
        if replaced.is_some() {
            fs::rename(&target, &old).map_err(io(&target))?;
        }
        if let Err(e) = fs::rename(&tmp, &target) {
            if replaced.is_some() {
                let _ = fs::rename(&old, &target);
            }
            return Err(io(&target)(e));
        }
        if let Some(names) = replaced {
            remove_own(&old, &names);
        }
        Ok(dir.to_path_buf())
    })();
    if result.is_err() {
        if let Ok(Some(names)) = own_files(&tmp) {
            remove_own(&tmp, &names);
        }
    }
    result
}

/// Writes `bytes` to `path` through a hidden temporary sibling and a
/// rename, so readers see the old file or the new one, never a part.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let parent = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(parent)?;
    let leaf = path.file_name().map_or("file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = parent.join(format!(".{leaf}.tmp-{}", std::process::id()));
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}
