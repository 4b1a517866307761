//! Command-line definitions (clap derive) and nothing else: no I/O, no
//! defaults read from the environment beyond what clap's `env` does. The
//! wiring lives in `app`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::forge::github::WriteMode;
use crate::forge::spec;
use crate::output::Format;

/// `--version`: the package version and the git commit the binary was
/// built from (`unknown` outside a git checkout; see build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("DISTRIBUTOR_GIT_COMMIT"),
    ")"
);

/// Renders the integration registry into every team repository and
/// delivers it: direct commits or proposal branches, drift never silently
/// overwritten.
#[derive(Debug, Parser)]
#[command(name = "distributor", version = VERSION, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// The `--help` heading of the options every command shares: inputs,
/// forge, state directory, logging and colour.
pub const HEADING_GLOBAL: &str = "Global options";
/// The `--help` heading of the options that select repos and bundles.
pub const HEADING_FILTERS: &str = "Filters";
/// The `--help` heading of the options that choose what is printed.
pub const HEADING_OUTPUT: &str = "Output";
/// The `--help` heading of the options only the GitHub forge reads.
pub const HEADING_GITHUB: &str = "GitHub";

/// Options shared by every command. Each names its `--help` heading: a
/// flattened struct's `next_help_heading` would also apply to every option
/// declared after it (which listed `--team` or `--format` under "GitHub").
#[derive(Debug, Args)]
pub struct Global {
    /// The integration registry.
    #[arg(
        long,
        global = true,
        help_heading = HEADING_GLOBAL,
        env = "DISTRIBUTOR_REGISTRY",
        default_value = "registry.json"
    )]
    pub registry: PathBuf,
    /// The templates directory (one folder per bundle).
    #[arg(
        long,
        global = true,
        help_heading = HEADING_GLOBAL,
        env = "DISTRIBUTOR_TEMPLATES",
        default_value = "templates"
    )]
    pub templates: PathBuf,
    /// Where the repositories are: `local:DIR` (bare repos at
    /// DIR/OWNER/REPO.git), `github` (api.github.com) or `github:URL` (a
    /// GitHub Enterprise Server API, e.g. https://HOST/api/v3).
    #[arg(long, global = true, help_heading = HEADING_GLOBAL, env = "DISTRIBUTOR_FORGE")]
    pub forge: Option<String>,
    /// Only repos of this team (repeatable).
    #[arg(long, global = true, help_heading = HEADING_FILTERS)]
    pub team: Vec<String>,
    /// Only this repo, `OWNER/REPO` or `REPO` (repeatable).
    #[arg(long, global = true, help_heading = HEADING_FILTERS)]
    pub repo: Vec<String>,
    /// Only files of this bundle (repeatable). Other bundles' files are left
    /// exactly as they are.
    #[arg(long, global = true, help_heading = HEADING_FILTERS)]
    pub bundle: Vec<String>,
    /// Output format; a command refuses one it cannot print (see
    /// docs/output.md).
    #[arg(long, global = true, help_heading = HEADING_OUTPUT, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Log format (logs go to stderr).
    #[arg(long, global = true, help_heading = HEADING_GLOBAL, value_enum, env = "DISTRIBUTOR_LOG_FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Colour: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, global = true, help_heading = HEADING_GLOBAL, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// More logging (-v: debug, -vv: trace).
    #[arg(short, long, global = true, help_heading = HEADING_GLOBAL, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors in the logs.
    #[arg(short, long, global = true, help_heading = HEADING_OUTPUT, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Where the rollout log (`rollout.jsonl`: pull requests opened, wave
    /// soak, promotions, halts) and the audit log live. Default:
    /// $STATE_DIRECTORY (systemd), else a directory per fleet (forge and
    /// platform) under $XDG_STATE_HOME/distributor/fleets/, else
    /// ~/.local/state/distributor/fleets/. `plan` and `status` only read it.
    #[arg(long, global = true, help_heading = HEADING_GLOBAL, env = "DISTRIBUTOR_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Last, so `--help` lists the GitHub-only options after the others.
    #[command(flatten)]
    pub github: GitHubArgs,
    /// Plan as if it were this time (RFC 3339), to rehearse when soaks end
    /// and waivers expire; also used by tests.
    #[arg(long, global = true, help_heading = HEADING_GLOBAL, hide = true, env = "DISTRIBUTOR_NOW")]
    pub now: Option<String>,
}

