//! Reading many entries at once: every element of a list or a mapping on its own, and one
//! subtree with every bad entry reported (the lenient reading), so that a user sees all the
//! errors of a file in one pass.

use serde::de::DeserializeOwned;

use crate::de::join;
use crate::{Diagnostic, Diagnostics, Node, NodeValue};

impl Node {
    /// After a lenient read of this mapping (`clean`: it reported nothing), whether a check
    /// that finds none of `keys` set should say they are missing: always when the read was
    /// clean; otherwise only when none of them was written at all, since a key left out for
    /// its own error has been reported already.
    pub fn missing_unreported(&self, clean: bool, keys: &[&str]) -> bool {
        clean || keys.iter().all(|k| self.get(k).is_none())
    }

    /// Deserializes every element of this sequence on its own, so one bad element costs one
    /// diagnostic and the rest are still checked. A null node is an empty list. Returns the
    /// good elements with their index and node.
    pub fn each<T: DeserializeOwned>(&self, path: &str, diags: &mut Diagnostics) -> Vec<(usize, T, &Node)> {
        match &self.value {
            NodeValue::Null => Vec::new(),
            NodeValue::Seq(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| match item.deserialize(&format!("{path}[{i}]")) {
                    Ok(v) => Some((i, v, item)),
                    Err(d) => {
                        diags.push(d);
                        None
                    }
                })
                .collect(),
            other => {
                diags.push(self.diagnostic(path, format!("expected a sequence, found {}", other.kind())));
                Vec::new()
            }
        }
    }

    /// Deserializes this subtree into `T`, reporting every bad mapping entry instead of only
    /// the first. Each error goes to `diags`; the entry it is about — an unknown key, a value
    /// of the wrong type, a nested mapping that misses a field — is left out, at the deepest
    /// mapping that holds it, and the rest is deserialized again. A left-out field takes its
    /// `#[serde(default)]`, so the returned `T` may be partial: check it to find more errors,
    /// but do not use it as the configuration when diagnostics were added. A "missing field"
    /// error caused only by leaving an entry out is not reported twice. `None` when an error
    /// cannot be pinned to an entry (this node itself has the wrong kind or misses a
    /// required field).
    pub fn deserialize_lenient<T: DeserializeOwned>(&self, path: &str, diags: &mut Diagnostics) -> Option<T> {
        let mut pruned_tree: Option<Node> = None;
        let mut pruned_paths: Vec<String> = Vec::new();
        loop {
            let node = pruned_tree.as_ref().unwrap_or(self);
            let error = match node.deserialize::<T>(path) {
                Ok(value) => return Some(value),
                Err(d) => d,
            };
            if !pruned_paths.iter().any(|p| missing_because_pruned(&error, p)) {
                diags.push(error.clone());
            }
            let mut tree = pruned_tree.take().unwrap_or_else(|| self.clone());
            if !prune(&mut tree, path, &error.field) {
                return None;
            }
            pruned_paths.push(error.field);
            pruned_tree = Some(tree);
        }
    }

    /// Like [`Node::each`], but each element through [`Node::deserialize_lenient`], so every
    /// bad entry of an element is reported, not only its first. The flag says whether the
    /// element deserialized cleanly; a partial one is returned for further checks only.
    pub fn each_lenient<T: DeserializeOwned>(
        &self,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Vec<(usize, T, &Node, bool)> {
        match &self.value {
            NodeValue::Null => Vec::new(),
            NodeValue::Seq(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    let before = diags.len();
                    let value = item.deserialize_lenient(&format!("{path}[{i}]"), diags)?;
                    Some((i, value, item, diags.len() == before))
                })
                .collect(),
            other => {
                diags.push(self.diagnostic(path, format!("expected a sequence, found {}", other.kind())));
                Vec::new()
            }
        }
    }

    /// Like [`Node::each_entry`], but each value through [`Node::deserialize_lenient`]; the
    /// flag says whether the value deserialized cleanly.
    pub fn each_entry_lenient<T: DeserializeOwned>(
        &self,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Vec<(String, T, &Node, bool)> {
        self.map_entries(path, diags, |key, value, diags| {
            let before = diags.len();
            let t = value.deserialize_lenient(&join(path, &key), diags)?;
            Some((key, t, value, diags.len() == before))
        })
    }

    /// Like [`Node::each`] for a mapping keyed by name: each value on its own.
    pub fn each_entry<T: DeserializeOwned>(&self, path: &str, diags: &mut Diagnostics) -> Vec<(String, T, &Node)> {
        self.map_entries(path, diags, |key, value, diags| match value.deserialize(&join(path, &key)) {
            Ok(t) => Some((key, t, value)),
            Err(d) => {
                diags.push(d);
                None
            }
        })
    }

    /// Calls `read` on each entry of this mapping (null: none) with its key as text; keys
    /// that are not scalars and a node that is not a mapping are reported in `diags`.
    fn map_entries<'a, R>(
        &'a self,
        path: &str,
        diags: &mut Diagnostics,
        mut read: impl FnMut(String, &'a Node, &mut Diagnostics) -> Option<R>,
    ) -> Vec<R> {
        match &self.value {
            NodeValue::Null => Vec::new(),
            NodeValue::Map(entries) => entries
                .iter()
                .filter_map(|(k, v)| {
                    let Some(key) = k.scalar_text() else {
                        diags.push(k.diagnostic(path, "keys must be scalars"));
                        return None;
                    };
                    read(key, v, diags)
                })
                .collect(),
            other => {
                diags.push(self.diagnostic(path, format!("expected a mapping, found {}", other.kind())));
                Vec::new()
            }
        }
    }
}

/// Whether `path` (the field path of an error) is `prefix` or lies below it.
fn within(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

/// Removes from `node` (found at `path`) the mapping entry that the error at `target` is
/// about: the deepest entry on the way to `target`. Sequence elements are never removed
/// (later indices would shift); an error inside one removes the entry holding the
/// sequence. Returns whether something was removed.
fn prune(node: &mut Node, path: &str, target: &str) -> bool {
    match &mut node.value {
        NodeValue::Map(entries) => {
            let found =
                entries.iter().position(|(k, _)| within(target, &join(path, &k.scalar_text().unwrap_or_default())));
            let Some(i) = found else { return false };
            let key_path = join(path, &entries[i].0.scalar_text().unwrap_or_default());
            if !prune(&mut entries[i].1, &key_path, target) {
                entries.remove(i);
            }
            true
        }
        NodeValue::Seq(items) => items
            .iter_mut()
            .enumerate()
            .map(|(i, item)| (format!("{path}[{i}]"), item))
            .find(|(item_path, _)| within(target, item_path))
            .is_some_and(|(item_path, item)| prune(item, &item_path, target)),
        _ => false,
    }
}

/// Whether `error` only says that the entry at `pruned`, left out after an earlier error,
/// is missing from its mapping.
fn missing_because_pruned(error: &Diagnostic, pruned: &str) -> bool {
    let name = if error.field.is_empty() {
        Some(pruned)
    } else {
        pruned.strip_prefix(error.field.as_str()).and_then(|rest| rest.strip_prefix('.'))
    };
    name.is_some_and(|name| error.message == format!("missing field `{name}`"))
}
