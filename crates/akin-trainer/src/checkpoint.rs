//! Checkpoints: every variable of a `VarStore` in one safetensors file, written atomically and
//! loaded only when names, shapes and kinds all match the model.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use tch::nn::VarStore;
use tch::{Device, Tensor};

use crate::TrainError;

/// Writes `store` to a temporary file next to `path`, flushes it to disk, then renames it
/// over `path`, so a reader sees the old checkpoint or the new one, never half of one.
pub fn save(store: &VarStore, path: &Path) -> Result<(), TrainError> {
    let mut named: Vec<(String, Tensor)> = store
        .variables()
        .into_iter()
        .map(|(name, tensor)| (name, tensor.to_device(Device::Cpu).contiguous()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));

    let temporary = temporary_path(path)?;
    let written = Tensor::write_safetensors(&named, &temporary)
        .map_err(TrainError::from)
        .and_then(|()| Ok(fs::File::open(&temporary)?.sync_all()?))
        .and_then(|()| Ok(fs::rename(&temporary, path)?));
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

/// `dir/.name.tmp-<pid>` for `dir/name`.
fn temporary_path(path: &Path) -> Result<PathBuf, TrainError> {
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("checkpoint path {} has no file name", path.display()),
        )
    })?;
    let temporary = format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id());
    Ok(path.with_file_name(temporary))
}

/// Copies the tensors of the checkpoint at `path` into `store`'s variables.
///
/// Fails with `IncompatibleCheckpoint`, leaving `store` untouched, when the checkpoint lacks a
/// variable, has an extra one, or stores one with another shape or kind.
pub fn load(store: &VarStore, path: &Path) -> Result<(), TrainError> {
    let saved: HashMap<String, Tensor> = Tensor::read_safetensors(path)?.into_iter().collect();
    let mut variables = store.variables();
    check_compatible(&variables, &saved)?;

    tch::no_grad(|| {
        for (name, variable) in variables.iter_mut() {
            variable.f_copy_(&saved[name])?;
        }
        Ok(())
    })
}

fn check_compatible(
    variables: &HashMap<String, Tensor>,
    saved: &HashMap<String, Tensor>,
) -> Result<(), TrainError> {
    let incompatible = |message: String| Err(TrainError::IncompatibleCheckpoint(message));
    if let Some(extra) = saved.keys().find(|name| !variables.contains_key(*name)) {
        return incompatible(format!("it has variable {extra}, which this model lacks"));
    }
    for (name, variable) in variables {
        let Some(tensor) = saved.get(name) else {
            return incompatible(format!("it lacks variable {name}"));
        };
        if tensor.size() != variable.size() || tensor.kind() != variable.kind() {
            return incompatible(format!(
                "{name} is {:?} {:?} there but {:?} {:?} here",
                tensor.kind(),
                tensor.size(),
                variable.kind(),
                variable.size()
            ));
        }
    }
    Ok(())
}
