//! Wiring behind `main`: reads the inputs, validates everything (collecting
//! every problem), builds the forge, runs the command, prints the result and
//! returns the exit code. Nothing is written before validation has passed.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::apply::{self, Options, Target};
use crate::cli::{ApplyArgs, Cli, ColorChoice, Command, Global, LogFormat};
use crate::diag::Diagnostics;
use crate::forge::Forge;
use crate::forge::github::GitHubForge;
use crate::forge::local::LocalForge;
use crate::output::{self, Format, text::Style};
use crate::plan::{Plan, PlanSettings};
use crate::registry::{self, ResolvedRepo};
use crate::render::TemplateSet;
use crate::source;

/// Exit codes, as documented in the README.
pub mod exit {
    /// Success; for `plan`: nothing to do.
    pub const OK: u8 = 0;
    /// Error: invalid input, a failed repo.
    pub const ERROR: u8 = 1;
    /// `plan` / `apply --dry-run`: changes pending.
    pub const CHANGES: u8 = 2;
}

/// Sets up tracing on stderr, text or JSON.
pub fn init_logging(g: &Global) {
    let level = match (g.quiet, g.verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("distributor={level},warn"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match g.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder
            .with_ansi(use_color(g.color, std::io::stderr().is_terminal()))
            .try_init(),
    };
}

fn use_color(choice: ColorChoice, terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && std::env::var_os("NO_COLOR").is_none(),
    }
}

/// Runs the command and returns the process exit code. Errors are printed
/// to stderr here.
pub async fn run(cli: Cli) -> u8 {
    match run_inner(cli).await {
        Ok(code) => code,
        Err(e) => {
            // Never panic on a closed stderr (e.g. piped into `head`).
            let mut stderr = std::io::stderr().lock();
            let _ = if let Some(d) = e.downcast_ref::<Diagnostics>() {
                write!(stderr, "{d}")
            } else {
                writeln!(stderr, "error: {e:#}")
            };
            exit::ERROR
        }
    }
}

/// Everything validated and rendered, ready for a forge.
struct Prepared {
    inputs: source::Inputs,
    /// Targets selected by the filters, in registry order.
    targets: Vec<Target>,
    /// Number of repos in the registry.
    all_repos: usize,
    teams: usize,
}

