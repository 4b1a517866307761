//! Wiring behind `main`: reads the inputs, validates everything (collecting
//! every problem), builds the forge, runs the command, prints the result and
//! returns the exit code. Nothing is written before validation has passed.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use std::sync::atomic::AtomicBool;

use crate::apply;
use crate::cli::{ApplyArgs, Cli, ColorChoice, Command, Global, LogFormat, ServeArgs};
use crate::diag::Diagnostics;
use crate::forge::spec::{Field, Problem};
use crate::forge::{AnyForge, Forge, ForgeSpec};
use crate::output::{self, Format, text::Style};
use crate::plan::Plan;
use crate::prepare::{Prepared, Selection, prepare, repo_matches};
use crate::reconcile;
use crate::rollout;
use crate::source;

mod control;
mod formats;
mod validate;
pub use formats::{formats, refused_format};

/// Exit codes, as documented in the README.
pub mod exit {
    /// Success; for `plan`: nothing to do.
    pub const OK: u8 = 0;
    /// Error: invalid input, a failed repo.
    pub const ERROR: u8 = 1;
    /// `plan` / `apply --dry-run`: changes pending.
    pub const CHANGES: u8 = 2;
    /// The rollout of the platform revision is halted (see `status`).
    pub const HALTED: u8 = 3;
}

/// Sets up tracing on stderr, text or JSON.
pub fn init_logging(g: &Global) {
    init_logging_as(g, g.log_format, true)
}

/// Sets up tracing on stderr in `format`, with `g`'s verbosity and colour;
/// a `calm` command logs text on a terminal from `warn` up by default
/// (see [`crate::term::default_level`]; the daemon is never calm).
fn init_logging_as(g: &Global, format: LogFormat, calm: bool) {
    let calm = calm && format == LogFormat::Text && std::io::stderr().is_terminal();
    let level = crate::term::default_level(g.quiet, g.verbose, calm);
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("distributor={level},warn"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Every log line passes through the redactor, above the progress
        // bar when one is shown.
        .with_writer(crate::term::log_writer)
        .with_target(false);
    let _ = match format {
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
        // The reader went away (`| head`): it has what it wanted.
        Err(e) if stdout_closed(&e) => exit::OK,
        Err(e) => {
            // Never panic on a closed stderr (e.g. piped into `head`); a
            // secret a server echoed into an error is masked.
            let mut stderr = crate::redact::stderr();
            let _ = if let Some(d) = e.downcast_ref::<Diagnostics>() {
                write!(stderr, "{d}")
            } else {
                writeln!(stderr, "error: {e:#}")
            };
            let _ = stderr.flush();
            exit::ERROR
        }
    }
}

/// Standard output for command results. A reader that goes away (a closed
/// pipe) ends the command quietly instead of as an error.
struct Out<W>(W);

impl<W: Write> Write for Out<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).map_err(closed)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush().map_err(closed)
    }
}

/// Marks a broken pipe on standard output (not one of a subprocess or a
/// socket, which stay errors).
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed")]
struct StdoutClosed;

fn closed(e: std::io::Error) -> std::io::Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::io::Error::other(StdoutClosed)
    } else {
        e
    }
}

/// Whether `e` is standard output being closed under us.
fn stdout_closed(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .is_some_and(|inner| inner.is::<StdoutClosed>())
            || c.is::<StdoutClosed>()
    })
}

/// `distributor serve`: loads the config (an invalid one is an error at
/// startup), sets up logging from it, binds the port, wires signals and
/// runs the daemon until SIGTERM or SIGINT. Returns the exit code.
pub fn serve(args: &ServeArgs, g: &Global) -> u8 {
    if let Some(refusal) = refused_format(&Command::Serve(args.clone()), g.format) {
        eprintln!("error: {refusal}");
        return exit::ERROR;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::ERROR;
        }
    };
    let result = runtime.block_on(serve_inner(args, g));
    // Work abandoned at the stop timeout (a write in flight on a blocking
    // thread) gets one more second, then the process exits regardless.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "serve failed");
            eprintln!("error: {e:#}");
            exit::ERROR
        }
    }
}

