//! Context bundles: the Contextual Anomaly Detector (CAD OSE, M. Smirnov 2016), the
//! detector with the best low-false-positive score on NAB's published board.
//!
//! Each value is quantised into a few bits, each bit a *fact*. A *context* pairs the facts
//! that held a moment ago (the left half: the previous value's facts and the contexts that
//! were active then, as "neuron" facts) with the facts that hold now (the right half). A
//! context whose both halves are present is *active*; the most used active contexts become
//! the neuron facts of the next left half, so contexts chain into sequences. The anomaly is
//! how little of what the past predicted came true (the share of fully-matched left halves
//! whose right half did not follow) plus how much of the present had never been seen (the
//! share of candidate contexts that were new), halved.
//!
//! The port follows NAB's reference implementation step for step, down to the order in which
//! it visits contexts (Python 2's tuple hashes break ties between equally used contexts, and
//! its dictionary order decides which new contexts are numbered first), so that on NAB it
//! reproduces the published per-record scores (see BENCHMARKS.md). Those orders only decide
//! ties; nothing else depends on Python.
//!
//! Like the reference, the context memory is unbounded: it grows with every new context
//! (to 128 KB on NAB's median file and 2.8 MB on its largest, against the 64 KiB every
//! product detector keeps to), and
//! each record costs time in proportion to it. Capping it costs CAD its score (with at most
//! 1,024 contexts: 68.84 / 64.06 / 72.47 instead of 69.90 / 66.98 / 73.18). So this port is a
//! reference for the benchmark, not a detector the live loop offers.

use std::collections::HashMap;

/// Bits per quantised value (eight levels across the range).
const VALUE_BITS: u32 = 3;
/// Score at which later records are silenced for the rest period.
const BASE_THRESHOLD: f64 = 0.75;
/// Longest left half a learnt (non-zero-level) context may have.
const MAX_LEFT_LEN: usize = 7;
/// Active contexts that become neuron facts.
const MAX_ACTIVE: usize = 15;
/// Facts at or above this name a context (a "neuron").
const NEURON: u32 = 1 << 31;

/// Python 2's hash of a tuple of small non-negative ints (64-bit build).
fn tuple_hash(items: &[u32]) -> i64 {
    let mut x: i64 = 0x345678;
    let mut mult: i64 = 1_000_003;
    let mut left = items.len() as i64;
    for item in items {
        left -= 1;
        x = (x ^ i64::from(*item)).wrapping_mul(mult);
        mult = mult.wrapping_add(82_520 + left + left);
    }
    x = x.wrapping_add(97_531);
    if x == -1 { -2 } else { x }
}

/// A small int-keyed map that iterates in the order a Python 2 dict of the same insertions
/// would: slot order in an open-addressing table that grows fourfold at two thirds full.
#[derive(Default)]
struct SlotOrderMap {
    /// (key, value, slot), sorted by slot.
    entries: Vec<(u32, u32, u32)>,
    /// log2 of the table size (3: eight slots).
    size_bits: u8,
}

impl SlotOrderMap {
    fn mask(&self) -> u64 {
        (1u64 << self.size_bits.max(3)) - 1
    }

    fn get(&self, key: u32) -> Option<u32> {
        self.entries.iter().find(|e| e.0 == key).map(|e| e.1)
    }

    /// The first free slot on `key`'s probe sequence.
    fn probe(key: u32, mask: u64, taken: impl Fn(u32) -> bool) -> u32 {
        let mut i = u64::from(key) & mask;
        let mut perturb = u64::from(key);
        while taken((i & mask) as u32) {
            i = (i << 2).wrapping_add(i).wrapping_add(perturb).wrapping_add(1);
            perturb >>= 5;
        }
        (i & mask) as u32
    }