/// GitHub forge options. The token comes from `GITHUB_TOKEN` or
/// `--github-token-file`; a GitHub App needs the three `--github-app*`
/// options.
#[derive(Debug, Args)]
pub struct GitHubArgs {
    /// File holding the token. A bare file name is looked up in systemd's
    /// $CREDENTIALS_DIRECTORY first (LoadCredential=).
    #[arg(long, global = true, help_heading = HEADING_GITHUB, env = "DISTRIBUTOR_GITHUB_TOKEN_FILE")]
    pub github_token_file: Option<PathBuf>,
    /// GitHub App id (with --github-app-key and --github-installation-id).
    #[arg(long, global = true, help_heading = HEADING_GITHUB, env = "DISTRIBUTOR_GITHUB_APP_ID")]
    pub github_app_id: Option<u64>,
    /// GitHub App private key (PEM file; a bare name is looked up in
    /// $CREDENTIALS_DIRECTORY first).
    #[arg(long, global = true, help_heading = HEADING_GITHUB, env = "DISTRIBUTOR_GITHUB_APP_KEY")]
    pub github_app_key: Option<PathBuf>,
    /// Installation id of the GitHub App in the organisation.
    #[arg(long, global = true, help_heading = HEADING_GITHUB, env = "DISTRIBUTOR_GITHUB_INSTALLATION_ID")]
    pub github_installation_id: Option<u64>,
    /// How commits are written: `graphql` (createCommitOnBranch, one
    /// request per commit, signed by GitHub) or `rest` (Git Data API, for
    /// servers without the mutation).
    #[arg(long, global = true, help_heading = HEADING_GITHUB, value_enum, default_value_t = WriteMode::Graphql)]
    pub github_writes: WriteMode,
    /// Pacing of content-creating units (one per GraphQL mutation field or
    /// mutating REST request), COUNT/DURATION, repeatable; all must admit a
    /// write. Default: 60/1m and 450/1h (under GitHub's 80/minute and
    /// 500/hour secondary limits).
    #[arg(long, global = true, help_heading = HEADING_GITHUB, value_name = "COUNT/DURATION")]
    pub github_write_quota: Vec<String>,
    /// Minimum time between two content-creating requests.
    #[arg(long, global = true, help_heading = HEADING_GITHUB, default_value = spec::DEFAULT_WRITE_SPACING)]
    pub github_write_spacing: String,
    /// Repositories per batched GraphQL observation query.
    #[arg(long, global = true, help_heading = HEADING_GITHUB, default_value_t = spec::DEFAULT_BATCH_SIZE)]
    pub github_batch_size: usize,
    /// Requests in flight at once (GitHub refuses above 100).
    #[arg(long, global = true, help_heading = HEADING_GITHUB, default_value_t = spec::DEFAULT_MAX_IN_FLIGHT)]
    pub github_max_in_flight: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check registry and templates, render everything; writes nothing.
    ///
    /// With a forge (--forge or DISTRIBUTOR_FORGE) it then observes the
    /// fleet read-only, as `plan` does, and warns when a flag is on in a
    /// stage while an earlier stage of the registry's flag_order is not
    /// live fleet-wide, naming the repos holding it. Without a forge (or
    /// when the fleet cannot be observed: no token, unreachable) a note
    /// says the flag order was not checked. Exit code 0: valid, 1: invalid
    /// (or --strict-flags and a flag out of order or unchecked).
    Validate(ValidateArgs),
    /// Show what `apply` would do. Exit code 0: nothing to do, 2: changes
    /// pending, 1: error.
    Plan(PlanArgs),
    /// Deliver the rendered files.
    Apply(ApplyArgs),
    /// Per-repo state: in sync, outdated, drifted, proposal pending, error.
    Status(InitArgs),
    /// Where each flag's registry value is live across the fleet, stage by
    /// stage, and which repos hold it up. Exit code 0: every flag is live
    /// everywhere, 2: some are still on their way, 1: error.
    Flags(FlagsArgs),
    /// Print the resolved template context of one repo.
    Context(ContextArgs),
    /// Run as a service: reconcile continuously, answer webhooks, health,
    /// metrics, status and a dashboard over HTTP (see docs/config.md).
    Serve(ServeArgs),
    /// Let a platform revision reach a wave (and the waves before it) now,
    /// without waiting for earlier waves or their soak.
    Promote(PromoteArgs),
    /// Resume the rollout of a halted platform revision (one later than a
    /// rollback's pin also lifts the pin).
    Resume(ResumeArgs),
    /// Roll the fleet back to an earlier platform revision: halt every
    /// later revision's rollout, pin the fleet to REV (every run and daemon
    /// cycle renders it until `unpin`), and deliver REV's render to the
    /// repos the later revisions reached, through their normal delivery or,
    /// with --force, as an audited urgent fix.
    Rollback(RollbackArgs),
    /// Lift a rollback's pin: runs follow the platform's head again (the
    /// revisions the rollback halted stay halted until resumed).
    Unpin(UnpinArgs),
    /// Create a new platform repository in DIR: a registry with one team and
    /// one repo, one bundle, a CI workflow and a daemon config; it validates
    /// and plans against the local forge at once.
    Init(ScaffoldArgs),
    /// Print a shell completion script on stdout (bash, zsh, fish, ...).
    Completions(CompletionsArgs),
    /// Print the man page (roff) on stdout; the Debian package ships it.
    #[command(hide = true)]
    Man,
}

