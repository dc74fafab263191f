//! The `halfsky` command line. Parsing lives here; every command calls the library
//! ([`Ledger`], [`crate::import`], [`crate::export`], [`crate::demo`]).
//!
//! Record fields are not hand-written flags: each kind's flags are generated from the
//! schema table (`--birth-year`, `--household-id`, booleans as bare flags, lists by
//! repeating), so the CLI, imports and forms accept exactly the same fields.

use std::io::Write;
use std::path::PathBuf;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::{Arg, ArgAction, Args, Parser, Subcommand};
use halfsky_shared::ledger_doc::time_text;
use halfsky_shared::schema::{FieldSpec, FieldType};
use halfsky_shared::{Kind, OrgCode, RecordId};

use crate::config::NodeHome;
use crate::export::Format;
use crate::ledger::{Ledger, RecordView};

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
    /// Export records to CSV (UTF-8 with BOM, opens in Excel) or XLSX.
    Export {
        /// Kind of record.
        #[arg(long, value_parser = kind_parser())]
        kind: Kind,
        /// csv or xlsx.
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
    /// Run a demonstration on synthetic data (in a temporary directory by default).
    Demo(crate::demo::DemoArgs),
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

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
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
            let config = home.init(org, &args.name, &device, key)?;
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
        }
        Command::Add { kind, fields } => {
            let inputs = parse_field_flags(kind, "add", &fields).unwrap_or_else(|e| e.exit());
            let mut ledger = Ledger::open(&home)?;
            let id = ledger.add(kind, &inputs)?;
            writeln!(out, "{id}")?;
        }
        Command::Update { kind, id, fields } => {
            let inputs = parse_field_flags(kind, "update", &fields).unwrap_or_else(|e| e.exit());
            if inputs.is_empty() {
                anyhow::bail!("nothing to change: give at least one field flag (see `halfsky update {kind} ID --help`)");
            }
            let id = parse_id(&id)?;
            let mut ledger = Ledger::open(&home)?;
            if !ledger.update(&id, Some(kind), &inputs)? {
                eprintln!("{id}: the values given are already recorded; nothing changed");
            }
        }
        Command::Retire { kind, id, reason } => {
            let id = parse_id(&id)?;
            Ledger::open(&home)?.retire(&id, Some(kind), &reason)?;
            eprintln!("{id} retired");
        }
        Command::List {
            kind,
            org,
            all,
            json,
        } => {
            let ledger = Ledger::open(&home)?;
            let rows = ledger.list(kind, &org_prefix(org.as_deref())?, all)?;
            if json {
                let records: Vec<_> = rows.iter().map(|r| &r.record).collect();
                serde_json::to_writer_pretty(&mut out, &records)?;
                writeln!(out)?;
            } else {
                print_table(&mut out, kind, &rows)?;
            }
        }
        Command::Show { id, json } => {
            let id = parse_id(&id)?;
            let view = Ledger::open(&home)?.show(&id)?;
            if json {
                serde_json::to_writer_pretty(&mut out, &view)?;
                writeln!(out)?;
            } else {
                print_record(&mut out, &view)?;
            }
        }
        Command::History { id, json } => {
            let id = parse_id(&id)?;
            let entries = Ledger::open(&home)?.history(&id)?;
            if json {
                serde_json::to_writer_pretty(&mut out, &entries)?;
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
            let report = Ledger::open(&home)?.stats(org)?;
            if json {
                serde_json::to_writer_pretty(&mut out, &report)?;
                writeln!(out)?;
            } else {
                crate::demo::print_stats(&mut out, &report)?;
            }
        }
        Command::Import {
            file,
            kind,
            skip_bad,
        } => {
            let mut ledger = Ledger::open(&home)?;
            let report = crate::import::import(&mut ledger, &file, kind, skip_bad, true)?;
            for bad in &report.bad {
                eprintln!(
                    "skipped row {}, column {}: {}",
                    bad.row, bad.column, bad.reason
                );
            }
            eprintln!(
                "imported {} {} from {}",
                report.written,
                kind.spec().plural,
                file.display()
            );
        }
        Command::Export {
            kind,
            format,
            out: path,
            org,
            zh,
        } => {
            let ledger = Ledger::open(&home)?;
            let n = crate::export::export(
                &ledger,
                kind,
                format,
                &path,
                &org_prefix(org.as_deref())?,
                zh,
            )?;
            eprintln!("wrote {n} {} to {}", kind.spec().plural, path.display());
        }
        Command::Reindex => {
            let n = Ledger::open(&home)?.reindex()?;
            eprintln!("index rebuilt: {n} records");
        }
        Command::Demo(args) => crate::demo::run(args, &mut out)?,
    }
    Ok(())
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
    out: &mut impl Write,
    kind: Kind,
    rows: &[crate::index::IndexedRecord],
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

fn print_record(out: &mut impl Write, view: &RecordView) -> std::io::Result<()> {
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