    fn insert(&mut self, key: u32, value: u32) {
        let mask = self.mask();
        let slot = Self::probe(key, mask, |s| self.entries.iter().any(|e| e.2 == s));
        let at = self.entries.partition_point(|e| e.2 < slot);
        self.entries.insert(at, (key, value, slot));
        let used = self.entries.len() as u64;
        if used * 3 >= (mask + 1) * 2 {
            let mut bits = 3u8;
            while (1u64 << bits) <= 4 * used {
                bits += 1;
            }
            self.size_bits = bits;
            let new_mask = self.mask();
            let old = std::mem::take(&mut self.entries);
            for (k, v, _) in old {
                let slot = Self::probe(k, new_mask, |s| self.entries.iter().any(|e| e.2 == s));
                self.entries.push((k, v, slot));
            }
            self.entries.sort_unstable_by_key(|e| e.2);
        }
    }

    fn iter(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.entries.iter().map(|e| (e.0, e.1))
    }

    fn bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<(u32, u32, u32)>()
    }
}

/// One half of contexts (left or right), shared by every context with the same facts.
struct Half {
    hash: i64,
    facts: Box<[u32]>,
    /// Left halves only: right half → context.
    contexts: SlotOrderMap,
}

/// All halves of one side, indexed by hash and by fact.
#[derive(Default)]
struct Side {
    halves: Vec<Half>,
    /// Per half, which positions of the last crossing's facts it contains (a crossing has at
    /// most 3 value facts and [`MAX_ACTIVE`] neuron facts).
    crossed: Vec<u32>,
    /// Per half, its number of facts (kept beside `crossed` so that a crossing's matches are
    /// read from two small arrays).
    lens: Vec<u8>,
    /// Halves with some crossed fact, ascending: the order the reference visits them in.
    touched: Vec<u32>,
    by_hash: HashMap<i64, u32, foldhash::fast::FixedState>,
    by_fact: HashMap<u32, Vec<u32>, foldhash::fast::FixedState>,
}

impl Side {
    /// The half with these facts, created if new.
    fn half(&mut self, facts: &[u32], hash: i64) -> u32 {
        if let Some(id) = self.by_hash.get(&hash) {
            return *id;
        }
        let half = Half { hash, facts: facts.into(), contexts: SlotOrderMap::default() };
        self.halves.push(half);
        self.crossed.push(0);
        self.lens.push(facts.len().min(255) as u8);
        let id = (self.halves.len() - 1) as u32;
        self.by_hash.insert(hash, id);
        for f in facts {
            self.by_fact.entry(*f).or_default().push(id);
        }
        id
    }

    /// Marks in every half which of `facts` it contains.
    fn cross(&mut self, facts: &[u32]) {
        self.crossed.fill(0);
        for (position, f) in facts.iter().enumerate() {
            if let Some(ids) = self.by_fact.get(f) {
                for id in ids {
                    self.crossed[*id as usize] |= 1 << position;
                }
            }
        }
        self.touched.clear();
        self.touched.extend(self.crossed.iter().enumerate().filter(|(_, m)| **m != 0).map(|(i, _)| i as u32));
    }

    /// How many of its facts half `id` had in the last crossing, and whether that was all.
    fn matched(&self, id: u32) -> (u32, bool) {
        let n = self.crossed[id as usize].count_ones();
        (n, n == u32::from(self.lens[id as usize]))
    }

    /// The crossed facts of half `id`, in the crossing's order.
    fn crossed_facts(&self, id: u32, facts: &[u32]) -> Vec<u32> {
        let mask = self.crossed[id as usize];
        facts.iter().enumerate().filter(|(p, _)| mask & (1 << p) != 0).map(|(_, f)| *f).collect()
    }

    fn bytes(&self) -> usize {
        let halves: usize =
            self.halves.iter().map(|h| std::mem::size_of::<Half>() + h.facts.len() * 4 + h.contexts.bytes()).sum();
        // A hash map entry: key, value and a control byte, at the table's capacity.
        let facts: usize =
            self.by_fact.values().map(|v| v.capacity() * 4).sum::<usize>() + self.by_fact.capacity() * 33;
        halves
            + facts
            + self.by_hash.capacity() * 13
            + (self.crossed.capacity() + self.touched.capacity()) * 4
            + self.lens.capacity()
    }
}

struct Context {
    uses: u32,
    zero_level: bool,
}

/// An active context: its uses, left and right half hashes (the reference's sort key) and id.
type Active = (u32, i64, i64, u32);

/// A candidate context: the crossed facts of a left and a right half.
type Candidate = (Vec<u32>, i64, Vec<u32>, i64);