impl Command {
    /// The command's name, as typed after `distributor`.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Validate(_) => "validate",
            Command::Plan(_) => "plan",
            Command::Apply(_) => "apply",
            Command::Status(_) => "status",
            Command::Flags(_) => "flags",
            Command::Context(_) => "context",
            Command::Serve(_) => "serve",
            Command::Promote(_) => "promote",
            Command::Resume(_) => "resume",
            Command::Rollback(_) => "rollback",
            Command::Unpin(_) => "unpin",
            Command::Init(_) => "init",
            Command::Completions(_) => "completions",
            Command::Man => "man",
        }
    }
}

#[derive(Debug, Args)]
pub struct ScaffoldArgs {
    /// The directory to create (or an empty one).
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell. bash: source it, or put it in
    /// /usr/share/bash-completion/completions/distributor; zsh: a `_distributor`
    /// file on $fpath; fish: ~/.config/fish/completions/distributor.fish.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct PromoteArgs {
    /// The platform revision, as `status` shows it (full commit id).
    pub revision: String,
    /// The wave to promote it to.
    #[arg(long)]
    pub wave: String,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The revision to go back to: a commit of the platform's history (full
    /// id, unique prefix, branch or tag).
    pub revision: String,
    /// Why: written into every commit, pull request and audit record.
    #[arg(long, required = true)]
    pub reason: String,
    /// Urgent: commit directly even where delivery is `pr` and overwrite
    /// hand edits, as `apply --force` does.
    #[arg(long)]
    pub force: bool,
    /// Print the plan the rollback would execute; record and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Where the rollback appends its audit records (JSON lines). Default:
    /// audit.jsonl in the state directory.
    #[arg(long, env = "DISTRIBUTOR_AUDIT_LOG")]
    pub audit_log: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UnpinArgs {
    /// Why (recorded in the rollout log with the operator).
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The halted platform revision, as `status` shows it.
    pub revision: String,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The configuration file (YAML).
    #[arg(
        long,
        env = "DISTRIBUTOR_CONFIG",
        default_value = "/etc/distributor/config.yaml"
    )]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Create missing local bare repos (with an initial commit) first; for
    /// demos and tests with the local forge.
    #[arg(long)]
    pub init: bool,
}

