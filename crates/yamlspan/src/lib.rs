//! YAML with positions, for configuration that must explain its own errors.
//!
//! Loading is two-phase, as in Prometheus' rule loader:
//! 1. [`parse_document`] reads the text into a [`Node`] tree in which every node knows its
//!    line and column (YAML syntax errors stop here, with their position).
//! 2. [`Node::deserialize`] turns any subtree into a serde type. Errors carry the position
//!    of the offending node, the field path (`groups[0].rules[2].for`) and the value as
//!    written. Callers deserialize list elements one at a time (see [`Node::each`]) so a
//!    bad element costs one [`Diagnostic`] and the others are still checked: a user sees
//!    every error at once.
//!
//! Types can hold a [`Spanned<T>`] to keep a field's position for later checks (a PromQL
//! expression that fails to parse, a duration out of range), or a [`Node`] to defer a
//! subtree to its own pass.
//!
//! Files are read with [`read_source`]: only regular files, at most [`MAX_SOURCE_BYTES`].

mod collect;
mod de;
mod node;
mod read;

pub use de::Spanned;
pub use model::{Diagnostic, Diagnostics};
pub use node::{Node, NodeValue, parse_document};
pub use read::{MAX_SOURCE_BYTES, ReadError, open_regular, read_bounded, read_source};
