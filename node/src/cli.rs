//! The `halfsky` command line. Parsing lives here; every command calls the library
//! ([`Ledger`], [`crate::exchange::import`], [`crate::exchange::export`], [`crate::demo`]).
//!
//! Record fields are not hand-written flags: each kind's flags are generated from the
//! schema table (`--birth-year`, `--household-id`, booleans as bare flags, lists by
//! repeating), so the CLI, imports and forms accept exactly the same fields.

pub mod bundle;

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::builder::{PossibleValue, TypedValueParser};
use clap::{Arg, ArgAction, Args, Parser, Subcommand};
use halfsky_shared::ledger_doc::time_text;
use halfsky_shared::schema::{FieldSpec, FieldType};
use halfsky_shared::{Kind, OrgCode, RecordId};

use crate::config::NodeHome;
use crate::exchange::export::Format;
use crate::ledger::{Ledger, RecordView};
use crate::sync::status::NodeStatus;

/// halfsky — the women's federation's precise poverty-alleviation ledger (精准扶贫台账).
///
/// Every office keeps its own ledger on its own machine, offline if need be; records
/// merge upward village → township → county → city.
#[derive(Debug, Parser)]
#[command(name = "halfsky", version, about, long_about = None, max_term_width = 100)]
pub struct Cli {
    /// Node home directory (holds halfsky.toml and the store).
    #[arg(
        short = 'd',
        long = "dir",
        global = true,
        env = "HALFSKY_HOME",
        default_value = "halfsky-data"
    )]
    pub dir: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a node home for an org unit (村/乡镇/县/市).
    Init(InitArgs),
    /// Add a record; prints only its new id. `halfsky add woman --help` lists the fields.
    #[command(disable_help_flag = true)]
    Add {
        /// Kind of record: household, woman, pairing, measure, visit, training, base,
        /// loan, verification, target (plural and Chinese names work too).
        #[arg(value_parser = kind_parser())]
        kind: Kind,
        /// Field flags, e.g. --name 王秀英 --birth-year 1975 --labor full --wants-work.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "FIELDS"
        )]
        fields: Vec<String>,
    },
    /// Change fields of a record; an empty value (--note "") clears a field.
    /// `halfsky update woman ID --help` lists the fields.
    #[command(disable_help_flag = true)]
    Update {
        /// Kind of record.
        #[arg(value_parser = kind_parser())]
        kind: Kind,
        /// Record id.
        id: String,
        /// Field flags, as for `add`.
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "FIELDS"
        )]
        fields: Vec<String>,
    },
    /// Retire a record: it leaves the statistics but stays in the ledger and history.
    Retire {
        /// Kind of record.
        #[arg(value_parser = kind_parser())]
        kind: Kind,
        /// Record id.
        id: String,
        /// Why (moved away, entered twice, …).
        #[arg(long)]
        reason: String,
    },
    /// List records of a kind.
    List {
        /// Kind of record.
        #[arg(value_parser = kind_parser())]
        kind: Kind,
        /// Only units whose code starts with this (e.g. 230129100 for a township).
        #[arg(long)]
        org: Option<String>,
        /// Include retired records.
        #[arg(long)]
        all: bool,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one record, with any conflicting values.
    Show {
        /// Record id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show who changed a record, what and when.
    History {
        /// Record id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Statistics of this unit and everything below it.
    Stats {
        /// Org code of a unit this node holds (default: this node's unit).
        #[arg(long)]
        org: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Import records from a CSV or XLSX file (Chinese or English column headers).
    Import {
        /// The file (.csv in UTF-8, or .xlsx).
        file: PathBuf,
        /// Kind of the records in the file.
        #[arg(long, value_parser = kind_parser())]
        kind: Kind,
        /// Write the good rows and report the bad ones (default: write nothing if any row is bad).
        #[arg(long)]
        skip_bad: bool,
    },
    /// Export records to CSV (UTF-8 with BOM, opens in Excel), XLSX, or Parquet (for
    /// Spark, Trino, DuckDB: the merged records of a whole subtree, typed).
    Export {
        /// Kind of record.
        #[arg(long, value_parser = kind_parser())]
        kind: Kind,
        /// csv, xlsx or parquet.
        #[arg(long, default_value = "csv")]
        format: Format,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// Only units whose code starts with this.
        #[arg(long)]
        org: Option<String>,
        /// Chinese column headers (姓名, 出生年份, …).
        #[arg(long)]
        zh: bool,
    },
    /// Rebuild the index from the ledger documents.
    Reindex,
    /// Run the node: sync with its parent and children until Ctrl-C (logs on stderr,
    /// RUST_LOG respected). Other commands keep working while it runs.
    Run,
    /// Links to the parent and children: connected, last sync, what is not yet
    /// acknowledged.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The deployment's certificates: a CA for the city, one certificate per device.
    Pki {
        /// What to do.
        #[command(subcommand)]
        cmd: crate::pki::PkiCommand,
    },
    /// Dashboard users (stored in halfsky.toml with argon2 password hashes).
    User {
        /// What to do.
        #[command(subcommand)]
        cmd: UserCommand,
    },
    /// Run a demonstration on synthetic data (in a temporary directory by default).
    Demo(crate::demo::DemoArgs),
    /// Carry changes by hand when there is no network at all: sealed bundle files
    /// (signed by this node, readable only by the recipient) and their acknowledgements.
    Bundle {
        /// What to do.
        #[command(subcommand)]
        cmd: BundleCommand,
    },
}

/// `halfsky bundle …`.
#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Seal the changes the recipient (normally the parent unit) lacks, as far as this
    /// node knows, into a file for a USB stick or phone.
    Export {
        /// 12-digit code of the recipient unit (the parent).
        #[arg(long)]
        to: String,
        /// The bundle file to write.
        #[arg(long)]
        out: PathBuf,
        /// The recipient's certificate (its node.pem), if this node never connected to
        /// it (otherwise peers/<ORG>.pem in the node home is used).
        #[arg(long, value_name = "FILE")]
        to_cert: Option<PathBuf>,
        /// Days until the bundle expires and is refused.
        #[arg(long, default_value_t = 30)]
        expires_days: u32,
    },
    /// Apply a bundle from a unit below (checks signature, recipient, expiry and the
    /// sender's rights first); applying one twice changes nothing.
    Import {
        /// The bundle file.
        file: PathBuf,
        /// Write the signed acknowledgement here, to carry back to the sender.
        #[arg(long, value_name = "ACKFILE")]
        ack_out: Option<PathBuf>,
    },
    /// Apply an acknowledgement file from the parent: its changes count as delivered.
    Ack {
        /// The acknowledgement file written by `bundle import --ack-out`.
        file: PathBuf,
    },
}

/// `halfsky user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a dashboard user (or set a user's role and password). The password is
    /// asked for on the terminal, or read from standard input with --password-stdin.
    Add {
        /// Login name.
        #[arg(long)]
        name: String,
        /// viewer (reads), editor (also enters records) or admin.
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// `halfsky init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// 12-digit org code (统计用区划代码), e.g. 230129100201.
    #[arg(long)]
    pub org: String,
    /// The unit's name, e.g. 红星村.
    #[arg(long)]
    pub name: String,
    /// This device's name, shown in record history (default: the host name).
    #[arg(long)]
    pub device: Option<String>,
    /// The deployment's ID-number hashing key (hex), so duplicates are found across
    /// units; a new one is generated if omitted.
    #[arg(long)]
    pub id_key: Option<String>,
    /// The parent's address, host:port (omit at the city).
    #[arg(long)]
    pub parent: Option<String>,
    /// Where children dial in, ip:port (omit at a village), e.g. 0.0.0.0:7410.
    #[arg(long)]
    pub listen: Option<String>,
}

fn kind_parser() -> impl clap::builder::TypedValueParser<Value = Kind> {
    let values = Kind::ALL.map(|k| {
        let s = k.spec();
        PossibleValue::new(s.name)
            .aliases([s.plural, s.zh])
            .help(s.zh)
    });
    clap::builder::PossibleValuesParser::new(values)
        .map(|s| Kind::from_name(&s).expect("possible values are kind names"))
}

/// The flags of one kind, generated from its schema.
pub fn field_command(kind: Kind, verb: &'static str) -> clap::Command {
    let spec = kind.spec();
    let mut cmd = clap::Command::new(format!("halfsky {verb} {}", spec.name))
        .about(format!("{verb} a {} ({})", spec.name, spec.zh))
        .no_binary_name(true)
        .max_term_width(100);
    for field in spec.fields {
        let mut help = format!("{} — {}", field.zh, field.help);
        if let FieldType::Enum(e) | FieldType::EnumList(e) = &field.ty {
            help.push_str(&format!(". Values: {}", e.describe_options()));
        }
        if field.required && field.default.is_none() && verb == "add" {
            help.push_str(" [required]");
        }
        let mut arg = Arg::new(field.name)
            .long(field.name.replace('_', "-"))
            .help(help)
            .value_name(value_name(field));
        for alias in field.aliases.iter().filter(|a| a.is_ascii()) {
            arg = arg.alias(alias.replace('_', "-"));
        }
        arg = match field.ty {
            FieldType::Bool => arg
                .num_args(0..=1)
                .default_missing_value("true")
                .action(ArgAction::Set),
            FieldType::EnumList(_) | FieldType::RefList(_) => arg.action(ArgAction::Append),
            _ => arg.action(ArgAction::Set),
        };
        cmd = cmd.arg(arg);
    }
    cmd
}

fn value_name(field: &FieldSpec) -> &'static str {
    match field.ty {
        FieldType::Bool => "YES/NO",
        FieldType::Date => "DATE",
        FieldType::Int { .. } | FieldType::Year { .. } => "NUMBER",
        FieldType::Money => "YUAN",
        FieldType::Ref(_) | FieldType::RefList(_) | FieldType::RecordRef => "ID",
        FieldType::Org => "CODE",
        FieldType::Enum(_) | FieldType::EnumList(_) => "VALUE",
        _ => "TEXT",
    }
}

/// Parses field flags for `kind` into `(field, text)` pairs. `Err` carries clap's error
/// (which prints help for `--help`).
pub fn parse_field_flags(
    kind: Kind,
    verb: &'static str,
    args: &[String],
) -> Result<Vec<(String, String)>, clap::Error> {
    let matches = field_command(kind, verb).try_get_matches_from(args)?;
    let mut out = Vec::new();
    for field in kind.spec().fields {
        if let Some(values) = matches.get_many::<String>(field.name) {
            for v in values {
                out.push((field.name.to_string(), v.clone()));
            }
        }
    }
    Ok(out)
}

fn parse_id(raw: &str) -> anyhow::Result<RecordId> {
    Ok(RecordId::parse(raw)?)
}

fn parse_org(raw: &str) -> anyhow::Result<OrgCode> {
    Ok(OrgCode::parse(raw)?)
}

fn org_prefix(raw: Option<&str>) -> anyhow::Result<String> {
    let Some(raw) = raw else {
        return Ok(String::new());
    };
    let raw = raw.trim();
    if raw.len() == 12 {
        return Ok(parse_org(raw)?.subtree_prefix().to_string());
    }
    if raw.is_empty() || raw.len() > 12 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        anyhow::bail!(
            "--org {raw}: give an org code or its leading digits, e.g. 230129 for a county"
        );
    }
    Ok(raw.to_string())
}

