//! The `halfsky` command line: argv → [`Request`] → response rendered as text or
//! JSON. Parsing lives in [`args`], rendering in [`render`]; executing a request is
//! [`crate::command`]'s job, on a ledger this process opens or, while `halfsky run`
//! holds the store, on the running node through [`crate::local_api`].
//!
//! Everything a person can get wrong on the command line (an unknown field, a bad org
//! code, `--help`) is answered before the node home is touched, so help and usage
//! errors work anywhere.
//!
//! # Layout
//! - [`args`]: the commands and flags (clap), record fields generated from the schema.
//! - [`freshness`]: `halfsky freshness` (when each unit below was last heard from).
//! - [`pki`]: `halfsky pki` (the deployment's certificates).
//! - [`records`]: `list`, `show` and `history` as text, in the reader's language.
//! - [`render`]: responses as text or JSON.
//! - [`user`]: `halfsky user` (dashboard logins).

pub mod args;
pub mod freshness;
pub mod pki;
pub mod records;
pub mod render;
pub mod user;

use std::io::Write;
use std::path::{Path, PathBuf};

use halfsky_shared::lang::Lang;
use halfsky_shared::{OrgCode, RecordId};

pub use args::{
    field_command, parse_field_flags, BundleCommand, Cli, Command, InitArgs, QuarantineCommand,
    ServiceCommand, UserCommand, VerifyCommand,
};

use crate::command::{self, BundleRequest, IdKeyRequest, QuarantineRequest, Request, Secrets};
use crate::config::NodeHome;
use crate::ledger::Ledger;

