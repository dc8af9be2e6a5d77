//! The inverted index: for each label name and value, the series that have it, sorted.
//! A selector's conjunctive matchers narrow the candidates: for each label they constrain,
//! the union of the lists of the values that pass (a regex or `!=` is tested once per
//! distinct value, not once per series), intersected across labels.

use std::collections::HashMap;

use model::{Labels, SeriesSelector};

type Fast = foldhash::fast::RandomState;

/// Label name → value → series ids, each list sorted.
#[derive(Debug, Default)]
pub(super) struct Index {
    postings: HashMap<String, HashMap<String, Vec<u32>, Fast>, Fast>,
}

impl Index {
    /// Indexes a new series; ids only grow, so each list stays sorted.
    pub(super) fn add(&mut self, id: u32, labels: &Labels) {
        for (name, value) in labels.iter() {
            let values = match self.postings.get_mut(name) {
                Some(v) => v,
                None => self.postings.entry(name.to_owned()).or_default(),
            };
            match values.get_mut(value) {
                Some(list) => list.push(id),
                None => {
                    values.insert(value.to_owned(), vec![id]);
                }
            }
        }
    }

    /// Forgets the series in `gone` (sorted).
    pub(super) fn remove(&mut self, gone: &[u32]) {
        for values in self.postings.values_mut() {
            values.retain(|_, list| {
                list.retain(|id| gone.binary_search(id).is_err());
                !list.is_empty()
            });
        }
        self.postings.retain(|_, values| !values.is_empty());
    }

    /// The series that may match `selector`, sorted; `None` when the index cannot narrow
    /// them (no constrained label, or one whose matchers accept a missing label).
    pub(super) fn candidates(&self, selector: &dyn SeriesSelector) -> Option<Vec<u32>> {
        let mut result: Option<Vec<u32>> = None;
        for name in selector.indexed_names() {
            if selector.value_matches(name, "") {
                // Series without the label pass too: the index cannot narrow by it.
                continue;
            }
            let Some(values) = self.postings.get(name) else { return Some(Vec::new()) };
            let mut lists: Vec<&Vec<u32>> =
                values.iter().filter(|(v, _)| selector.value_matches(name, v)).map(|(_, l)| l).collect();
            let ids = match lists.len() {
                0 => Vec::new(),
                1 => lists.pop().cloned().unwrap_or_default(),
                _ => {
                    let mut all: Vec<u32> = lists.into_iter().flatten().copied().collect();
                    all.sort_unstable();
                    all.dedup();
                    all
                }
            };
            result = Some(match result {
                None => ids,
                Some(prev) => intersect(&prev, &ids),
            });
            if result.as_ref().is_some_and(Vec::is_empty) {
                break;
            }
        }
        result
    }
}

/// Ids in both sorted lists.
fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}