#[derive(Debug, Args)]
pub struct FlagsArgs {
    /// The flags to report (default: every flag the registry defines).
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    #[command(flatten)]
    pub init: InitArgs,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Exit 1 when a flag is on in a stage while an earlier stage of the
    /// registry's flag_order is not live fleet-wide, and when that cannot
    /// be checked (no forge given, no credentials, forge unreachable).
    /// Default: warn, or a note when not checked.
    #[arg(long)]
    pub strict_flags: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Leave unified diffs out of the output.
    #[arg(long, help_heading = HEADING_OUTPUT, conflicts_with = "diff")]
    pub no_diff: bool,
    /// Every repo's files, even for fleets where the plan is compact
    /// (more than 3 repos to write): one line per repo otherwise.
    #[arg(long, help_heading = HEADING_OUTPUT)]
    pub detail: bool,
    /// Every repo's files and their unified diffs (implies --detail).
    #[arg(long, help_heading = HEADING_OUTPUT)]
    pub diff: bool,
    /// Plan the registry and templates as this platform commit holds them
    /// (a branch, tag, commit id or unique prefix), read from git without a
    /// checkout: what going back to REV would change.
    #[arg(long, value_name = "REV")]
    pub source_rev: Option<String>,
    /// Fail (exit 1) when a flag is on in a stage while an earlier stage of
    /// the registry's flag_order is not live fleet-wide (default: warn).
    #[arg(long)]
    pub strict_flags: bool,
    #[command(flatten)]
    pub init: InitArgs,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Print the plan `apply` would execute, and exit like `plan`.
    #[arg(long)]
    pub dry_run: bool,
    /// Deliver the registry and templates as this platform commit holds
    /// them (a branch, tag, commit id or unique prefix), through each repo's
    /// normal delivery.
    #[arg(long, value_name = "REV")]
    pub source_rev: Option<String>,
    /// Refuse to write anything when a flag is on in a stage while an
    /// earlier stage of the registry's flag_order is not live fleet-wide.
    #[arg(long)]
    pub strict_flags: bool,
    /// Urgent fix: commit directly even where delivery is `pr`, overwrite
    /// drift. Never rewrites history. Needs --reason.
    #[arg(long, requires = "reason")]
    pub force: bool,
    /// Why the run is forced; written into every commit message.
    #[arg(long, requires = "force")]
    pub reason: Option<String>,
    /// Allow --force from a platform tree with uncommitted changes.
    #[arg(long, requires = "force")]
    pub allow_dirty: bool,
    /// Where forced runs append their audit records (JSON lines). Default:
    /// audit.jsonl in the state directory.
    #[arg(long, env = "DISTRIBUTOR_AUDIT_LOG")]
    pub audit_log: Option<PathBuf>,
    /// Leave unified diffs out of --dry-run output.
    #[arg(long, help_heading = HEADING_OUTPUT, conflicts_with = "diff")]
    pub no_diff: bool,
    /// --dry-run: every repo's files, even for large fleets.
    #[arg(long, help_heading = HEADING_OUTPUT)]
    pub detail: bool,
    /// --dry-run: every repo's files and their diffs (implies --detail).
    #[arg(long, help_heading = HEADING_OUTPUT)]
    pub diff: bool,
    #[command(flatten)]
    pub init: InitArgs,
}

#[derive(Debug, Args)]
pub struct ContextArgs {
    /// `OWNER/REPO` (or `REPO` for the default owner). Its own id: sharing
    /// the id `repo` with the global `--repo` filter made clap fill both,
    /// so an unknown REPO was reported as a `--repo` never passed.
    #[arg(id = "context_repo", value_name = "REPO")]
    pub repo: String,
}
