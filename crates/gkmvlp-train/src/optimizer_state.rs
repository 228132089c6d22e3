//! AdamW's moments in the checkpoint, so `--resume` continues exactly where the run stopped.
//!
//! burn keys an optimizer record by parameter id, and ids are drawn anew whenever a model is built; a model
//! reloaded from safetensors would find none of its moments. So the checkpoint also keeps each
//! parameter's id by module path, and a resumed model takes those ids back before the record is applied.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::ModuleOptimizer;
use burn::tensor::Tensor;
use gkmvlp::GkMvlp;

pub const OPTIMIZER_FILE: &str = "optimizer.bpk";
pub const PARAM_IDS_FILE: &str = "param_ids.json";

/// Module path of each float parameter → its id.
type ParamIds = BTreeMap<String, u64>;

#[derive(Default)]
struct CollectIds {
    path: Vec<String>,
    ids: ParamIds,
}

impl ModuleVisitor for CollectIds {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.ids.insert(self.path.join("."), param.id.val());
    }
}

struct RestoreIds<'a> {
    path: Vec<String>,
    ids: &'a ParamIds,
    missing: Vec<String>,
}

impl ModuleMapper for RestoreIds<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let path = self.path.join(".");
        let Some(&id) = self.ids.get(&path) else {
            self.missing.push(path);
            return param;
        };
        let (_, value, mapper) = param.consume();
        Param::from_mapped_value(ParamId::from(id), value, mapper)
    }
}

/// Writes the optimizer's state and the model's parameter ids into `dir`, each through a temporary name.
pub fn save(optimizer: &ModuleOptimizer, model: &GkMvlp, dir: &Path) -> Result<()> {
    let mut collect = CollectIds::default();
    model.visit(&mut collect);
    let ids = serde_json::to_vec(&collect.ids).context("cannot serialise the parameter ids")?;
    let temporary = |name: &str| dir.join(format!("{name}.tmp"));
    std::fs::write(temporary(PARAM_IDS_FILE), ids)
        .with_context(|| format!("cannot write {}", temporary(PARAM_IDS_FILE).display()))?;
    optimizer
        .save(temporary(OPTIMIZER_FILE))
        .with_context(|| format!("{}: cannot save the optimizer state", temporary(OPTIMIZER_FILE).display()))?;
    for name in [PARAM_IDS_FILE, OPTIMIZER_FILE] {
        std::fs::rename(temporary(name), dir.join(name))
            .with_context(|| format!("cannot rename {} to {}", temporary(name).display(), dir.join(name).display()))?;
    }
    Ok(())
}

/// Gives `model` the parameter ids saved in `dir` and returns the optimizer with its saved state.
pub fn load(optimizer: ModuleOptimizer, model: GkMvlp, dir: &Path) -> Result<(ModuleOptimizer, GkMvlp)> {
    let ids_path = dir.join(PARAM_IDS_FILE);
    let bytes = std::fs::read(&ids_path).with_context(|| {
        format!("cannot read {} (a checkpoint from before optimizer state was saved?)", ids_path.display())
    })?;
    let ids: ParamIds =
        serde_json::from_slice(&bytes).with_context(|| format!("{}: not valid parameter ids", ids_path.display()))?;
    let mut restore = RestoreIds { path: Vec::new(), ids: &ids, missing: Vec::new() };
    let model = model.map(&mut restore);
    if let Some(first) = restore.missing.first() {
        bail!("{}: {} parameter(s) have no saved id, first `{first}`", ids_path.display(), restore.missing.len());
    }
    let optimizer_path = dir.join(OPTIMIZER_FILE);
    let optimizer = optimizer
        .load(&optimizer_path)
        .with_context(|| format!("{}: cannot load the optimizer state", optimizer_path.display()))?;
    Ok((optimizer, model))
}
