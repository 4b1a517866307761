//! `distributor` renders a platform team's integration registry into every
//! team repository and delivers the result safely: one commit per repo,
//! compare-and-swap on every ref update, drift never overwritten silently.
//!
//! # Layout
//!
//! The pure core takes values and returns values:
//!
//! - [`registry`]: `registry.json` model, validation, variable layering.
//! - [`render`]: templates and bundles -> desired files per repo.
//! - [`lock`]: the lock file committed into each target repo.
//! - [`target`]: a resolved repo with its rendered files, the unit of work.
//! - [`plan`]: desired vs observed -> per-file states -> a [`plan::Plan`]
//!   holding every action `apply` will take, pull requests included.
//! - [`fleet`]: a plan organised for a fleet: this revision's changes and
//!   their reach, apart from what was already pending (reads the previous
//!   revision through [`source`]).
//! - [`rollout`]: the rollout policy (budgets, waves, halts, staleness):
//!   a verdict per repo, with `now` as a parameter.
//! - [`merge`]: three-way merge of a hand-edited managed file with a new render.
//! - [`paths`], [`blob`], [`diag`]: path rules, git blob ids, collected errors.
//!
//! The edges do I/O:
//!
//! - [`forge`]: the `Forge` trait and its backends (local bare repos,
//!   GitHub over octocrab; an in-memory fake in unit tests), and
//!   [`forge::ForgeSpec`], the one forge specification (from `--forge` or
//!   the config's `forge:`) that checks and opens them.
//! - [`source`]: reads the platform inputs from disk and their git revision.
//! - [`prepare`]: inputs -> validated, rendered targets (CLI and daemon).
//! - [`reconcile`]: the one pipeline every command and daemon cycle runs:
//!   observe -> plan -> rollout policy -> apply -> record.
//! - [`observe`]: forge observations in batches -> a plan per repo.
//! - [`apply`]: the executor: performs the plan's actions, decides nothing.
//! - [`audit`]: the audit records of forced runs; [`time`]: UTC times.
//! - [`output`]: plan and status as text, JSON and markdown;
//!   [`context`]: one repo's template context (`context REPO`).
//! - [`daemon`]: `serve`: the reconcile loop, HTTP endpoints, systemd.
//! - [`cli`]: argument definitions; [`app`]: wiring behind `main`;
//!   [`term`]: the progress bar and the log writer that prints above it.
//! - [`scaffold`]: `init`, a new platform repository;
//!   [`manual`]: shell completions and the man page.

#![forbid(unsafe_code)]

pub mod app;
pub mod apply;
pub mod audit;
pub mod blob;
pub mod cli;
pub mod context;
pub mod daemon;
pub mod diag;
pub mod flags;
pub mod fleet;
pub mod forge;
pub mod lock;
pub mod manual;
pub mod merge;
pub mod observe;
pub mod output;
pub mod paths;
pub mod plan;
pub mod prepare;
pub mod reconcile;
pub mod redact;
pub mod registry;
pub mod render;
pub mod rollout;
pub mod scaffold;
pub mod source;
pub mod target;
pub mod term;
pub mod time;