/// The context memory and the step logic.
pub(crate) struct Cad {
    left: Side,
    right: Side,
    contexts: Vec<Context>,
    /// The zero-level context created by this step, excluded from its own activation. The
    /// reference keeps `False` here between steps, which compares equal to context 0.
    fresh: u32,
    left_facts: Vec<u32>,
    /// The facts of the value now (one per bit: 2·bit + the bit).
    now: [u32; VALUE_BITS as usize],
    /// The latest raw scores, for the rest period (the reference starts with a 1.0).
    recent: std::collections::VecDeque<f64>,
    rest: usize,
}

impl Cad {
    /// A detector silent for `rest` records after a strong score.
    pub(crate) fn new(rest: usize) -> Self {
        let rest = rest.max(1);
        let mut recent = std::collections::VecDeque::with_capacity(rest);
        recent.push_back(1.0);
        Self {
            left: Side::default(),
            right: Side::default(),
            contexts: Vec::new(),
            fresh: 0,
            left_facts: Vec::new(),
            now: [0; VALUE_BITS as usize],
            recent,
            rest,
        }
    }

    /// The score of a value quantised to `level` (0..=7 across the range).
    pub(crate) fn observe_level(&mut self, level: u32) -> f64 {
        let level = level.min((1 << VALUE_BITS) - 1);
        for bit in 0..VALUE_BITS {
            self.now[bit as usize] = 2 * bit + ((level >> bit) & 1);
        }
        let (active_share, new_share) = self.step();
        let raw = (1.0 - active_share + new_share) / 2.0;
        let quiet = self.recent.iter().all(|s| *s < BASE_THRESHOLD);
        if self.recent.len() == self.rest {
            self.recent.pop_front();
        }
        self.recent.push_back(raw);
        if quiet { raw } else { 0.0 }
    }

    fn step(&mut self) -> (f64, f64) {
        let now = self.now;
        let now = &now[..];
        let now_hash = tuple_hash(now);
        let mut candidates_seen: Vec<(i64, i64)> = Vec::new();
        let fresh_zero_level = if self.left_facts.is_empty() {
            false
        } else {
            let before = std::mem::take(&mut self.left_facts);
            let before_hash = tuple_hash(&before);
            candidates_seen.push((before_hash, now_hash));
            let created = self.context(&before, before_hash, now, now_hash, true);
            self.left_facts = before;
            created
        };
        self.right.cross(now);
        let (mut active, selected, candidates) = self.activate(fresh_zero_level);
        candidates_seen.extend(candidates.iter().map(|c| (c.1, c.3)));
        candidates_seen.sort_unstable();
        candidates_seen.dedup();
        let active_share = if selected > 0 { active.len() as f64 / selected as f64 } else { 0.0 };

        // The most used active contexts (ties broken as the reference's sort breaks them)
        // become neuron facts.
        if active.len() > MAX_ACTIVE {
            active.select_nth_unstable_by(MAX_ACTIVE - 1, |a, b| b.cmp(a));
            active.truncate(MAX_ACTIVE);
        }
        let mut neurons: Vec<u32> = active.iter().map(|a| NEURON + a.3).collect();
        neurons.sort_unstable();
        self.left_facts.clear();
        self.left_facts.extend_from_slice(now);
        self.left_facts.extend(neurons);

        let mut created = 0usize;
        for (l, left_hash, r, right_hash) in &candidates {
            if self.context(l, *left_hash, r, *right_hash, false) {
                created += 1;
            }
        }
        let facts = std::mem::take(&mut self.left_facts);
        self.left.cross(&facts);
        self.left_facts = facts;
        created += usize::from(fresh_zero_level);
        let new_share = if fresh_zero_level && !candidates_seen.is_empty() {
            created as f64 / candidates_seen.len() as f64
        } else {
            0.0
        };
        (active_share, new_share)
    }