/// Runs a parsed command line; returns the process exit code. `raw_args` are the
/// arguments after the program name, forwarded as they are to a running node.
pub fn run(cli: Cli, raw_args: &[String]) -> anyhow::Result<i32> {
    let home = NodeHome::new(&cli.dir);
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Init(args) => {
            let org = parse_org(&args.org)?;
            let device = args.device.unwrap_or_else(default_device);
            let key = match args.id_key {
                Some(hex) => Some(halfsky_shared::idcard::IdKey::from_hex(&hex).ok_or_else(|| {
                    anyhow::anyhow!("--id-key must be at least 32 hex digits (copy it from another node's halfsky.toml)")
                })?),
                None => None,
            };
            let config = home.init_with(org, &args.name, &device, key, args.parent, args.listen)?;
            Ledger::open(&home)?;
            eprintln!(
                "created node home {} for {} {} ({}), device {} [{}]",
                home.dir().display(),
                config.org.level().zh(),
                config.name,
                config.org,
                config.device,
                config.device_tag
            );
            Ok(0)
        }
        Command::Demo(args) => {
            crate::demo::run(args, &mut out)?;
            Ok(0)
        }
        Command::Pki { cmd } => {
            crate::pki::run(cmd, home.dir())?;
            Ok(0)
        }
        Command::Run => {
            crate::run::run_foreground(&home)?;
            Ok(0)
        }
        Command::User { cmd } => {
            user_command(&home, cmd)?;
            Ok(0)
        }
        command => {
            // A running node holds the store: let it execute the command.
            if let Some(reply) = crate::local_api::try_forward(&home, raw_args)? {
                out.write_all(reply.stdout.as_bytes())?;
                eprint!("{}", reply.stderr);
                return Ok(reply.code);
            }
            let mut ledger = Ledger::open(&home)?;
            let mut err = std::io::stderr().lock();
            execute(&mut ledger, command, &mut out, &mut err)
        }
    }
}

