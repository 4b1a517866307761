//! The integration registry: model (`model`), loading with located parse
//! errors (this file), semantic validation (`validate`) and variable layering
//! into per-repo resolved targets (`context`), and the rollout policy
//! (`rollout`: waves, limits, timers, waivers, bundle policies). Pure: takes text, returns
//! values; reading the file is the caller's one line.

pub mod context;
pub mod model;
pub mod rollout;
pub mod validate;

pub use context::{ResolvedEnv, ResolvedRepo, resolve};
pub use model::{Delivery, Flag, Registry};
pub use rollout::{BundlePolicy, Rollout, Waiver, WaiverScope, WavePolicy};

use crate::diag::{Diagnostic, Diagnostics};

/// Parses registry JSON. `origin` names the file in messages. Syntax errors,
/// unknown keys and wrong types come back with `file:line:column`.
pub fn parse(origin: &str, text: &str) -> Result<Registry, Diagnostics> {
    serde_json::from_str::<Registry>(text).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "malformed JSON"
            }
            _ => "invalid registry",
        };
        // serde_json appends " at line L column C"; we lead with the location.
        let msg = e.to_string();
        let msg = msg
            .rsplit_once(" at line ")
            .map(|(m, _)| m.to_string())
            .unwrap_or(msg);
        Diagnostic::new(
            format!("{origin}:{}:{}", e.line(), e.column()),
            format!("{what}: {msg}"),
        )
        .into()
    })
}

/// Parses and validates. `known_bundles` are the bundle names found under
/// the templates directory.
pub fn load(origin: &str, text: &str, known_bundles: &[String]) -> Result<Registry, Diagnostics> {
    let registry = parse(origin, text)?;
    validate::validate(origin, &registry, known_bundles).into_result(registry)
}