    /// Finds or creates the context of these halves; true if it was created.
    fn context(&mut self, left: &[u32], left_hash: i64, right: &[u32], right_hash: i64, zero_level: bool) -> bool {
        let l = self.left.half(left, left_hash);
        let r = self.right.half(right, right_hash);
        if let Some(id) = self.left.halves[l as usize].contexts.get(r) {
            if zero_level {
                self.contexts[id as usize].zero_level = true;
            }
            return false;
        }
        self.contexts.push(Context { uses: 0, zero_level });
        let id = (self.contexts.len() - 1) as u32;
        self.left.halves[l as usize].contexts.insert(r, id);
        if zero_level {
            self.fresh = id;
        }
        true
    }

    /// Activates the contexts whose both halves are present; returns the active ones (uses,
    /// left hash, right hash, id), how many had their left half fully present, and the
    /// candidate contexts the partial matches suggest.
    fn activate(&mut self, learning: bool) -> (Vec<Active>, usize, Vec<Candidate>) {
        let mut active = Vec::new();
        let mut selected = 0usize;
        let mut candidates = Vec::new();
        for l in &self.left.touched {
            let (left_matched, left_full) = self.left.matched(*l);
            // A partly matched left half only suggests candidates, and only while learning.
            if !(left_full || learning && left_matched as usize <= MAX_LEFT_LEN) {
                continue;
            }
            let left = &self.left.halves[*l as usize];
            for (r, id) in left.contexts.iter() {
                if id == self.fresh {
                    continue;
                }
                let (right_matched, right_full) = self.right.matched(r);
                let context = &mut self.contexts[id as usize];
                let suggest = context.zero_level && learning && left_matched as usize <= MAX_LEFT_LEN;
                if left_full {
                    selected += 1;
                    if right_matched == 0 {
                        continue;
                    }
                    if right_full {
                        context.uses = context.uses.saturating_add(1);
                        active.push((context.uses, left.hash, self.right.halves[r as usize].hash, id));
                        continue;
                    }
                }
                if suggest && right_matched > 0 {
                    let left_facts = self.left.crossed_facts(*l, &self.left_facts);
                    let right_facts = self.right.crossed_facts(r, &self.now);
                    let (left_hash, right_hash) = (tuple_hash(&left_facts), tuple_hash(&right_facts));
                    candidates.push((left_facts, left_hash, right_facts, right_hash));
                }
            }
        }
        self.fresh = 0;
        (active, selected, candidates)
    }

    /// Contexts held.
    #[cfg(test)]
    pub(crate) fn contexts(&self) -> usize {
        self.contexts.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.left.bytes()
            + self.right.bytes()
            + self.contexts.capacity() * std::mem::size_of::<Context>()
            + self.left_facts.capacity() * 4
            + self.recent.capacity() * 8
    }
}

/// CAD OSE as a detector of its own: values quantised across the prior range (as NAB's
/// reference does), or across the range seen so far when none is known.
pub(crate) struct CadDetector {
    cad: Cad,
    lo: f64,
    hi: f64,
    known: bool,
    seen: usize,
    probation: usize,
}

impl CadDetector {
    pub(crate) fn new(prior: super::Prior) -> Self {
        let probation = prior.probation.max(1);
        let (lo, hi, known) = match (prior.min, prior.max) {
            (Some(lo), Some(hi)) if lo.is_finite() && hi.is_finite() && hi >= lo => (lo, hi, true),
            _ => (f64::INFINITY, f64::NEG_INFINITY, false),
        };
        // The reference's rest period: a fifth of the probation.
        Self { cad: Cad::new(probation / 5), lo, hi, known, seen: 0, probation }
    }

    fn level(&mut self, v: f64) -> u32 {
        if !self.known {
            self.lo = self.lo.min(v);
            self.hi = self.hi.max(v);
        }
        let levels = f64::from((1u32 << VALUE_BITS) - 1);
        let range = self.hi - self.lo;
        let step = if range > 0.0 { range / levels } else { 1.0 };
        let level = ((v - self.lo) / step).floor();
        if level.is_nan() { 0 } else { level.clamp(0.0, levels) as u32 }
    }
}

impl super::Detector for CadDetector {
    fn observe(&mut self, _t: model::Millis, v: f64) -> f64 {
        if !v.is_finite() {
            return 0.0;
        }
        let level = self.level(v);
        let score = self.cad.observe_level(level);
        self.seen += 1;
        if self.seen <= self.probation { 0.0 } else { super::unit(score) }
    }

