//! The `escalation:` section's receiver, and reading secrets from files (the PagerDuty
//! routing key, API tokens): a secret is never written in the configuration itself.

use std::path::Path;

use model::{Diagnostics, Secret};
use yamlspan::Spanned;

/// The most bytes a secret's file may hold.
const MAX_SECRET_FILE_BYTES: u64 = 4096;

/// Reads the secret that `file` (relative to `base`) holds: one word of text, trimmed.
/// A missing, unreadable or empty file, or one holding more than a word, is reported at
/// `field` with `what` the secret is.
pub(super) fn read_secret(
    file: &Spanned<String>,
    field: &str,
    what: &str,
    base: &Path,
    diags: &mut Diagnostics,
) -> Option<Secret> {
    let path = base.join(&file.value);
    match yamlspan::read_bounded(&path, MAX_SECRET_FILE_BYTES) {
        Err(err) => {
            diags.push(file.diagnostic(field, format!("cannot read the {what} from {}: {err}", path.display())));
            None
        }
        Ok(bytes) => match std::str::from_utf8(&bytes).map(str::trim) {
            Ok(key) if !key.is_empty() && !key.contains(char::is_whitespace) => Some(Secret::new(key)),
            Ok("") => {
                diags.push(file.diagnostic(field, format!("{} is empty: it must hold the {what}", path.display())));
                None
            }
            _ => {
                diags
                    .push(file.diagnostic(field, format!("{} must hold one {what}, one word of text", path.display())));
                None
            }
        },
    }
}

/// The escalation receiver's format and PagerDuty routing key (read from its file, relative
/// to `base`).
pub(super) fn receiver(
    e: &super::raw::RawEscalation,
    base: &Path,
    diags: &mut Diagnostics,
) -> (remedy::PageFormat, Option<Secret>) {
    let format = match &e.format {
        None => remedy::PageFormat::Webhook,
        Some(f) => remedy::PageFormat::parse(&f.value).unwrap_or_else(|| {
            diags.push(f.diagnostic("escalation.format", "expected webhook, pagerduty or slack"));
            remedy::PageFormat::Webhook
        }),
    };
    let key = e
        .routing_key_file
        .as_ref()
        .and_then(|file| read_secret(file, "escalation.routing_key_file", "routing key", base, diags));
    match (format, &key, &e.routing_key_file) {
        (remedy::PageFormat::PagerDuty, None, None) => diags.push(e.webhook.diagnostic(
            "escalation.routing_key_file",
            "format `pagerduty` needs `routing_key_file`: a file holding the integration's routing key",
        )),
        (f, Some(_), _) if f != remedy::PageFormat::PagerDuty => {
            if let Some(file) = &e.routing_key_file {
                diags
                    .push(file.diagnostic("escalation.routing_key_file", "only format `pagerduty` uses a routing key"));
            }
        }
        _ => {}
    }
    (format, key)
}
