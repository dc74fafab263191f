//! The command line's grammar: every command and flag of `halfsky`, as clap types.
//!
//! Record fields are not hand-written flags: each kind's flags are generated from the
//! schema table (`--birth-year`, `--household-id`, booleans as bare flags, lists by
//! repeating), so the command line, imports and forms accept exactly the same fields.

use std::path::PathBuf;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::{Arg, ArgAction, Args, Parser, Subcommand};
use halfsky_shared::lang::Lang;
use halfsky_shared::schema::{FieldSpec, FieldType};
use halfsky_shared::Kind;

use crate::exchange::export::Format;

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
    /// Language of what the command prints and of the files it writes: zh (Chinese,
    /// the default, as on the web) or en (English).
    #[arg(
        long,
        global = true,
        env = "HALFSKY_LANG",
        default_value = "zh",
        value_parser = parse_lang
    )]
    pub lang: Lang,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `--lang` / `HALFSKY_LANG`: `zh` or `en` (`zh-CN`, `english` … too).
fn parse_lang(raw: &str) -> Result<Lang, String> {
    Lang::parse(raw).ok_or_else(|| format!("\"{raw}\": give zh (Chinese) or en (English)"))
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a node home for an org unit (村/乡镇/县/市).
    Init(InitArgs),
    /// Add a record; prints only its new id. `halfsky add woman --help` lists the fields.
    #[command(disable_help_flag = true)]
    Add {
        /// Print help; `halfsky add KIND --help` lists that kind's fields.
        #[arg(short = 'h', long = "help")]
        help: bool,
        /// Kind of record: household, woman, pairing, measure, visit, training, base,
        /// loan, verification, target (plural and Chinese names work too).
        #[arg(value_parser = kind_parser(), required_unless_present = "help")]
        kind: Option<Kind>,
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
        /// Print help; `halfsky update KIND ID --help` lists that kind's fields.
        #[arg(short = 'h', long = "help")]
        help: bool,
        /// Kind of record.
        #[arg(value_parser = kind_parser(), required_unless_present = "help")]
        kind: Option<Kind>,
        /// Record id.
        #[arg(required_unless_present = "help")]
        id: Option<String>,
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
    /// When every unit below was last heard from (directly, or as reported by the
    /// child that heard it), by which path, and when its data last changed.
    Freshness {
        /// Org code of a unit below this node (default: this node's unit).
        #[arg(long)]
        org: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The monthly report (统计报表) of a unit as a printable HTML page, the same as the
    /// dashboard's `/org/CODE/report`: the month's activity, totals, targets,
    /// verification progress, overdue follow-ups and freshness, with lines to sign.
    Report {
        /// Org code of the unit (this node's or one below; default: this node's).
        #[arg(long)]
        org: Option<String>,
        /// The month, YYYY-MM (default: this month).
        #[arg(long)]
        month: Option<String>,
        /// The HTML file to write (in the language of `--lang`).
        #[arg(long)]
        out: PathBuf,
    },
    /// Pairing rhythm: active pairings overdue for a contact (monthly) or a visit in
    /// person (every two months), per helper and per unit, and visits by mode.
    Rhythm {
        /// Org code of a unit below this node (default: this node's unit).
        #[arg(long)]
        org: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Women registered twice: cards (not retired) with the same ID number, in one
    /// unit or in two below this node, with the unit that sees both.
    Duplicates {
        /// Org code of a unit below this node (default: this node's unit).
        #[arg(long)]
        org: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Four-level verification (四级核查): what this level has still to check, checking
    /// records, and progress per level.
    Verify {
        /// What to do.
        #[command(subcommand)]
        cmd: VerifyCommand,
    },
    /// Import records from a CSV or XLSX file (Chinese or English column headers). A row
    /// with an id (编号) updates that record, a row whose ID number is registered updates
    /// that woman's card: importing the same file again changes nothing.
    Import {
        /// The file (.csv in UTF-8, or .xlsx).
        file: PathBuf,
        /// Kind of the records in the file.
        #[arg(long, value_parser = kind_parser())]
        kind: Kind,
        /// Write the good rows and report the bad ones (default: write nothing if any row is bad).
        #[arg(long)]
        skip_bad: bool,
        /// Only show what the import would add, change and refuse; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Export records to CSV (UTF-8 with BOM, opens in Excel), XLSX, or Parquet (for
    /// Spark, Trino, DuckDB: the merged records of a whole subtree, typed). CSV and XLSX
    /// headers and value names are in the language of `--lang`, and import back.
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
        /// Chinese headers and value names whatever `--lang` says (Chinese is the
        /// default; kept for scripts written before `--lang`).
        #[arg(long, hide = true)]
        zh: bool,
    },
    /// Rebuild the index from the ledger documents.
    Reindex,
    /// The ID-number keys: an office's hash key, the deployment's key pair.
    IdKey {
        /// What to do.
        #[command(subcommand)]
        cmd: IdKeyCommand,
    },
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
        cmd: crate::cli::pki::PkiCommand,
    },
    /// Dashboard users (stored in halfsky.toml with argon2 password hashes).
    User {
        /// What to do.
        #[command(subcommand)]
        cmd: UserCommand,
    },
    /// Run a demonstration on synthetic data (in a temporary directory by default).
    Demo(crate::demo::DemoArgs),
    /// Run this node home as a systemd service: started at boot, restarted after a
    /// failure, logs in the journal (`journalctl -u halfsky-<org>`).
    Service {
        /// What to do.
        #[command(subcommand)]
        cmd: ServiceCommand,
    },
    /// Look this node home over: config, certificate and CA, the parent's answer, disk
    /// space, file permissions; says what to fix. Exit code 1 if anything must be fixed.
    Doctor,
    /// Write a backup of this node home (ledger, index, users, certificates) into one
    /// file, while the node runs or not; it holds the node's key: keep it safe.
    Backup {
        /// The backup file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Make the node home -d DIR (new, empty) from a backup. The restored node gets a
    /// fresh actor id and device tag (a replacement computer), so it never repeats the
    /// old machine's history.
    Restore {
        /// The backup file (`halfsky backup`).
        file: PathBuf,
        /// Keep the backup's actor id and device tag: ONLY when this is the same
        /// machine, stopped since the backup was taken (e.g. a new disk); otherwise
        /// records written after the backup would be written again under the same id.
        #[arg(long)]
        same_device: bool,
    },
    /// Documents quarantined after a refused change: their good history stays, their
    /// new changes are held until you release (apply them as they are) or drop
    /// (forget them) — see `halfsky status` for the refusals.
    Quarantine {
        /// What to do.
        #[command(subcommand)]
        cmd: QuarantineCommand,
    },
    /// Carry changes by hand when there is no network at all: sealed bundle files
    /// (signed by this node, readable only by the recipient) and their acknowledgements.
    Bundle {
        /// What to do.
        #[command(subcommand)]
        cmd: BundleCommand,
    },
}

/// `halfsky quarantine …`.
#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// Quarantined documents: since when, why, from whom, how many changes held.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Apply a document's held changes as they are (you vouch for them, e.g. after
    /// upgrading this node for a newer release's values) and lift the quarantine.
    Release {
        /// The document's org code.
        org: String,
    },
    /// Forget a document's held changes (its good history stays) and lift the
    /// quarantine; a sender that still holds the refused change will be refused again.
    Drop {
        /// The document's org code.
        org: String,
    },
}

/// `halfsky verify …`.
#[derive(Debug, Subcommand)]
pub enum VerifyCommand {
    /// Records of this unit's subtree that this level has not checked yet (or asked
    /// to fix and the village has edited since).
    Queue {
        /// Only this unit's subtree.
        #[arg(long)]
        org: Option<String>,
        /// Only this kind.
        #[arg(long, value_parser = kind_parser())]
        kind: Option<Kind>,
        /// A random sample of this many percent of each village's queue.
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=100))]
        sample: Option<u8>,
        /// Seed of the sample (the same seed draws the same records).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Record this level's check of one or more records.
    Mark {
        /// confirmed, rejected or needs_fix.
        #[arg(long)]
        result: String,
        /// What was found (tell the village what to fix).
        #[arg(long, default_value = "")]
        note: String,
        /// Who checked (default: this device's name).
        #[arg(long)]
        verifier: Option<String>,
        /// The records checked.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Progress per verifying level (confirmed, rejected, needs fix, pending).
    Progress {
        /// Org code of a unit this node holds (default: this node's unit).
        #[arg(long)]
        org: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
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

/// `halfsky service …`.
#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Write the unit halfsky-<org>.service and enable and start it (as root for a
    /// system unit; --user for a user unit).
    Install(ServiceArgs),
    /// Stop and disable the unit and remove its file.
    Uninstall(ServiceArgs),
}

/// Where the unit goes.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// Directory for the unit file (default /etc/systemd/system, or
    /// ~/.config/systemd/user with --user).
    #[arg(long, value_name = "DIR")]
    pub unit_dir: Option<PathBuf>,
    /// A user unit (systemctl --user) instead of a system unit.
    #[arg(long)]
    pub user: bool,
    /// Only write (or remove) the file; do not run systemctl.
    #[arg(long)]
    pub no_enable: bool,
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
    #[arg(long, required_unless_present = "enroll")]
    pub org: Option<String>,
    /// The unit's name, e.g. 红星村.
    #[arg(long, required_unless_present = "enroll")]
    pub name: Option<String>,
    /// This device's name, shown in record history (default: the name in a certificate
    /// already in the home, else the host name).
    #[arg(long, conflicts_with = "enroll")]
    pub device: Option<String>,
    /// The private half of the deployment's ID key (64 hex digits: `secret` in an
    /// office's id.key), for a township, county or city; a village given it keeps only
    /// its public half. Without it or --id-public, a new deployment key is made.
    #[arg(long, conflicts_with_all = ["enroll", "id_public"])]
    pub id_key: Option<String>,
    /// The public half of the deployment's ID key (`id_public` in any node's
    /// halfsky.toml): ID numbers typed here are sealed to it.
    #[arg(long, conflicts_with = "enroll")]
    pub id_public: Option<String>,
    /// The parent's address, host:port (omit at the city).
    #[arg(long, conflicts_with = "enroll")]
    pub parent: Option<String>,
    /// Where children dial in, ip:port (omit at a village), e.g. 0.0.0.0:7410.
    #[arg(long, conflicts_with = "enroll")]
    pub listen: Option<String>,
    /// Make the whole home from an enrollment file (`halfsky pki enroll`): certificate,
    /// key, CA, the deployment's shared settings, unit, parent and listen address.
    #[arg(long, value_name = "FILE", conflicts_with = "org")]
    pub enroll: Option<PathBuf>,
    /// With --enroll: read the passphrase from the first line of this file (otherwise
    /// from $HALFSKY_ENROLL_PASSPHRASE, otherwise asked for).
    #[arg(long, value_name = "FILE", requires = "enroll")]
    pub passphrase_file: Option<PathBuf>,
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

/// `halfsky id-key …`.
#[derive(Debug, Subcommand)]
pub enum IdKeyCommand {
    /// Replace this office's ID hash key with a fresh one and hash every ID number anew
    /// from its sealed form (duplicates stay found). Do it when a copy of this node's
    /// store and id.key may have left the office.
    Rotate,
    /// Replace the deployment's ID key pair, when its private half may have left an
    /// office (a copied id.key): run at a node of the CA's unit (the city) with the CA
    /// directory. Writes FILE (passphrase-sealed) with the private halves for the other
    /// offices, and sends the new public half down the tree: every node seals numbers
    /// to it after its next sync. Numbers sealed before stay sealed to the old pair.
    Replace {
        /// The CA directory (holds ca.key and deployment.toml).
        #[arg(long)]
        ca: PathBuf,
        /// The file to write for the other offices (township, county).
        #[arg(long)]
        out: PathBuf,
        /// Read the file's passphrase from the first line of this file (otherwise
        /// $HALFSKY_ENROLL_PASSPHRASE, otherwise asked for).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Add the private halves from a file made by `id-key replace` to this office
    /// (township, county, city), then match the numbers they open.
    Add {
        /// The file from the CA holder.
        file: PathBuf,
        /// Read the file's passphrase from the first line of this file (otherwise
        /// $HALFSKY_ENROLL_PASSPHRASE, otherwise asked for).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Which ID key this node seals numbers to, and (at an office) whether it opens them.
    Show {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}
