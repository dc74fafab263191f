//! Rendering a [`Response`] for a person (text) or a program (`--json`). Results go to
//! standard output, what happened to standard error, so `W=$(halfsky add woman …)`
//! captures only the new id.

use std::io::Write;

use halfsky_shared::ledger_doc::time_text;
use halfsky_shared::schema::FieldSpec;
use halfsky_shared::Kind;

use crate::command::{BundleReport, Response};
use crate::ledger::RecordView;
use crate::sync::status::NodeStatus;

/// Writes `response` as text (or JSON where `json` is set and the response has a
/// JSON form).
pub fn render(
    response: &Response,
    json: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<()> {
    match response {
        Response::Added(id) => writeln!(out, "{id}"),
        Response::Updated { id, changed } => {
            if !changed {
                writeln!(
                    err,
                    "{id}: the values given are already recorded; nothing changed"
                )?;
            }
            Ok(())
        }
        Response::Retired(id) => writeln!(err, "{id} retired"),
        Response::Records { kind, records } => {
            if json {
                let plain: Vec<_> = records.iter().map(|r| &r.record).collect();
                as_json(out, &plain)
            } else {
                print_table(out, *kind, records)
            }
        }
        Response::Record(view) => {
            if json {
                as_json(out, view.as_ref())
            } else {
                print_record(out, view)
            }
        }
        Response::History(entries) => {
            if json {
                return as_json(out, entries);
            }
            for e in entries {
                let values: Vec<_> = e.values.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let mut line = format!(
                    "{}  {:<7} {}  {}",
                    time_text(e.time),
                    e.op,
                    e.by,
                    values.join(", ")
                );
                if let Some(note) = &e.note {
                    line.push_str(&format!("  ({note})"));
                }
                writeln!(out, "{}", line.trim_end())?;
            }
            Ok(())
        }
        Response::Stats(report) => {
            if json {
                as_json(out, report.as_ref())
            } else {
                let mut text = Vec::new();
                crate::demo::print_stats(&mut text, report)?;
                out.write_all(&text)
            }
        }
        Response::Status(status) => {
            if json {
                as_json(out, status.as_ref())
            } else {
                print_status(out, status)
            }
        }
        Response::Queue(rows) => {
            if json {
                return as_json(out, rows);
            }
            for r in rows {
                let again = r
                    .earlier
                    .as_ref()
                    .map(|c| format!("  (fixed since: {})", c.note))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{}  {:<9} {}  {}{again}",
                    r.id,
                    r.kind.spec().name,
                    r.title,
                    r.updated_at
                )?;
            }
            writeln!(err, "{} records waiting for this level's check", rows.len())
        }
        Response::Marked(ids) => {
            for id in ids {
                writeln!(out, "{id}")?;
            }
            writeln!(err, "{} checks recorded", ids.len())
        }
        Response::Progress(levels) => {
            if json {
                return as_json(out, levels);
            }
            writeln!(
                out,
                "{:<9} {:>9} {:>9} {:>9} {:>9}",
                "level", "confirmed", "rejected", "needs_fix", "pending"
            )?;
            for level in crate::ledger::verification::LEVELS {
                if let Some(p) = levels.get(level.as_str()) {
                    writeln!(
                        out,
                        "{:<9} {:>9} {:>9} {:>9} {:>9}",
                        level.as_str(),
                        p.confirmed,
                        p.rejected,
                        p.needs_fix,
                        p.pending
                    )?;
                }
            }
            Ok(())
        }
        Response::Freshness(report) => {
            if json {
                as_json(out, report.as_ref())
            } else {
                crate::cli::freshness::print(out, report)
            }
        }
        Response::Imported { kind, file, report } => {
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
            )
        }
        Response::Exported {
            kind,
            out: path,
            count,
        } => writeln!(
            err,
            "wrote {count} {} to {}",
            kind.spec().plural,
            path.display()
        ),
        Response::Reindexed(n) => writeln!(err, "index rebuilt: {n} records"),
        Response::Bundle(report) => render_bundle(report, out, err),
    }
}

/// Writes `value` as pretty JSON and a newline.
fn as_json<T: serde::Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(std::io::Error::other)?;
    writeln!(out)
}

fn render_bundle(
    report: &BundleReport,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<()> {
    match report {
        BundleReport::Exported {
            out: path,
            to,
            changes,
            documents,
            bytes,
            expires_days,
        } => {
            writeln!(
                err,
                "wrote {}: {changes} changes of {documents} documents for {to} ({bytes} bytes, \
                 expires in {expires_days} days); at {to}: `halfsky bundle import {} --ack-out ACKFILE`, \
                 then bring ACKFILE back here for `halfsky bundle ack ACKFILE`",
                path.display(),
                path.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default(),
            )?;
            writeln!(out, "{}", path.display())
        }
        BundleReport::Imported {
            file,
            sender,
            sender_org,
            changes,
            documents,
            changed,
            ack_written,
        } => {
            writeln!(
                err,
                "applied {} from {sender}: {changes} changes of {documents} documents ({changed} documents changed here{})",
                file.display(),
                if *changed == 0 { "; it had been applied before" } else { "" }
            )?;
            match ack_written {
                Some(path) => writeln!(
                    err,
                    "wrote the acknowledgement {}: take it back to {sender_org} for `halfsky bundle ack`",
                    path.display()
                ),
                None => writeln!(
                    err,
                    "no acknowledgement written (--ack-out ACKFILE); {sender_org} learns it at the next sync"
                ),
            }
        }
        BundleReport::Acknowledged {
            file,
            sender,
            documents,
            received,
        } => writeln!(
            err,
            "applied the acknowledgement {} from {sender}: {documents} documents acknowledged, \
             {received} changes of the units above received",
            file.display()
        ),
    }
}

fn print_status(out: &mut dyn Write, s: &NodeStatus) -> std::io::Result<()> {
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
                "  last successful sync over the direct link: {}",
                p.last_sync.as_deref().unwrap_or("never")
            )?;
            if let Some(h) = &p.last_heard {
                writeln!(
                    out,
                    "  last heard from the parent: {} ({})",
                    crate::cli::freshness::time(h.at),
                    crate::cli::freshness::path(h.via)
                )?;
            }
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
        let link = match (&c.heard, c.connected) {
            (_, true) => "connected".to_string(),
            (Some(h), false) => format!(
                "offline, last heard {} ({})",
                crate::cli::freshness::time(h.at),
                crate::cli::freshness::path(h.via)
            ),
            (None, false) => "offline".to_string(),
        };
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
    if let Some(f) = &s.freshness {
        crate::cli::freshness::print_summary(out, f)?;
    }
    Ok(())
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