    fn state_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.cad.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_hash_as_in_python_2() {
        // Values from CPython 2.7 on a 64-bit build.
        assert_eq!(tuple_hash(&[]), 3_527_539);
        assert_eq!(tuple_hash(&[1, 2, 3]), 2_528_502_973_977_326_415);
    }

    #[test]
    fn contexts_are_visited_in_python_2_dict_order() {
        let mut map = SlotOrderMap::default();
        for key in [9, 1, 17, 2] {
            map.insert(key, key * 10);
        }
        // In eight slots: 9 takes slot 1; 1 collides and probes to 7; 17 collides twice and
        // lands in 4; 2 takes 2.
        assert_eq!(map.iter().collect::<Vec<_>>(), vec![(9, 90), (2, 20), (17, 170), (1, 10)]);
        assert_eq!(map.get(17), Some(170));
        for key in [25, 3] {
            map.insert(key, key * 10);
        }
        // The sixth key fills two thirds: the table grows to 32 slots, where each key has its own.
        assert_eq!(map.iter().map(|e| e.0).collect::<Vec<_>>(), vec![1, 2, 3, 9, 17, 25]);
    }

    /// Raw scores (no rest period) of a sequence of levels.
    fn raw_scores(levels: impl IntoIterator<Item = u32>) -> Vec<f64> {
        let mut cad = Cad::new(1);
        levels
            .into_iter()
            .map(|level| {
                for bit in 0..VALUE_BITS {
                    cad.now[bit as usize] = 2 * bit + ((level >> bit) & 1);
                }
                let (active, new) = cad.step();
                (1.0 - active + new) / 2.0
            })
            .collect()
    }

    #[test]
    fn a_repeated_sequence_becomes_familiar_and_a_break_in_it_is_news() {
        let cycle = [0, 2, 4, 6, 7, 5, 3, 1];
        let learnt: Vec<u32> = cycle.iter().copied().cycle().take(8 * 40).collect();
        let scores = raw_scores(learnt.iter().copied().chain([0, 7, 0, 7]));
        let last_cycle = &scores[8 * 39..8 * 40];
        assert!(last_cycle.iter().all(|s| *s < 0.1), "the learnt cycle still scores {last_cycle:?}");
        let first_cycle_top = scores[1..8].iter().copied().fold(0.0, f64::max);
        assert!(first_cycle_top >= 0.5, "the first cycle scored at most {first_cycle_top}");
        let break_top = scores[8 * 40..].iter().copied().fold(0.0, f64::max);
        assert!(break_top >= 0.75, "the break scored at most {break_top}: {:?}", &scores[8 * 40..]);
    }

    #[test]
    fn a_repeated_sequence_stops_adding_contexts() {
        let mut cad = Cad::new(1);
        let cycle = [0, 2, 4, 6, 7, 5, 3, 1];
        let mut held = Vec::new();
        for round in 0..40 {
            for level in cycle {
                cad.observe_level(level);
            }
            if round % 10 == 9 {
                held.push(cad.contexts());
            }
        }
        assert!(held[0] > 8, "a cycle of eight levels learnt only {} contexts", held[0]);
        assert_eq!(held[2], held[3], "contexts still grow on a learnt cycle: {held:?}");
    }

    #[test]
    fn after_a_strong_score_the_rest_period_is_quiet() {
        let mut cad = Cad::new(5);
        let cycle = [0, 2, 4, 6, 7, 5, 3, 1];
        let learnt: Vec<f64> = cycle.iter().cycle().take(8 * 40).map(|l| cad.observe_level(*l)).collect();
        // The reference starts its history with a 1.0: the first `rest` records are silent.
        assert!(learnt[..5].iter().all(|s| *s == 0.0), "{:?}", &learnt[..5]);
        let broken: Vec<f64> = [0, 7, 0, 7, 0, 7, 0].iter().map(|l| cad.observe_level(*l)).collect();
        assert!(broken[1] >= BASE_THRESHOLD, "the break scored {broken:?}");
        assert!(broken[2..7].iter().all(|s| *s == 0.0), "the rest period reported {broken:?}");
    }
}