fn prepare(g: &Global) -> Result<Prepared> {
    let inputs = source::read_inputs(&g.registry, &g.templates)?;
    let registry_name = g.registry.display().to_string();
    let templates_name = g.templates.display().to_string();
    let mut diags = Diagnostics::default();

    let bundle_names: Vec<String> = inputs
        .template_files
        .keys()
        .filter_map(|p| p.strip_suffix(&format!("/{}", crate::render::bundle::MANIFEST)))
        .filter(|p| !p.contains('/'))
        .map(str::to_string)
        .collect();
    let templates = match TemplateSet::from_files(&templates_name, &inputs.template_files) {
        Ok(t) => Some(t),
        Err(d) => {
            diags.extend(d);
            None
        }
    };
    // A registry that parses is rendered even when its semantic checks
    // fail, so one run reports template problems together with registry
    // problems.
    let registry = match registry::parse(&registry_name, &inputs.registry_text) {
        Ok(r) => {
            diags.extend(registry::validate::validate(
                &registry_name,
                &r,
                &bundle_names,
            ));
            Some(r)
        }
        Err(d) => {
            diags.extend(d);
            None
        }
    };
    let (Some(templates), Some(registry)) = (templates, registry) else {
        return Err(diags.into());
    };
    let resolved = registry::resolve(&registry);

    // Filters must match something: a typo must not silently do nothing.
    for t in &g.team {
        if !registry.teams.0.contains_key(t) {
            diags.push(
                "--team",
                format!(
                    "no team {t:?} in {registry_name}; teams: {}",
                    registry
                        .teams
                        .0
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
    for r in &g.repo {
        if !resolved.iter().any(|x| repo_matches(x, r)) {
            diags.push("--repo", format!("no repo {r:?} in {registry_name}"));
        }
    }
    for b in &g.bundle {
        if !bundle_names.contains(b) {
            diags.push(
                "--bundle",
                format!(
                    "no bundle {b:?} in {templates_name}; bundles: {}",
                    bundle_names.join(", ")
                ),
            );
        }
    }

    // Render every repo, selected or not: a change is validated whole.
    let mut targets = Vec::new();
    let all_repos = resolved.len();
    for repo in resolved {
        match templates.render_repo(&repo) {
            Ok(desired) => {
                let selected = (g.team.is_empty() || g.team.contains(&repo.team))
                    && (g.repo.is_empty() || g.repo.iter().any(|r| repo_matches(&repo, r)));
                if selected {
                    // `--bundle` scoping happens in planning, which needs the
                    // other bundles' files to leave them as they are.
                    targets.push(Target { repo, desired });
                }
            }
            Err(d) => diags.extend(d),
        }
    }
    if !diags.is_empty() {
        return Err(diags.into());
    }
    Ok(Prepared {
        inputs,
        targets,
        all_repos,
        teams: registry.teams.0.len(),
    })
}

fn repo_matches(repo: &ResolvedRepo, filter: &str) -> bool {
    match filter.split_once('/') {
        Some((o, n)) => repo.owner.eq_ignore_ascii_case(o) && repo.name.eq_ignore_ascii_case(n),
        None => repo.name.eq_ignore_ascii_case(filter),
    }
}

async fn run_inner(cli: Cli) -> Result<u8> {
    let g = &cli.global;
    let prepared = prepare(g)?;
    let color = use_color(g.color, std::io::stdout().is_terminal());
    let style = Style { color };
    let mut stdout = std::io::stdout().lock();

    match &cli.command {
        Command::Validate => {
            let files: usize = prepared.targets.iter().map(|t| t.desired.len()).sum();
            writeln!(
                stdout,
                "valid: {} teams, {} repos, {} files rendered ({} repos, {} files selected by filters)",
                prepared.teams,
                prepared.all_repos,
                files,
                prepared.targets.len(),
                files
            )?;
            return Ok(exit::OK);
        }
        Command::Context(args) => {
            let target = prepared
                .targets
                .iter()
                .find(|t| repo_matches(&t.repo, &args.repo))
                .with_context(|| {
                    format!(
                        "no repo {:?} in the registry (or excluded by filters)",
                        args.repo
                    )
                })?;
            let mut ctx = target.repo.repo_context();
            let envs: serde_json::Map<String, serde_json::Value> = target
                .repo
                .environments
                .iter()
                .map(|e| {
                    let c = target.repo.env_context(e);
                    (
                        e.name.clone(),
                        serde_json::json!({"vars": c["vars"], "flags": c["flags"]}),
                    )
                })
                .collect();
            let obj = ctx.as_object_mut().expect("object");
            obj.insert("per_environment".into(), envs.into());
            obj.insert("files".into(), serde_json::to_value(&target.desired)?);
            writeln!(stdout, "{}", serde_json::to_string_pretty(&ctx)?)?;
            return Ok(exit::OK);
        }
        _ => {}
    }

    let source = source::revision(&prepared.inputs);
    let (init, force_reason, diffs) = match &cli.command {
        Command::Plan(a) => (a.init.init, None, !a.no_diff),
        Command::Status(a) => (a.init, None, false),
        Command::Apply(a) => (
            a.init.init,
            checked_force(a, &source)?,
            a.dry_run && !a.no_diff,
        ),
        Command::Validate | Command::Context(_) => unreachable!("handled above"),
    };
    // `--init` creates missing repos only when applying for real; plan,
    // status and dry runs show them as empty repositories instead.
    let read_only = !matches!(&cli.command, Command::Apply(a) if !a.dry_run);
    let opts = Options {
        settings: PlanSettings {
            source: source.clone(),
            force_reason,
            bundles: (!g.bundle.is_empty())
                .then(|| g.bundle.iter().cloned().collect::<BTreeSet<_>>()),
        },
        diffs,
        missing_as_empty: init && read_only,
    };
    let run = Run {
        cli: &cli,
        prepared: &prepared,
        opts: &opts,
        source: &source,
        style,
    };
    match open_forge(g, init)? {
        AnyForge::Local(forge) => {
            // The (empty) root directory is created for any `--init`, so
            // `plan --init` works on a fresh machine; repos only by
            // `apply --init`.
            if init && !read_only {
                for t in &prepared.targets {
                    let branch = t.repo.default_branch.as_deref().unwrap_or("main");
                    if forge.ensure_repo(&t.id(), branch)? {
                        tracing::info!(repo = %t.id(), branch, "created local repository (--init)");
                    }
                }
            }
            run.with(&forge, &mut stdout).await
        }
        AnyForge::GitHub(forge) => {
            if init {
                bail!(
                    "--init creates local bare repositories; it cannot be used with --forge github"
                );
            }
            let code = run.with(forge.as_ref(), &mut stdout).await;
            forge.log_usage();
            code
        }
    }
}

/// One command run, ready to meet a forge.
struct Run<'a> {
    cli: &'a Cli,
    prepared: &'a Prepared,
    opts: &'a Options,
    source: &'a crate::lock::Source,
    style: Style,
}

impl Run<'_> {
    async fn with<F: Forge>(&self, forge: &F, stdout: &mut impl Write) -> Result<u8> {
        let (cli, prepared, opts, style) = (self.cli, self.prepared, self.opts, self.style);
        let source = self.source;
        let g = &cli.global;
        let plan = apply::make_plan(forge, &prepared.targets, opts).await;

        match &cli.command {
            Command::Plan(a) => print_plan(stdout, g.format, &plan, style, !a.no_diff),
            Command::Apply(a) if a.dry_run => {
                print_plan(stdout, g.format, &plan, style, !a.no_diff)
            }
            Command::Status(_) => {
                match g.format {
                    Format::Json => writeln!(
                        stdout,
                        "{}",
                        serde_json::to_string_pretty(&output::json::status(&plan))?
                    )?,
                    _ => write!(stdout, "{}", output::text::status(&plan, style))?,
                }
                Ok(if plan.errors.is_empty() {
                    exit::OK
                } else {
                    exit::ERROR
                })
            }
            Command::Apply(_) => {
                let n = plan.repos.len() + plan.errors.len();
                let bar = progress_bar(n as u64);
                let report = apply::apply(forge, &prepared.targets, plan, opts, |r| {
                    if let Some(b) = &bar {
                        b.set_message(r.repo.to_string());
                        b.inc(1);
                    }
                })
                .await;
                if let Some(b) = bar {
                    b.finish_and_clear();
                }
                match g.format {
                    Format::Json => writeln!(
                        stdout,
                        "{}",
                        serde_json::to_string_pretty(&output::json::apply(source, &report))?
                    )?,
                    _ => write!(stdout, "{}", output::text::apply(&report, style))?,
                }
                Ok(if report.failed() == 0 {
                    exit::OK
                } else {
                    exit::ERROR
                })
            }
            Command::Validate | Command::Context(_) => unreachable!("handled above"),
        }
    }
}

fn print_plan(
    out: &mut impl Write,
    format: Format,
    plan: &Plan,
    style: Style,
    diffs: bool,
) -> Result<u8> {
    match format {
        Format::Text => write!(out, "{}", output::text::plan(plan, style, diffs))?,
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&output::json::plan(plan))?
        )?,
        Format::Markdown => write!(out, "{}", output::markdown::plan(plan))?,
    }
    Ok(if !plan.errors.is_empty() {
        exit::ERROR
    } else if plan.has_writes() {
        exit::CHANGES
    } else {
        exit::OK
    })
}