/// Why a `halfsky` command failed; the message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A value on the command line is not usable.
    #[error("{0}")]
    Usage(String),
    /// The request failed.
    #[error(transparent)]
    Command(#[from] command::CommandError),
    /// The running node executed the request and it failed there.
    #[error("{0}")]
    AtRunningNode(String),
    /// The node home could not be created or opened.
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerError),
    /// `halfsky.toml` could not be written.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The certificate commands failed.
    #[error(transparent)]
    Pki(#[from] crate::pki::PkiError),
    /// The node home's config and certificate disagree.
    #[error(transparent)]
    Identity(#[from] crate::pki::agree::IdentityError),
    /// A revocation could not be made.
    #[error(transparent)]
    Revoke(#[from] crate::pki::revocation::RevokeError),
    /// The ID key pair could not be replaced, or a key file read.
    #[error(transparent)]
    IdKeyPair(#[from] crate::pki::id_key_pair::IdKeyPairError),
    /// `halfsky run` failed.
    #[error(transparent)]
    Run(#[from] crate::run::RunError),
    /// `halfsky demo` failed.
    #[error(transparent)]
    Demo(#[from] crate::demo::error::DemoError),
    /// The local API to a running node failed.
    #[error("cannot talk to the running node over {path}: {source}; is `halfsky run` stuck? stop it and try again")]
    LocalApi {
        /// The socket.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// Writing the output failed.
    #[error("cannot write the output: {0}")]
    Io(#[from] std::io::Error),
}

impl CliError {
    /// A usage error with its message.
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Usage(message.into())
    }
}

/// Runs a parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> Result<i32, CliError> {
    let home = NodeHome::new(&cli.dir);
    let lang = cli.lang;
    match cli.command {
        Command::Init(args) => init(&home, args).map(|()| 0),
        Command::Demo(args) => {
            crate::demo::run(args, &mut std::io::stdout())?;
            Ok(0)
        }
        Command::Pki { cmd } => {
            pki::execute(cmd, home.dir())?;
            Ok(0)
        }
        Command::IdKey {
            cmd:
                args::IdKeyCommand::Replace {
                    ca,
                    out,
                    passphrase_file,
                },
        } => {
            let pass = pki::passphrase(passphrase_file.as_deref(), true)?;
            let replaced = crate::pki::id_key_pair::replace(&ca, &home, &out, &pass)?;
            let file = replaced.file.display();
            match lang {
                Lang::Zh => eprintln!(
                    "部署的 ID 密钥对已在 {} 中更换；{file} 含全部私钥，请带到各乡镇、县的节点，\
                     在那里运行 `halfsky -d <节点目录> id-key add {file}`",
                    ca.display()
                ),
                Lang::En => eprintln!(
                    "replaced the deployment's ID key pair in {}; {file} holds every private half \
                     for the other offices: carry it to each township and county and run \
                     `halfsky -d <home> id-key add {file}` there",
                    ca.display()
                ),
            }
            let request = Request::IdKeys(IdKeyRequest::Publish {
                secrets: Secrets::of(&replaced.secrets),
                notice: replaced.notice.to_text(),
            });
            perform(
                &home,
                request,
                (false, lang),
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            )?;
            Ok(0)
        }
        Command::Run => {
            crate::run::run_foreground(&home)?;
            Ok(0)
        }
        Command::User { cmd } => user::execute(&home, cmd).map(|()| 0),
        Command::Service { cmd } => {
            let (args, install) = match cmd {
                ServiceCommand::Install(a) => (a, true),
                ServiceCommand::Uninstall(a) => (a, false),
            };
            let options = crate::service::ServiceOptions {
                unit_dir: args.unit_dir,
                user: args.user,
                no_enable: args.no_enable,
            };
            let done = if install {
                crate::service::install(&home, &options)
            } else {
                crate::service::uninstall(&home, &options)
            }
            .map_err(|e| CliError::usage(e.to_string()))?;
            let name = done.file_name().unwrap_or_default().to_string_lossy();
            match (install, options.no_enable) {
                (true, false) => eprintln!(
                    "installed and started {name} ({}); logs: journalctl {}-u {name}",
                    done.display(),
                    if options.user { "--user " } else { "" }
                ),
                (true, true) => eprintln!(
                    "wrote {}; enable it with `systemctl {}enable --now {name}`",
                    done.display(),
                    if options.user { "--user " } else { "" }
                ),
                (false, _) => eprintln!("removed {}", done.display()),
            }
            Ok(0)
        }
        Command::Doctor => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let findings = runtime.block_on(crate::doctor::examine(
                &home,
                &crate::doctor::Limits::default(),
            ));
            let failed = crate::doctor::print(&findings, &mut std::io::stdout().lock())?;
            Ok(i32::from(failed))
        }
        Command::Restore { file, same_device } => {
            let report = crate::backup::restore(&file, &home, same_device)
                .map_err(|e| CliError::Command(e.into()))?;
            eprintln!(
                "restored {} ({} documents) into {}{}",
                report.file.display(),
                report.documents,
                home.dir().display(),
                if same_device {
                    "; same device: actor id and device tag kept"
                } else {
                    "; this node has a new actor id and device tag, its certificate and unit are the backup's"
                }
            );
            Ok(0)
        }
        command => {
            // Locked only here: `run` and the demo log from other threads, which must
            // never wait for a lock this thread holds.
            let mut out = std::io::stdout().lock();
            let mut err = std::io::stderr().lock();
            let json = wants_json(&command);
            let cwd = std::env::current_dir()?;
            let request = match request_of(command, lang, &cwd)? {
                Ok(request) => request,
                Err(printout) => return Ok(print_out(printout, &mut out, &mut err)),
            };
            perform(&home, request, (json, lang), &mut out, &mut err)?;
            Ok(0)
        }
    }
}

/// Executes `request` at the running node of `home` (over the local API) or, when
/// none runs, on the store opened here; renders the response (as JSON, or as text in
/// `lang` with times in the home's `[node] time_zone`).
pub(crate) fn perform(
    home: &NodeHome,
    request: command::Request,
    (json, lang): (bool, Lang),
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> Result<(), CliError> {
    let response = match crate::local_api::try_forward(home, &request)
        .map_err(|(path, source)| CliError::LocalApi { path, source })?
    {
        Some(reply) => reply.map_err(CliError::AtRunningNode)?,
        None => match Ledger::open(home) {
            Ok(mut ledger) => {
                let options = command::Options { progress: true };
                command::execute(&mut ledger, request, options)?
            }
            // `halfsky run` started and took the store between our look for its
            // socket and the open: it answers now.
            Err(crate::ledger::LedgerError::Store(crate::store::StoreError::Locked(path))) => {
                crate::local_api::try_forward(home, &request)
                    .map_err(|(path, source)| CliError::LocalApi { path, source })?
                    .ok_or(crate::store::StoreError::Locked(path))
                    .map_err(crate::ledger::LedgerError::from)?
                    .map_err(CliError::AtRunningNode)?
            }
            Err(e) => return Err(e.into()),
        },
    };
    let reader = records::Reader {
        lang,
        zone: home.config().map(|c| c.zone).unwrap_or_default(),
    };
    render::render(&response, json, reader, out, err)?;
    Ok(())
}

/// What a command line printed, and its exit code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Exit code (0 = success).
    pub code: i32,
}

/// Runs a ledger command line (`args` as typed after `halfsky`) on an open ledger and
/// captures what it prints: the command line exactly as a person would meet it, for
/// tests and for tools that drive a ledger they already hold. Relative paths are taken
/// against `cwd`.
pub fn execute_args(ledger: &mut Ledger, cwd: &std::path::Path, args: &[String]) -> Captured {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let argv = std::iter::once("halfsky".to_string()).chain(args.iter().cloned());
    let code = match <Cli as clap::Parser>::try_parse_from(argv) {
        Err(e) => clap_error(e, &mut out, &mut err),
        Ok(cli) => {
            let json = wants_json(&cli.command);
            let reader = records::Reader {
                lang: cli.lang,
                zone: ledger.config().zone,
            };
            let executed =
                request_of(cli.command, cli.lang, cwd).and_then(|request| match request {
                    Err(printout) => Ok(print_out(printout, &mut out, &mut err)),
                    Ok(request) => {
                        let response = command::execute(ledger, request, Default::default())?;
                        render::render(&response, json, reader, &mut out, &mut err)?;
                        Ok(0)
                    }
                });
            executed.unwrap_or_else(|e| {
                let _ = writeln!(err, "error: {e}");
                1
            })
        }
    };
    Captured {
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
        code,
    }
}

fn init(home: &NodeHome, args: InitArgs) -> Result<(), CliError> {
    let config = match args.enroll {
        Some(file) => {
            let pass = pki::passphrase(args.passphrase_file.as_deref(), false)?;
            let enrollment = crate::pki::enroll::open(&file, &pass, std::time::SystemTime::now())
                .map_err(pki::enroll_error)?;
            enrollment
                .install(home, args.name.as_deref())
                .map_err(pki::enroll_error)?
        }
        None => {
            let org = parse_org(args.org.as_deref().unwrap_or_default())?;
            // A certificate already in the home (issued first) decides the device.
            let device =
                crate::pki::agree::device_for_init(home.dir(), org, args.device.as_deref())?
                    .unwrap_or_else(default_device);
            let bad = |e: halfsky_shared::idcard::SealError| {
                CliError::usage(format!(
                    "{e}: --id-key takes the private half of the deployment's ID key \
                     (`secret` in an office's id.key), --id-public its public half \
                     (`id_public` in any node's halfsky.toml)"
                ))
            };
            let key = match (args.id_key, args.id_public) {
                (Some(hex), _) => Some(crate::config::IdKeyGiven::Secret(
                    halfsky_shared::idcard::IdSecret::from_hex(&hex).map_err(bad)?,
                )),
                (None, Some(hex)) => Some(crate::config::IdKeyGiven::Public(
                    halfsky_shared::idcard::IdPublic::from_hex(&hex).map_err(bad)?,
                )),
                (None, None) => None,
            };
            let name = args.name.unwrap_or_default();
            home.init_with(org, &name, &device, key, args.parent, args.listen)?
        }
    };
    Ledger::open(home)?;
    eprintln!(
        "created node home {} for {} {} ({}), device {} [{}]",
        home.dir().display(),
        config.org.level().zh(),
        config.name,
        config.org,
        config.device,
        config.device_tag
    );
    Ok(())
}

/// Whether the command asked for JSON output.
fn wants_json(command: &Command) -> bool {
    matches!(
        command,
        Command::List { json: true, .. }
            | Command::Show { json: true, .. }
            | Command::History { json: true, .. }
            | Command::Stats { json: true, .. }
            | Command::Status { json: true }
            | Command::Quarantine {
                cmd: QuarantineCommand::List { json: true }
            }
            | Command::Freshness { json: true, .. }
            | Command::Duplicates { json: true, .. }
            | Command::IdKey {
                cmd: args::IdKeyCommand::Show { json: true }
            }
            | Command::Rhythm { json: true, .. }
            | Command::Verify {
                cmd: VerifyCommand::Queue { json: true, .. }
                    | VerifyCommand::Progress { json: true, .. }
            }
    )
}

/// The request a ledger command asks for, paths resolved against `cwd` (a running node
/// executing it has its own working directory), files written in `lang`. `Ok(Err(_))`:
/// clap's help or error for a kind's field flags, to print as it is.
fn request_of(
    command: Command,
    lang: Lang,
    cwd: &Path,
) -> Result<Result<Request, Printout>, CliError> {
    let absolute = |path: PathBuf| {
        if path.is_absolute() {
            path
        } else {
            cwd.join(path)
        }
    };
    Ok(Ok(match command {
        Command::Add { help, kind, fields } => {
            let Some(kind) = kind else {
                return Ok(Err(subcommand_help("add")));
            };
            match parse_field_flags(kind, "add", &with_help(fields, help)) {
                Ok(fields) => Request::Add { kind, fields },
                Err(e) => return Ok(Err(e.into())),
            }
        }
        Command::Update {
            help,
            kind,
            id,
            fields,
        } => {
            let Some(kind) = kind else {
                return Ok(Err(subcommand_help("update")));
            };
            match parse_field_flags(kind, "update", &with_help(fields, help)) {
                Ok(fields) => Request::Update {
                    kind,
                    id: parse_id(id.as_deref().unwrap_or_default())?,
                    fields,
                },
                Err(e) => return Ok(Err(e.into())),
            }
        }
        Command::Retire { kind, id, reason } => Request::Retire {
            kind,
            id: parse_id(&id)?,
            reason,
        },
        Command::List { kind, org, all, .. } => Request::List {
            kind,
            org_prefix: org_prefix(org.as_deref())?,
            include_retired: all,
        },
        Command::Show { id, .. } => Request::Show { id: parse_id(&id)? },
        Command::History { id, .. } => Request::History { id: parse_id(&id)? },
        Command::Stats { org, .. } => Request::Stats {
            org: org.as_deref().map(parse_org).transpose()?,
        },
        Command::Status { .. } => Request::Status,
        Command::Verify { cmd } => match cmd {
            VerifyCommand::Queue {
                org,
                kind,
                sample,
                seed,
                ..
            } => Request::VerifyQueue(crate::ledger::verification::QueueFilter {
                unit: org.as_deref().map(parse_org).transpose()?,
                kind,
                sample_percent: sample,
                seed,
            }),
            VerifyCommand::Mark {
                result,
                note,
                verifier,
                ids,
            } => Request::VerifyMark {
                ids: ids.iter().map(|i| parse_id(i)).collect::<Result<_, _>>()?,
                outcome: result.parse().map_err(CliError::Usage)?,
                note,
                verifier,
            },
            VerifyCommand::Progress { org, .. } => Request::VerifyProgress {
                org: org.as_deref().map(parse_org).transpose()?,
            },
        },
        Command::Freshness { org, .. } => Request::Freshness {
            org: org.as_deref().map(parse_org).transpose()?,
        },
        Command::Report { org, month, out } => Request::Report {
            org: org.as_deref().map(parse_org).transpose()?,
            month,
            out: absolute(out),
            lang,
        },
        Command::Rhythm { org, .. } => Request::Rhythm {
            org: org.as_deref().map(parse_org).transpose()?,
        },
        Command::Duplicates { org, .. } => Request::Duplicates {
            org: org.as_deref().map(parse_org).transpose()?,
        },
        Command::Import {
            file,
            kind,
            skip_bad,
            dry_run,
        } => Request::Import {
            file: absolute(file),
            kind,
            skip_bad,
            dry_run,
        },
        Command::Export {
            kind,
            format,
            out,
            org,
            zh,
        } => Request::Export {
            kind,
            format,
            out: absolute(out),
            org_prefix: org_prefix(org.as_deref())?,
            lang: if zh { Lang::Zh } else { lang },
        },
        Command::Reindex => Request::Reindex,
        Command::IdKey { cmd } => match cmd {
            args::IdKeyCommand::Rotate => Request::RotateIdKey,
            args::IdKeyCommand::Add {
                file,
                passphrase_file,
            } => {
                let pass = pki::passphrase(passphrase_file.as_deref(), false)?;
                let secrets = crate::pki::id_key_pair::open_key_file(&absolute(file), &pass)?;
                Request::IdKeys(IdKeyRequest::Add(Secrets::of(&secrets)))
            }
            args::IdKeyCommand::Show { .. } => Request::IdKeys(IdKeyRequest::Show),
            args::IdKeyCommand::Replace { .. } => {
                unreachable!("handled before requests are built")
            }
        },
        Command::Bundle { cmd } => Request::Bundle(bundle_request(cmd, cwd)?),
        Command::Backup { out } => Request::Backup { out: absolute(out) },
        Command::Quarantine { cmd } => Request::Quarantine(match cmd {
            QuarantineCommand::List { .. } => QuarantineRequest::List,
            QuarantineCommand::Release { org } => QuarantineRequest::Release(parse_org(&org)?),
            QuarantineCommand::Drop { org } => QuarantineRequest::Drop(parse_org(&org)?),
        }),
        Command::Init(_)
        | Command::Demo(_)
        | Command::Run
        | Command::Restore { .. }
        | Command::Doctor
        | Command::Service { .. }
        | Command::Pki { .. }
        | Command::User { .. } => {
            unreachable!("handled before requests are built")
        }
    }))
}

/// `fields` with `--help` appended when it was given before them (`add woman --help`):
/// the kind's field help, generated from the schema.
fn with_help(mut fields: Vec<String>, help: bool) -> Vec<String> {
    if help {
        fields.push("--help".into());
    }
    fields
}

/// What the command line prints instead of running a request: clap's error or a
/// kind's field help, or the help of `add`/`update` given without a kind.
#[derive(Debug)]
enum Printout {
    /// clap's usage error or help.
    Clap(clap::Error),
    /// Help text for standard output.
    Help(String),
}

impl From<clap::Error> for Printout {
    fn from(e: clap::Error) -> Self {
        Printout::Clap(e)
    }
}

/// The help of `halfsky VERB` (no kind given).
fn subcommand_help(verb: &str) -> Printout {
    use clap::CommandFactory;
    let mut cli = Cli::command().bin_name("halfsky");
    cli.build();
    let text = cli
        .find_subcommand_mut(verb)
        .map(|c| c.render_long_help().to_string())
        .unwrap_or_default();
    Printout::Help(text)
}

/// The request a `halfsky bundle` command asks for, paths resolved against `cwd`.
pub fn bundle_request(cmd: BundleCommand, cwd: &Path) -> Result<BundleRequest, CliError> {
    let absolute = |path: PathBuf| {
        if path.is_absolute() {
            path
        } else {
            cwd.join(path)
        }
    };
    Ok(match cmd {
        BundleCommand::Export {
            to,
            out,
            to_cert,
            expires_days,
        } => BundleRequest::Export {
            to: OrgCode::parse(&to).map_err(|e| CliError::usage(format!("--to {to}: {e}")))?,
            out: absolute(out),
            to_cert: to_cert.map(absolute),
            expires_days,
        },
        BundleCommand::Import { file, ack_out } => BundleRequest::Import {
            file: absolute(file),
            ack_out: ack_out.map(absolute),
        },
        BundleCommand::Ack { file } => BundleRequest::Ack {
            file: absolute(file),
        },
    })
}

fn parse_id(raw: &str) -> Result<RecordId, CliError> {
    RecordId::parse(raw).map_err(|e| CliError::usage(e.to_string()))
}

fn parse_org(raw: &str) -> Result<OrgCode, CliError> {
    OrgCode::parse(raw).map_err(|e| CliError::usage(e.to_string()))
}

/// An org code or its leading digits, as the prefix of the subtree it names.
fn org_prefix(raw: Option<&str>) -> Result<String, CliError> {
    let Some(raw) = raw else {
        return Ok(String::new());
    };
    let raw = raw.trim();
    if raw.len() == 12 {
        return Ok(parse_org(raw)?.subtree_prefix().to_string());
    }
    if raw.is_empty() || raw.len() > 12 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CliError::usage(format!(
            "--org {raw}: give an org code or its leading digits, e.g. 230129 for a county"
        )));
    }
    Ok(raw.to_string())
}

/// Prints a clap error or help where it belongs; returns its exit code.
fn print_out(printout: Printout, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    match printout {
        Printout::Clap(e) => clap_error(e, out, err),
        Printout::Help(text) => {
            let _ = out.write_all(text.as_bytes());
            0
        }
    }
}

/// Prints a clap error or help where it belongs; returns its exit code.
fn clap_error(e: clap::Error, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let text = e.render().to_string();
    let _ = if e.use_stderr() {
        err.write_all(text.as_bytes())
    } else {
        out.write_all(text.as_bytes())
    };
    e.exit_code()
}

fn default_device() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "device".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use halfsky_shared::Kind;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn field_flags_from_schema() {
        let inputs = parse_field_flags(
            Kind::Woman,
            "add",
            &args(&[
                "--name",
                "王秀英",
                "--birth-year",
                "1975",
                "--labor",
                "full",
                "--wants-work",
                "--cause",
                "illness",
                "--cause",
                "因残",
                "--status",
                "poor",
            ]),
        )
        .unwrap();
        assert!(inputs.contains(&("wants_work".into(), "true".into())));
        assert!(inputs.contains(&("labor_capacity".into(), "full".into())));
        assert_eq!(
            inputs.iter().filter(|(k, _)| k == "poverty_causes").count(),
            2
        );
        assert!(parse_field_flags(Kind::Woman, "add", &args(&["--shoe-size", "3"])).is_err());
    }

    #[test]
    fn kinds_by_any_name() {
        let cli = Cli::try_parse_from(["halfsky", "list", "women"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::List {
                kind: Kind::Woman,
                ..
            }
        ));
        let cli = Cli::try_parse_from(["halfsky", "list", "回访"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::List {
                kind: Kind::Visit,
                ..
            }
        ));
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        for kind in Kind::ALL {
            field_command(kind, "add").debug_assert();
        }
    }
}