async fn serve_inner(args: &ServeArgs, g: &Global) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let loaded = crate::daemon::load(&args.config, None).map_err(anyhow::Error::msg)?;
    let format = match loaded.config.log.format {
        crate::daemon::config::LogFormat::Json => LogFormat::Json,
        crate::daemon::config::LogFormat::Text => g.log_format,
    };
    init_logging_as(g, format, false);
    let listener = tokio::net::TcpListener::bind(loaded.checked.listen)
        .await
        .with_context(|| format!("cannot listen on {} (http.listen)", loaded.checked.listen))?;
    let mut hangup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let (reload_tx, reloads) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the configuration");
            if reload_tx.send(()).is_err() {
                break;
            }
        }
    });
    let shutdown = async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM: stopping"),
            _ = interrupt.recv() => tracing::info!("SIGINT: stopping"),
        }
    };
    crate::daemon::run(crate::daemon::Deps {
        state_dir: crate::daemon::state_dir(&args.config),
        config_path: args.config.clone(),
        loaded,
        listener,
        notifier: crate::daemon::notify::Notifier::from_env(),
        reloads,
        shutdown,
    })
    .await
}

async fn run_inner(cli: Cli) -> Result<u8> {
    let g = &cli.global;
    // A format a command cannot print is refused before anything runs.
    if let Some(refusal) = refused_format(&cli.command, g.format) {
        bail!("{refusal}");
    }
    match &cli.command {
        Command::Init(a) => return crate::scaffold::init(&a.dir, &mut Out(std::io::stdout())),
        Command::Completions(a) => {
            return crate::manual::completions(a.shell, &mut Out(std::io::stdout()));
        }
        Command::Man => return crate::manual::man(&mut Out(std::io::stdout())),
        _ => {}
    }
    let now = now(g)?;
    let state_dir = state_dir(g);
    if let Command::Unpin(a) = &cli.command {
        let mut out = crate::redact::Redacting::new(Out(std::io::stdout()));
        return control::unpin(state_dir, a.reason.as_deref(), now, &mut out);
    }
    // The fleet's pin, read once: what the command renders, and what
    // `apply --source-rev` may deliver.
    let fleet_pin = control::pin_for(&cli.command, state_dir.as_deref())?;
    let source_rev = control::source_rev(&cli.command, fleet_pin.as_ref());
    let mut prepared = prepare(&Selection {
        registry: g.registry.clone(),
        templates: g.templates.clone(),
        teams: g.team.clone(),
        repos: g.repo.clone(),
        bundles: g.bundle.clone(),
        keep_context: matches!(cli.command, Command::Context(_)),
        source_rev: source_rev.as_ref().map(|(r, _)| r.clone()),
        source_rev_origin: source_rev.map(|(_, origin)| origin),
    })?;
    control::check_pinned_apply(&cli.command, &prepared, fleet_pin.as_ref())?;
    let color = use_color(g.color, std::io::stdout().is_terminal());
    let style = Style { color };
    // Buffered: a 10,000-repo plan is written in large blocks, not a
    // system call per line. Dropping it flushes what is left.
    let mut stdout =
        crate::redact::Redacting::new(std::io::BufWriter::new(Out(std::io::stdout().lock())));

    match &cli.command {
        Command::Validate(a) => {
            return validate::validate(&mut prepared, g, a.strict_flags, &mut stdout).await;
        }
        Command::Context(args) => return context(&prepared, g, &args.repo, &mut stdout),
        Command::Flags(a) => check_flag_names(&prepared, &a.names)?,
        _ => {}
    }

    let pin = match &cli.command {
        Command::Promote(a) => {
            return control::promote(&prepared, state_dir, a, now, &mut stdout);
        }
        Command::Resume(a) => return control::resume(state_dir, a, now, &mut stdout),
        Command::Rollback(a) => Some(control::rollback_pin(&prepared, state_dir.clone(), a, now)?),
        _ => None,
    };
    let source = source::revision(&prepared.inputs);
    let (init, force_reason, diffs) = match &cli.command {
        Command::Plan(a) => (a.init.init, None, !a.no_diff),
        Command::Status(a) => (a.init, None, false),
        Command::Flags(a) => (a.init.init, None, false),
        Command::Apply(a) => (
            a.init.init,
            checked_force(a, &source)?,
            a.dry_run && !a.no_diff,
        ),
        Command::Rollback(a) => (false, a.force.then(|| a.reason.clone()), a.dry_run),
        Command::Validate(_)
        | Command::Context(_)
        | Command::Serve(_)
        | Command::Promote(_)
        | Command::Resume(_)
        | Command::Unpin(_)
        | Command::Init(_)
        | Command::Completions(_)
        | Command::Man => {
            unreachable!("handled above")
        }
    };
    // `--init` creates missing repos only when applying for real; plan,
    // status and dry runs show them as empty repositories instead.
    let execute = match &cli.command {
        Command::Apply(a) => !a.dry_run,
        Command::Rollback(a) => !a.dry_run,
        _ => false,
    };
    let request = reconcile::Request {
        source,
        now,
        execute,
        diffs,
        diffs_up_to: compact_without_diffs(&cli.command, g.format),
        force_reason,
        bundles: (!g.bundle.is_empty()).then(|| g.bundle.iter().cloned().collect::<BTreeSet<_>>()),
        missing_as_empty: init && !execute,
        full_fleet: g.team.is_empty() && g.repo.is_empty() && g.bundle.is_empty(),
        state_dir,
        audit_log: match &cli.command {
            Command::Apply(a) => a.audit_log.clone(),
            Command::Rollback(a) => a.audit_log.clone(),
            _ => None,
        },
        strict_flags: match &cli.command {
            Command::Plan(a) if a.strict_flags => Some(prepared.flag_order.clone()),
            Command::Apply(a) if a.strict_flags => Some(prepared.flag_order.clone()),
            _ => None,
        },
        rollback_only: matches!(cli.command, Command::Rollback(_)),
        pin,
    };
    let mut run = Run {
        cli: &cli,
        prepared: &mut prepared,
        request: &request,
        style,
    };
    match open_forge(g, init)? {
        AnyForge::Local(forge) => {
            // The (empty) root directory is created for any `--init`, so
            // `plan --init` works on a fresh machine; repos only by
            // `apply --init`.
            if init && execute {
                // A repo that cannot be created fails alone: it is reported
                // here, and again as that repo's error when it is observed.
                for t in &run.prepared.targets {
                    let branch = t.repo.default_branch.as_deref().unwrap_or("main");
                    match forge.ensure_repo(&t.id(), branch) {
                        Ok(true) => {
                            tracing::info!(repo = %t.id(), branch, "created local repository (--init)");
                        }
                        Ok(false) => {}
                        Err(e) => {
                            tracing::error!(repo = %t.id(), error = %e, "cannot create local repository (--init)");
                        }
                    }
                }
            }
            run.with(&forge, &mut stdout).await
        }
        AnyForge::GitHub(forge) => {
            if init {
                bail!(
                    "--init creates local bare repositories; it cannot be used with a GitHub forge \
                     (--forge or DISTRIBUTOR_FORGE names one)"
                );
            }
            let code = run.with(forge.as_ref(), &mut stdout).await;
            forge.log_usage();
            code
        }
        #[cfg(test)]
        AnyForge::Fake(forge) => run.with(&forge, &mut stdout).await,
    }
}

