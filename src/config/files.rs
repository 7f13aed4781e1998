//! The files a deploy reads before anything changes: definition files (`--file`) and smoke
//! inputs (`--smoke-input`). Each must read, and a smoke input parse, now.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::exit_code::Failure;

/// StartExecution takes an input of at most 256 KiB.
pub const SMOKE_INPUT_MAX: usize = 256 * 1024;

/// A definition file read from disk: its JSON text (a YAML file is converted).
#[derive(Clone, Debug)]
pub struct DefinitionFile {
    pub path: PathBuf,
    pub text: String,
}

/// Each `--smoke-input`: a JSON file, or a directory whose `*.json` files are taken in name
/// order. Every one must read and parse now, before anything changes.
pub fn read_smoke_inputs(paths: &[PathBuf]) -> Result<Vec<(PathBuf, String)>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            files.extend(json_files_in(path)?);
        } else {
            files.push(path.clone());
        }
    }
    files.into_iter().map(|file| read_smoke_input(&file).map(|text| (file, text))).collect()
}

/// The `*.json` files of a directory, in name order; at least one.
fn json_files_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Failure::usage(format!("cannot read --smoke-input {}: {e}", dir.display())))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    if found.is_empty() {
        return Err(Failure::usage(format!("--smoke-input {} has no *.json file", dir.display())));
    }
    found.sort();
    Ok(found)
}

/// One smoke input: JSON, and small enough to start an execution with.
fn read_smoke_input(file: &Path) -> Result<String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::usage(format!("cannot read --smoke-input {}: {e}", file.display())))?;
    serde_json::from_str::<serde_json::Value>(&text)
        .map_err(|e| Failure::usage(format!("--smoke-input {} is not JSON: {e}", file.display())))?;
    if text.len() > SMOKE_INPUT_MAX {
        return Err(Failure::usage(format!(
            "--smoke-input {} is {} KiB: an execution's input may be at most 256 KiB",
            file.display(),
            text.len().div_ceil(1024)
        )));
    }
    Ok(text)
}

pub fn read_definition(path: &Path) -> Result<DefinitionFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("cannot read --file {}: {e}", path.display())))?;
    if text.trim().is_empty() {
        return Err(Failure::usage(format!("--file {} is empty", path.display())));
    }
    let yaml =
        path.extension().is_some_and(|x| x.eq_ignore_ascii_case("yaml") || x.eq_ignore_ascii_case("yml"));
    let text = if yaml { yaml_to_json(&text, path)? } else { text };
    Ok(DefinitionFile { path: path.to_path_buf(), text })
}

/// A definition kept in YAML (as SAM templates and Workflow Studio keep them), as the JSON Step
/// Functions takes: keys in their order, a repeated key an error.
fn yaml_to_json(text: &str, path: &Path) -> Result<String> {
    let value: serde_json::Value = serde_saphyr::from_str(text).map_err(|e| {
        let first =
            e.to_string().lines().next().unwrap_or_default().trim_start_matches("error: ").to_string();
        Failure::usage(format!("--file {} is not valid YAML: {first}", path.display()))
    })?;
    if !value.is_object() {
        return Err(Failure::usage(format!(
            "--file {} is YAML but not a mapping: a definition is one",
            path.display()
        )));
    }
    serde_json::to_string_pretty(&value)
        .map_err(|e| Failure::usage(format!("--file {}: {e}", path.display())))
}
