//! Records as a person reads them on the command line (`list`, `show`, `history`):
//! in one language, fields by their labels and values by their names (贫困, not
//! `poor`; 因病、因残, not `illness;disability`; money as `1,545,000.00 元`), times in
//! the deployment's zone. The words are the schema's and [`Lang`]'s, the same the web
//! pages use.

use std::io::Write;

use halfsky_shared::lang::{field_label, Lang};
use halfsky_shared::ledger_doc::HistoryEntry;
use halfsky_shared::local_time::Zone;
use halfsky_shared::schema::FieldSpec;
use halfsky_shared::{Kind, Record};

use crate::ledger::RecordView;
use crate::store::index::IndexedRecord;

/// Who reads the text: the language, and the deployment's time zone for the times.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reader {
    /// `--lang` / `HALFSKY_LANG`.
    pub lang: Lang,
    /// `[node] time_zone` of the node home.
    pub zone: Zone,
}

/// A field's value as shown, empty when the record has none.
fn shown(lang: Lang, record: &Record, field: &FieldSpec) -> String {
    record
        .fields
        .get(field.name)
        .map(|v| lang.value(v, &field.ty))
        .unwrap_or_default()
}

/// `list`: the id and the first six fields of each record, in aligned columns, then
/// the count.
pub fn print_table(
    out: &mut dyn Write,
    lang: Lang,
    kind: Kind,
    rows: &[IndexedRecord],
) -> std::io::Result<()> {
    let spec = kind.spec();
    let fields: Vec<&FieldSpec> = spec.fields.iter().take(6).collect();
    let mut header = vec![lang.t("编号", "id").to_string()];
    header.extend(fields.iter().map(|f| field_label(lang, f)));
    let mut table = vec![header];
    for row in rows {
        let mut line = vec![row.record.id.to_string()];
        line.extend(fields.iter().map(|f| shown(lang, &row.record, f)));
        if row.record.meta.retired {
            line[0].push_str(lang.t("（已停用）", " (retired)"));
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
    match lang {
        Lang::Zh => writeln!(out, "（共 {} 条{}记录）", rows.len(), spec.zh),
        Lang::En => writeln!(out, "({} {})", rows.len(), spec.plural),
    }
}

/// Terminal width of a string: CJK characters take two columns.
fn display_width(s: &str) -> usize {
    s.chars()
        .map(|c| if (c as u32) >= 0x1100 { 2 } else { 1 })
        .sum()
}

/// `show`: every field that has a value, any conflicting values, who wrote it and when.
pub fn print_record(out: &mut dyn Write, reader: Reader, view: &RecordView) -> std::io::Result<()> {
    let Reader { lang, zone } = reader;
    let record = &view.indexed.record;
    let spec = record.kind().spec();
    writeln!(out, "{} {}", lang.t(spec.zh, spec.name), record.id)?;
    let labels: Vec<String> = spec.fields.iter().map(|f| field_label(lang, f)).collect();
    let width = labels.iter().map(|l| display_width(l)).max().unwrap_or(0);
    let pad = |label: &str| " ".repeat(width - display_width(label) + 2);
    for (field, label) in spec.fields.iter().zip(&labels) {
        let value = shown(lang, record, field);
        if value.is_empty() {
            continue;
        }
        writeln!(out, "  {label}{}{value}", pad(label))?;
        if let Some(values) = view.conflicts.get(field.name) {
            let names: Vec<String> = values.iter().map(|v| lang.text(v, &field.ty)).collect();
            writeln!(
                out,
                "  {}! {}{}",
                " ".repeat(width + 2),
                lang.t(
                    "不同设备填了不同的值：",
                    "conflicting values from different devices: "
                ),
                names.join(" | ")
            )?;
        }
    }
    let meta = &record.meta;
    let (created, updated) = (lang.t("创建", "created"), lang.t("修改", "updated"));
    let by = lang.t("设备", "by");
    writeln!(
        out,
        "  {created} {} {by} {}",
        lang.stamp(zone, &meta.created_at),
        meta.created_by
    )?;
    writeln!(
        out,
        "  {updated} {} {by} {}",
        lang.stamp(zone, &meta.updated_at),
        meta.updated_by
    )?;
    if meta.retired {
        writeln!(
            out,
            "  {}{}",
            lang.t("已停用：", "RETIRED: "),
            meta.retired_reason.as_deref().unwrap_or("")
        )?;
    }
    Ok(())
}

/// `history`: one line per change: when, what, which device, the values written.
pub fn print_history(
    out: &mut dyn Write,
    reader: Reader,
    kind: Kind,
    entries: &[HistoryEntry],
) -> std::io::Result<()> {
    let Reader { lang, zone } = reader;
    let spec = kind.spec();
    for e in entries {
        let values: Vec<String> = e
            .values
            .iter()
            .map(|(k, v)| match spec.field(k) {
                Some(field) => format!("{}={}", field_label(lang, field), lang.text(v, &field.ty)),
                None => format!("{k}={v}"),
            })
            .collect();
        let by = if e.verified {
            e.by.clone()
        } else {
            format!("{} {}", e.by, lang.t("（未经设备证明）", "(unattested)"))
        };
        let mut line = format!(
            "{}  {}  {}  {}",
            lang.time(zone, e.time),
            lang.op(&e.op),
            by,
            values.join(lang.t("，", ", "))
        );
        if let Some(note) = &e.note {
            line.push_str(&format!("  ({note})"));
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}