/// Runs `args` (as typed after `halfsky`) against an open ledger, capturing output:
/// how the running node executes forwarded commands. Relative paths are resolved
/// against `cwd`, the caller's directory.
pub fn execute_args(ledger: &mut Ledger, cwd: &Path, args: &[String]) -> crate::local_api::Reply {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = std::iter::once("halfsky".to_string()).chain(args.iter().cloned());
    let code = match Cli::try_parse_from(argv) {
        Ok(cli) => {
            let command = absolute_paths(cli.command, cwd);
            match command {
                Command::Init(_)
                | Command::Demo(_)
                | Command::Run
                | Command::Pki { .. }
                | Command::User { .. } => {
                    let _ = writeln!(err, "error: this command cannot run while the node is running; stop `halfsky run` first");
                    1
                }
                command => execute(ledger, command, &mut out, &mut err).unwrap_or_else(|e| {
                    let _ = writeln!(err, "error: {e:#}");
                    1
                }),
            }
        }
        Err(e) => {
            let text = e.render().to_string();
            if e.use_stderr() {
                err.extend_from_slice(text.as_bytes());
            } else {
                out.extend_from_slice(text.as_bytes());
            }
            e.exit_code()
        }
    };
    crate::local_api::Reply {
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
        code,
    }
}

fn absolute_paths(command: Command, cwd: &Path) -> Command {
    let abs = |p: PathBuf| if p.is_absolute() { p } else { cwd.join(p) };
    match command {
        Command::Import {
            file,
            kind,
            skip_bad,
        } => Command::Import {
            file: abs(file),
            kind,
            skip_bad,
        },
        Command::Export {
            kind,
            format,
            out,
            org,
            zh,
        } => Command::Export {
            kind,
            format,
            out: abs(out),
            org,
            zh,
        },
        Command::Bundle { cmd } => Command::Bundle {
            cmd: match cmd {
                BundleCommand::Export {
                    to,
                    out,
                    to_cert,
                    expires_days,
                } => BundleCommand::Export {
                    to,
                    out: abs(out),
                    to_cert: to_cert.map(abs),
                    expires_days,
                },
                BundleCommand::Import { file, ack_out } => BundleCommand::Import {
                    file: abs(file),
                    ack_out: ack_out.map(abs),
                },
                BundleCommand::Ack { file } => BundleCommand::Ack { file: abs(file) },
            },
        },
        other => other,
    }
}