/// `distributor context REPO`: the template context of REPO, as JSON or
/// text. REPO is looked up among the repos the filters select; one they
/// leave out, or one not in the registry, is an error naming REPO.
fn context(prepared: &Prepared, g: &Global, repo: &str, out: &mut impl Write) -> Result<u8> {
    let Some(target) = prepared
        .targets
        .iter()
        .find(|t| repo_matches(&t.repo, repo))
    else {
        let registry_name = g.registry.display().to_string();
        let all = crate::registry::parse(&registry_name, &prepared.inputs.registry_text)
            .map(|r| crate::registry::resolve(&r))
            .unwrap_or_default();
        if let Some(found) = all.iter().find(|r| repo_matches(r, repo)) {
            bail!(
                "repo {} is in {registry_name} but not selected by {} (the REPO argument of \
                 `distributor context` is looked up among the repos the filters select)",
                found.full_name(),
                given_filters(g)
            );
        }
        let names: Vec<String> = all.iter().map(|r| r.full_name()).collect();
        bail!(
            "{}",
            crate::context::not_found(repo, &names, &registry_name)
        );
    };
    let doc = crate::context::document(target, &g.bundle)?;
    match g.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?,
        _ => write!(out, "{}", crate::context::text(&doc))?,
    }
    Ok(exit::OK)
}