/// The force reason, after checking that forcing is allowed from here.
fn checked_force(a: &ApplyArgs, source: &crate::lock::Source) -> Result<Option<String>> {
    if !a.force {
        return Ok(None);
    }
    let reason = a.reason.clone().unwrap_or_default();
    if reason.trim().is_empty() {
        bail!("--force needs a non-empty --reason (it is written into every commit)");
    }
    if source.dirty && !a.allow_dirty {
        bail!(
            "refusing --force from a platform tree with uncommitted changes (source {source}): \
             commit them first, or the next regular run would revert the forced change; \
             pass --allow-dirty to override"
        );
    }
    Ok(Some(reason))
}

/// The forge a run uses.
enum AnyForge {
    Local(LocalForge),
    GitHub(Box<GitHubForge>),
}

/// Parses `--forge` and opens the forge.
fn open_forge(g: &Global, init: bool) -> Result<AnyForge> {
    let spec = g.forge.as_deref().context(
        "no forge given: pass --forge local:DIR or --forge github (or set DISTRIBUTOR_FORGE), e.g. --forge local:./demo-repos --init",
    )?;
    if spec == "github" || spec.starts_with("github:") {
        let url = spec
            .strip_prefix("github:")
            .unwrap_or("https://api.github.com");
        let config = crate::github_config::config(&g.github, url)?;
        return Ok(AnyForge::GitHub(Box::new(
            GitHubForge::new(config).map_err(anyhow::Error::msg)?,
        )));
    }
    let Some(dir) = spec.strip_prefix("local:") else {
        bail!("unknown forge {spec:?}: supported are `local:DIR`, `github` and `github:URL`");
    };
    if dir.is_empty() {
        bail!("--forge local: needs a directory, e.g. local:./demo-repos");
    }
    let dir = PathBuf::from(dir);
    if init && !dir.exists() {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create forge directory {}", dir.display()))?;
    }
    Ok(AnyForge::Local(LocalForge::new(&dir)?))
}

/// A progress bar on a terminal; `None` elsewhere (logs say enough).
fn progress_bar(len: u64) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} repos  {msg}")
            .expect("static template"),
    );
    Some(bar)
}