/// True if `args` ask for `status`.
pub fn is_status(args: &[String]) -> bool {
    let argv = std::iter::once("halfsky".to_string()).chain(args.iter().cloned());
    matches!(
        Cli::try_parse_from(argv),
        Ok(Cli {
            command: Command::Status { .. },
            ..
        })
    )
}

/// Renders a status for `args` (`--json` or text).
pub fn render_status(args: &[String], status: &NodeStatus) -> crate::local_api::Reply {
    let json = args.iter().any(|a| a == "--json");
    let mut out = Vec::new();
    let written = if json {
        serde_json::to_writer_pretty(&mut out, status)
            .map_err(std::io::Error::other)
            .and_then(|_| writeln!(out))
    } else {
        print_status(&mut out, status)
    };
    crate::local_api::Reply {
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: written
            .err()
            .map(|e| format!("error: {e}\n"))
            .unwrap_or_default(),
        code: 0,
    }
}

fn print_status(out: &mut impl Write, s: &NodeStatus) -> std::io::Result<()> {
    let running = if s.running {
        "running"
    } else {
        "not running (last known state)"
    };
    writeln!(
        out,
        "{} {} ({}): {running}",
        s.org.level().zh(),
        s.name,
        s.org
    )?;
    match &s.parent {
        None => writeln!(out, "parent: none (top of the hierarchy)")?,
        Some(p) => {
            let link = if p.connected {
                "connected"
            } else {
                "NOT connected"
            };
            writeln!(out, "parent {}: {link}", p.addr)?;
            writeln!(
                out,
                "  last successful sync: {}",
                p.last_sync.as_deref().unwrap_or("never")
            )?;
            writeln!(
                out,
                "  changes not yet acknowledged: {} in {} documents{}",
                p.pending_changes,
                p.pending_documents,
                p.oldest_pending
                    .as_deref()
                    .map(|t| format!(", oldest from {t}"))
                    .unwrap_or_default()
            )?;
            if p.pending.total() > 0 {
                writeln!(
                    out,
                    "  by path: {} waiting for the direct link, {} left at the relay, {} in bundle files",
                    p.pending.direct, p.pending.relay, p.pending.bundle
                )?;
            }
            writeln!(out, "  bytes in/out: {} / {}", p.bytes_in, p.bytes_out)?;
            if let Some(e) = &p.last_error {
                writeln!(out, "  last problem: {e}")?;
            }
        }
    }
    if let Some(r) = &s.relay {
        writeln!(
            out,
            "relay {}: last visit {}, last bundle left for the parent {}, {} collected{}",
            r.addr,
            r.last_visit.as_deref().unwrap_or("never"),
            r.last_deposit.as_deref().unwrap_or("never"),
            r.collected,
            r.last_error
                .as_deref()
                .map(|e| format!(" — last problem: {e}"))
                .unwrap_or_default()
        )?;
    }
    if s.children.is_empty() {
        writeln!(out, "children: none seen yet")?;
    }
    for c in &s.children {
        let link = if c.connected { "connected" } else { "offline" };
        writeln!(
            out,
            "child {}/{}: {link}, last seen {}, last sync {}, {} documents{}",
            c.org,
            c.device,
            c.last_seen.as_deref().unwrap_or("never"),
            c.last_sync.as_deref().unwrap_or("never"),
            c.documents,
            c.last_error
                .as_deref()
                .map(|e| format!(" — {e}"))
                .unwrap_or_default()
        )?;
    }
    Ok(())
}