/// The filters given, as typed: `--team kiwi --repo acme/x`.
fn given_filters(g: &Global) -> String {
    let flags = [("--team", &g.team), ("--repo", &g.repo)];
    flags
        .iter()
        .flat_map(|(flag, values)| values.iter().map(move |v| format!("{flag} {v}")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One command run, ready to meet a forge.
struct Run<'a> {
    cli: &'a Cli,
    prepared: &'a mut Prepared,
    request: &'a reconcile::Request,
    style: Style,
}

impl Run<'_> {
    /// Runs the pipeline on `forge` and presents its outcome.
    async fn with<F: Forge>(&mut self, forge: &F, stdout: &mut impl Write) -> Result<u8> {
        let (cli, style) = (self.cli, self.style);
        let g = &cli.global;
        let n = self.prepared.targets.len();
        // Cleared when dropped, on every path out of this function.
        let bar = if self.request.execute && !g.quiet {
            crate::term::Progress::on_terminal(n as u64)
        } else {
            None
        };
        // SIGTERM or Ctrl-C while applying stops between two repos, and the
        // report of what was done is still printed.
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let watcher = self
            .request
            .execute
            .then(|| crate::term::stop_on_signal(stop.clone()));
        let mut on_repo = |r: &apply::RepoReport| {
            if let Some(b) = &bar {
                b.done(&r.repo.to_string());
            }
        };
        let outcome = reconcile::run(
            forge,
            &mut *self.prepared,
            self.request,
            reconcile::Hooks {
                stop: &stop,
                on_repo: &mut on_repo,
            },
        )
        .await
        .map_err(anyhow::Error::msg)?;
        if let Some(w) = watcher {
            w.abort();
        }
        drop(bar);
        let plan = &outcome.plan;
        let halted = outcome.halted();
        match (&cli.command, &outcome.report) {
            (Command::Plan(a), _) => {
                // With --strict-flags the pipeline already checked the
                // order (and refused the run had any flag been out of it).
                if !a.strict_flags {
                    warn_flags_out_of_order(self.prepared, plan, self.request.now);
                }
                let shown = Shown::new(a.detail, a.diff, a.no_diff);
                print_plan(stdout, g.format, plan, self.prepared, style, shown)
            }
            (Command::Apply(a), None) => {
                let shown = Shown::new(a.detail, a.diff, a.no_diff);
                print_plan(stdout, g.format, plan, self.prepared, style, shown)
            }
            (Command::Rollback(_), None) => {
                let shown = Shown::new(false, false, false);
                print_plan(stdout, g.format, plan, self.prepared, style, shown)
            }
            (Command::Status(_), _) => {
                let view = output::record::StatusView::new(
                    plan,
                    output::record::Reader::Cli,
                    self.request.now,
                );
                match g.format {
                    Format::Json => output::json::write_status(stdout, &view)?,
                    Format::Markdown => write!(stdout, "{}", output::markdown::status(&view))?,
                    Format::Text => write!(stdout, "{}", output::text::status(&view, style))?,
                }
                Ok(if !plan.errors.is_empty() {
                    exit::ERROR
                } else if halted {
                    exit::HALTED
                } else {
                    exit::OK
                })
            }
            (Command::Flags(a), _) => {
                let mut report = crate::flags::report(
                    &self.prepared.targets,
                    plan,
                    &a.names,
                    &self.prepared.stages,
                    self.request.now,
                    &|e: &str| e.to_string(),
                );
                report.out_of_order =
                    crate::flags::out_of_order(&report, &self.prepared.flag_order);
                match g.format {
                    Format::Json => {
                        serde_json::to_writer_pretty(&mut *stdout, &report)?;
                        writeln!(stdout)?;
                    }
                    Format::Markdown => write!(stdout, "{}", output::flags::markdown(&report))?,
                    Format::Text => write!(stdout, "{}", output::flags::text(&report))?,
                }
                Ok(if !plan.errors.is_empty() {
                    exit::ERROR
                } else if report.complete {
                    exit::OK
                } else {
                    exit::CHANGES
                })
            }
            (Command::Apply(_) | Command::Rollback(_), Some(report)) => {
                let source = &self.request.source;
                match g.format {
                    Format::Json => {
                        output::json::write_apply(stdout, source, plan.rollback.as_ref(), report)?
                    }
                    _ => {
                        write!(stdout, "{}", output::text::apply(report, style))?;
                        if let Some(heading) = audited_heading(self.request) {
                            write!(
                                stdout,
                                "{}",
                                output::text::forced_table(report, &heading, style)
                            )?;
                        }
                        if let Some(pin) = &self.request.pin {
                            writeln!(stdout, "\nThe fleet is {}", rollout::pin::describe(pin))?;
                        }
                    }
                }
                if let Some(e) = &outcome.recorded.audit_error {
                    bail!("the forced run's audit records could not be written: {e}");
                }
                if outcome.interrupted() {
                    let all = plan.repos.len() + plan.errors.len();
                    writeln!(
                        stdout,
                        "\nInterrupted: stopped after {} of {all} repos (each either done or untouched); run it again to carry on.",
                        report.repos.len()
                    )?;
                    return Ok(exit::ERROR);
                }
                Ok(if report.failed() > 0 {
                    exit::ERROR
                } else if halted {
                    exit::HALTED
                } else {
                    exit::OK
                })
            }
            (
                Command::Validate(_)
                | Command::Context(_)
                | Command::Serve(_)
                | Command::Promote(_)
                | Command::Resume(_)
                | Command::Unpin(_)
                | Command::Init(_)
                | Command::Completions(_)
                | Command::Man,
                _,
            ) => {
                unreachable!("handled above")
            }
        }
    }
}

/// For output that becomes compact (one line per repo, no diffs) past
/// [`output::fleet::COMPACT_ABOVE`] repos with writes, that limit: diffs
/// are read only while they can still be shown. `None` for JSON (it
/// carries every diff) and with `--detail` or `--diff`.
fn compact_without_diffs(command: &Command, format: Format) -> Option<usize> {
    let shown_whole = match command {
        Command::Plan(a) => a.detail || a.diff,
        Command::Apply(a) => a.detail || a.diff,
        _ => false,
    };
    (format != Format::Json && !shown_whole).then_some(output::fleet::COMPACT_ABOVE)
}

/// The heading of the table of audited outcomes, for a forced run or a
/// rollback; `None` for other runs.
fn audited_heading(request: &reconcile::Request) -> Option<String> {
    match (&request.force_reason, &request.pin) {
        (Some(reason), Some(pin)) => Some(format!(
            "Forced rollback to revision {} ({reason})",
            crate::plan::message::short(&pin.revision)
        )),
        (Some(reason), None) => Some(format!("Forced run ({reason})")),
        (None, Some(pin)) => Some(format!(
            "Rollback to revision {} ({})",
            crate::plan::message::short(&pin.revision),
            pin.reason
        )),
        (None, None) => None,
    }
}

/// The staged guard, for `plan`: a warning per flag on in a stage while an
/// earlier stage of the flag order is not live fleet-wide yet.
fn warn_flags_out_of_order(prepared: &Prepared, plan: &crate::plan::Plan, now: crate::time::Epoch) {
    let p = prepared;
    for o in crate::flags::staged_guard(&p.targets, plan, &p.stages, &p.flag_order, now) {
        tracing::warn!(
            "flag out of order: {}",
            output::flags::out_of_order_line(&o)
        );
    }
}

/// Every flag `distributor flags` is asked about must be one the registry
/// defines: a typo must not report an empty, "complete" flag.
fn check_flag_names(prepared: &Prepared, names: &[String]) -> Result<()> {
    let unknown: Vec<&String> = names
        .iter()
        .filter(|n| !prepared.flags.contains(*n))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let known: Vec<&str> = prepared.flags.iter().map(String::as_str).collect();
    bail!(
        "no flag {} in {}; flags: {}",
        unknown
            .iter()
            .map(|n| crate::diag::quote(n))
            .collect::<Vec<_>>()
            .join(", "),
        prepared.inputs.registry_path.display(),
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    )
}

/// The time the run is made at: `--now` (or `DISTRIBUTOR_NOW`), else the
/// clock.
fn now(g: &Global) -> Result<crate::time::Epoch> {
    match &g.now {
        Some(t) => crate::time::parse_rfc3339(t)
            .with_context(|| format!("--now (or DISTRIBUTOR_NOW) {t:?} is not an RFC 3339 time")),
        None => Ok(crate::time::now()),
    }
}

/// The state directory: `--state-dir`, else systemd's `$STATE_DIRECTORY`,
/// else the XDG state home.
fn state_dir(g: &Global) -> Option<PathBuf> {
    let endpoint = ForgeSpec::from_cli(g.forge.as_deref(), &g.github)
        .map(|spec| spec.endpoint())
        .unwrap_or_default();
    let platform = g.registry.parent().unwrap_or(Path::new("."));
    let platform = if platform.as_os_str().is_empty() {
        Path::new(".")
    } else {
        platform
    };
    reconcile::default_state_dir(
        g.state_dir.as_deref(),
        &reconcile::fleet_key(&endpoint, platform),
    )
}

/// How much of a plan to print: `--detail`, `--diff`, `--no-diff`.
#[derive(Debug, Clone, Copy)]
struct Shown {
    detail: bool,
    diff: bool,
    no_diff: bool,
}

impl Shown {
    fn new(detail: bool, diff: bool, no_diff: bool) -> Shown {
        Shown {
            detail,
            diff,
            no_diff,
        }
    }
}

fn print_plan(
    out: &mut impl Write,
    format: Format,
    plan: &Plan,
    prepared: &crate::prepare::Prepared,
    style: Style,
    shown: Shown,
) -> Result<u8> {
    let baseline = crate::fleet::baseline::read(&prepared.inputs);
    let cx = crate::fleet::Context {
        baseline: baseline.as_ref(),
        environments: crate::fleet::baseline::environments(&prepared.targets),
    };
    let fleet = crate::fleet::summarize(plan, &cx);
    // Complete for small fleets (as before) or on request; diffs shown in
    // complete output unless --no-diff, always with --diff.
    let detail = shown.detail || shown.diff || output::fleet::detail_by_default(plan);
    let view = output::fleet::PlanView {
        plan,
        fleet: &fleet,
        detail,
        diffs: detail && !shown.no_diff,
    };
    match format {
        Format::Text => {
            let mut text = output::IoText::new(out);
            output::text::write_view(&mut text, &view, style);
            text.finish()?;
        }
        Format::Json => output::json::write_plan_with(out, plan, &fleet)?,
        Format::Markdown => write!(out, "{}", output::markdown::view(&view))?,
    }
    Ok(if !plan.errors.is_empty() {
        exit::ERROR
    } else if plan.rollout.as_ref().is_some_and(|d| d.halt.is_some()) {
        exit::HALTED
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
    control::check_reason(&reason)?;
    if source.dirty && !a.allow_dirty {
        bail!(
            "refusing --force from a platform tree with uncommitted changes (source {source}): \
             commit them first, or the next regular run would revert the forced change; \
             pass --allow-dirty to override"
        );
    }
    Ok(Some(reason))
}

/// Opens the forge `--forge` and the `--github-*` options specify
/// (creating a local forge's root for `--init`).
fn open_forge(g: &Global, init: bool) -> Result<AnyForge> {
    let spec = ForgeSpec::from_cli(g.forge.as_deref(), &g.github).map_err(anyhow::Error::msg)?;
    let problems = |problems: Vec<Problem>| {
        let lines: Vec<String> = problems.iter().map(|p| p.render(forge_setting)).collect();
        anyhow::Error::msg(lines.join("\nerror: "))
    };
    spec.check().map_err(problems)?;
    if let ForgeSpec::Local { root } = &spec
        && init
        && !root.exists()
    {
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create forge directory {}", root.display()))?;
    }
    spec.open().map_err(problems)
}

/// How a forge problem names a setting: its option, with its environment
/// variable when that is set, since the value may come from there (an
/// error must not blame an option that was never passed).
fn forge_setting(field: Field) -> &'static str {
    let (var, both) = match field {
        Field::LocalRoot | Field::GitHub | Field::ApiUrl => {
            ("DISTRIBUTOR_FORGE", "--forge (or DISTRIBUTOR_FORGE)")
        }
        Field::TokenFile => (
            "DISTRIBUTOR_GITHUB_TOKEN_FILE",
            "--github-token-file (or DISTRIBUTOR_GITHUB_TOKEN_FILE)",
        ),
        Field::AppId => (
            "DISTRIBUTOR_GITHUB_APP_ID",
            "--github-app-id (or DISTRIBUTOR_GITHUB_APP_ID)",
        ),
        Field::AppKeyFile => (
            "DISTRIBUTOR_GITHUB_APP_KEY",
            "--github-app-key (or DISTRIBUTOR_GITHUB_APP_KEY)",
        ),
        Field::AppInstallationId => (
            "DISTRIBUTOR_GITHUB_INSTALLATION_ID",
            "--github-installation-id (or DISTRIBUTOR_GITHUB_INSTALLATION_ID)",
        ),
        _ => return field.cli_flag(),
    };
    if std::env::var_os(var).is_some() {
        both
    } else {
        field.cli_flag()
    }
}