/// Runs one ledger command; returns the exit code.
pub fn execute(
    ledger: &mut Ledger,
    command: Command,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<i32> {
    match command {
        Command::Add { kind, fields } => {
            let inputs = match parse_field_flags(kind, "add", &fields) {
                Ok(inputs) => inputs,
                Err(e) => return Ok(clap_error(e, out, err)),
            };
            let id = ledger.add(kind, &inputs)?;
            writeln!(out, "{id}")?;
        }
        Command::Update { kind, id, fields } => {
            let inputs = match parse_field_flags(kind, "update", &fields) {
                Ok(inputs) => inputs,
                Err(e) => return Ok(clap_error(e, out, err)),
            };
            if inputs.is_empty() {
                anyhow::bail!("nothing to change: give at least one field flag (see `halfsky update {kind} ID --help`)");
            }
            let id = parse_id(&id)?;
            if !ledger.update(&id, Some(kind), &inputs)? {
                writeln!(
                    err,
                    "{id}: the values given are already recorded; nothing changed"
                )?;
            }
        }
        Command::Retire { kind, id, reason } => {
            let id = parse_id(&id)?;
            ledger.retire(&id, Some(kind), &reason)?;
            writeln!(err, "{id} retired")?;
        }
        Command::List {
            kind,
            org,
            all,
            json,
        } => {
            let rows = ledger.list(kind, &org_prefix(org.as_deref())?, all)?;
            if json {
                let records: Vec<_> = rows.iter().map(|r| &r.record).collect();
                serde_json::to_writer_pretty(&mut *out, &records)?;
                writeln!(out)?;
            } else {
                print_table(out, kind, &rows)?;
            }
        }
        Command::Show { id, json } => {
            let id = parse_id(&id)?;
            let view = ledger.show(&id)?;
            if json {
                serde_json::to_writer_pretty(&mut *out, &view)?;
                writeln!(out)?;
            } else {
                print_record(out, &view)?;
            }
        }
        Command::History { id, json } => {
            let id = parse_id(&id)?;
            let entries = ledger.history(&id)?;
            if json {
                serde_json::to_writer_pretty(&mut *out, &entries)?;
                writeln!(out)?;
            } else {
                for e in entries {
                    let values: Vec<_> = e.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    let mut line = format!(
                        "{}  {:<7} {}  {}",
                        time_text(e.time),
                        e.op,
                        e.by,
                        values.join(", ")
                    );
                    if let Some(note) = e.note {
                        line.push_str(&format!("  ({note})"));
                    }
                    writeln!(out, "{}", line.trim_end())?;
                }
            }
        }
        Command::Stats { org, json } => {
            let org = org.as_deref().map(parse_org).transpose()?;
            let report = ledger.stats(org)?;
            if json {
                serde_json::to_writer_pretty(&mut *out, &report)?;
                writeln!(out)?;
            } else {
                let mut text = Vec::new();
                crate::demo::print_stats(&mut text, &report)?;
                out.write_all(&text)?;
            }
        }
        Command::Bundle { cmd } => crate::cli::bundle::execute(ledger, cmd, out, err)?,
        Command::Status { json } => {
            let status = crate::ledger::actor::offline_status(ledger)?;
            let args = if json {
                vec!["--json".to_string()]
            } else {
                vec![]
            };
            let reply = render_status(&args, &status);
            out.write_all(reply.stdout.as_bytes())?;
        }
        Command::Import {
            file,
            kind,
            skip_bad,
        } => {
            let report = crate::exchange::import::import(ledger, &file, kind, skip_bad, true)?;
            for bad in &report.bad {
                writeln!(
                    err,
                    "skipped row {}, column {}: {}",
                    bad.row, bad.column, bad.reason
                )?;
            }
            writeln!(
                err,
                "imported {} {} from {}",
                report.written,
                kind.spec().plural,
                file.display()
            )?;
        }
        Command::Export {
            kind,
            format,
            out: path,
            org,
            zh,
        } => {
            let n = crate::exchange::export::export(
                ledger,
                kind,
                format,
                &path,
                &org_prefix(org.as_deref())?,
                zh,
            )?;
            writeln!(
                err,
                "wrote {n} {} to {}",
                kind.spec().plural,
                path.display()
            )?;
        }
        Command::Reindex => {
            let n = ledger.reindex()?;
            writeln!(err, "index rebuilt: {n} records")?;
        }
        Command::Init(_)
        | Command::Demo(_)
        | Command::Run
        | Command::Pki { .. }
        | Command::User { .. } => {
            anyhow::bail!("this command does not use an open ledger")
        }
    }
    Ok(0)
}

fn user_command(home: &NodeHome, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            name,
            role,
            password_stdin,
        } => {
            let name = name.trim().to_string();
            if name.is_empty() || name.chars().any(|c| c.is_control() || c == '"') {
                anyhow::bail!("--name must be a non-empty name without quotes");
            }
            let role: crate::config::Role = role
                .parse()
                .map_err(|e: String| anyhow::anyhow!("--role: {e}"))?;
            let password = read_password(password_stdin)?;
            if password.chars().count() < 8 {
                anyhow::bail!("the password must have at least 8 characters");
            }
            let hash = crate::dashboard::auth::hash_password(&password)
                .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?;
            crate::config::set_dashboard_user(home, &name, role, &hash)?;
            eprintln!(
                "user {name} ({}) saved in {}; restart `halfsky run` for the dashboard to see it",
                role.as_str(),
                home.config_path().display()
            );
            Ok(())
        }
    }
}

fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    if !from_stdin && stdin.is_terminal() {
        eprint!("password: ");
        std::io::stderr().flush()?;
        let echo = set_echo(false);
        let mut line = String::new();
        let read = stdin.lock().read_line(&mut line);
        if echo {
            set_echo(true);
        }
        eprintln!();
        read?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Turns terminal echo on or off (for the password prompt); returns whether it changed.
fn set_echo(on: bool) -> bool {
    std::process::Command::new("stty")
        .arg(if on { "echo" } else { "-echo" })
        .stdin(std::process::Stdio::inherit())
        .status()
        .is_ok_and(|s| s.success())
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

fn cell(view: &halfsky_shared::Record, field: &FieldSpec) -> String {
    view.fields
        .get(field.name)
        .map(|v| v.display(&field.ty))
        .unwrap_or_default()
}

fn print_table(
    out: &mut dyn Write,
    kind: Kind,
    rows: &[crate::store::index::IndexedRecord],
) -> std::io::Result<()> {
    let spec = kind.spec();
    let fields: Vec<&FieldSpec> = spec.fields.iter().take(6).collect();
    let mut header = vec!["id".to_string()];
    header.extend(fields.iter().map(|f| f.name.to_string()));
    let mut table = vec![header];
    for row in rows {
        let mut line = vec![row.record.id.to_string()];
        line.extend(fields.iter().map(|f| cell(&row.record, f)));
        if row.record.meta.retired {
            line[0].push_str(" (retired)");
        }
        table.push(line);
    }
    let widths: Vec<usize> = (0..table[0].len())
        .map(|c| {
            table
                .iter()
                .map(|r| display_width(&r[c]))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for line in &table {
        let mut text = String::new();
        for (c, value) in line.iter().enumerate() {
            text.push_str(value);
            text.push_str(&" ".repeat(widths[c] - display_width(value) + 2));
        }
        writeln!(out, "{}", text.trim_end())?;
    }
    writeln!(out, "({} {})", rows.len(), spec.plural)
}

/// Terminal width of a string: CJK characters take two columns.
fn display_width(s: &str) -> usize {
    s.chars()
        .map(|c| if (c as u32) >= 0x1100 { 2 } else { 1 })
        .sum()
}

fn print_record(out: &mut dyn Write, view: &RecordView) -> std::io::Result<()> {
    let record = &view.indexed.record;
    let spec = record.kind().spec();
    writeln!(out, "{} {} ({})", spec.zh, record.id, spec.name)?;
    for field in spec.fields {
        let value = cell(record, field);
        if value.is_empty() {
            continue;
        }
        writeln!(
            out,
            "  {:<22} {}",
            format!("{} {}", field.name, field.zh),
            value
        )?;
        if let Some(values) = view.conflicts.get(field.name) {
            writeln!(
                out,
                "  {:<22} ! conflicting values from different devices: {}",
                "",
                values.join(" | ")
            )?;
        }
    }
    let meta = &record.meta;
    writeln!(out, "  created {} by {}", meta.created_at, meta.created_by)?;
    writeln!(out, "  updated {} by {}", meta.updated_at, meta.updated_by)?;
    if meta.retired {
        writeln!(
            out,
            "  RETIRED: {}",
            meta.retired_reason.as_deref().unwrap_or("")
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
