//! Rendering a [`Response`] for a person (text) or a program (`--json`). Results go to
//! standard output, what happened to standard error, so `W=$(halfsky add woman …)`
//! captures only the new id. Times are shown in China's local time (stored in UTC;
//! `--json` keeps them as stored).

use std::io::Write;

use halfsky_shared::local_time::Zone;
use halfsky_shared::schema::FieldSpec;
use halfsky_shared::Kind;

use crate::command::{BundleReport, Response, RevocationReport};
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
                let by = if e.verified {
                    e.by.clone()
                } else {
                    format!("{} (unattested)", e.by)
                };
                let mut line = format!(
                    "{}  {:<7} {}  {}",
                    Zone::default().show_secs(e.time),
                    e.op,
                    by,
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
        Response::ReportWritten { out: path, org, month } => writeln!(
            err,
            "wrote the report of {org} for {} to {}",
            month.format("%Y-%m"),
            path.display()
        ),
        Response::Rhythm(report) => {
            if json {
                as_json(out, report.as_ref())
            } else {
                print_rhythm(out, report)
            }
        }
        Response::Duplicates(groups) => {
            if json {
                as_json(out, groups)
            } else {
                print_duplicates(out, groups)
            }
        }
        Response::Imported { kind, file, report } => render_import(*kind, file, report, err),
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
        Response::Reindexed(report) => {
            for skipped in &report.skipped {
                writeln!(err, "skipped {skipped}")?;
            }
            writeln!(err, "index rebuilt: {} records", report.records)
        }
        Response::Bundle(report) => render_bundle(report, out, err),
        Response::Quarantined(list) if json => as_json(out, list),
        Response::Quarantined(list) => {
            if list.is_empty() {
                writeln!(out, "no document is quarantined")?;
            }
            for q in list {
                writeln!(
                    out,
                    "{} since {}: {} change(s) held; refused change {} from {} ({}): {}",
                    q.org, q.since, q.held, q.change, q.sender, q.rule, q.reason
                )?;
            }
            Ok(())
        }
        Response::QuarantineLifted {
            org,
            released,
            changes,
        } => {
            let what = if *released { "applied" } else { "forgot" };
            writeln!(
                err,
                "document {org} is out of quarantine: {what} {changes} held change(s)"
            )
        }
        Response::BackedUp(r) => writeln!(
            err,
            "backup written: {} ({} documents, {} bytes); it holds this node's key and ID key: keep it as safe as the node itself",
            r.file.display(),
            r.documents,
            r.bytes
        ),
        Response::Revocations(RevocationReport::Held(list)) if json => as_json(out, list),
        Response::Revocations(report) => render_revocations(report, out, err),
    }
}

fn render_revocations(
    report: &RevocationReport,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<()> {
    match report {
        RevocationReport::Recorded(r) => writeln!(
            err,
            "revoked {}/{} ({}); recorded in this node's document: every node below has it after its next sync (or bundle acknowledgement), and the relay after a node's next visit",
            r.org, r.device, r.reason
        ),
        RevocationReport::Held(list) if list.is_empty() => {
            writeln!(err, "no device is revoked (as far as this node knows)")
        }
        RevocationReport::Held(list) => {
            for r in list {
                writeln!(out, "{}/{}\t{}\t{}", r.org, r.device, r.revoked_at, r.reason)?;
            }
            Ok(())
        }
    }
}

/// An import's outcome: every refused row, every changed record, then the counts.
fn render_import(
    kind: Kind,
    file: &std::path::Path,
    report: &crate::exchange::import::ImportReport,
    err: &mut dyn Write,
) -> std::io::Result<()> {
    let (verb, refused) = if report.dry_run {
        ("would ", "would refuse")
    } else {
        ("", "skipped")
    };
    for bad in &report.bad {
        writeln!(
            err,
            "{refused} row {}, column {}: {}",
            bad.row, bad.column, bad.reason
        )?;
    }
    if report.dry_run {
        for row in &report.added_rows {
            writeln!(err, "would add row {row}")?;
        }
    }
    for change in &report.changed {
        writeln!(
            err,
            "{verb}change {} (row {}): {}",
            change.id,
            change.row,
            change.fields.join(", ")
        )?;
    }
    let plural = kind.spec().plural;
    let added = report.added_rows.len();
    let changed = report.changed.len();
    let unchanged = report.unchanged;
    let rows = report
        .bad
        .iter()
        .map(|b| b.row)
        .collect::<std::collections::BTreeSet<_>>();
    let refused_rows = rows.len();
    if report.dry_run {
        writeln!(
            err,
            "dry run of {}: would add {added} {plural}, change {changed}, leave {unchanged} unchanged, refuse {refused_rows} rows; nothing was written",
            file.display()
        )?;
    } else {
        writeln!(
            err,
            "imported {} {plural} from {}: {added} added, {changed} changed, {unchanged} unchanged, {refused_rows} rows skipped",
            added + changed,
            file.display()
        )?;
    }
    if report.masked_ids_dropped > 0 {
        writeln!(
            err,
            "{} new records had a masked ID number (****), left out: add the full numbers with `halfsky update`",
            report.masked_ids_dropped
        )?;
    }
    if report.retired_skipped > 0 {
        writeln!(
            err,
            "{} rows marked retired were not imported",
            report.retired_skipped
        )?;
    }
    Ok(())
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
            refused_by_peer,
        } => {
            writeln!(
                err,
                "applied the acknowledgement {} from {sender}: {documents} documents acknowledged, \
                 {received} changes of the units above received",
                file.display()
            )?;
            if *refused_by_peer > 0 {
                writeln!(
                    err,
                    "{sender} refused {refused_by_peer} deliveries of this node's changes: \
                     `halfsky status` lists them with their rules"
                )?;
            }
            Ok(())
        }
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
            if let Some(skew) = p.clock_skew_ms {
                let parent = format!("the parent {}", p.addr);
                writeln!(
                    out,
                    "  clock: {}",
                    crate::sync::clock::describe(skew, &parent)
                )?;
            }
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
        if let Some(skew) = c.clock_skew_ms {
            if crate::sync::clock::level(-skew) != crate::sync::clock::SkewLevel::Fine {
                writeln!(
                    out,
                    "  clock: the child's clock is {} this node's: set the right date and time on whichever is wrong",
                    crate::sync::clock::apart(-skew)
                )?;
            }
        }
    }
    if let Some(f) = &s.freshness {
        crate::cli::freshness::print_summary(out, f)?;
    }
    print_trust(out, s)
}

/// Quarantined documents and the latest refusals, both ways.
fn print_trust(out: &mut dyn Write, s: &NodeStatus) -> std::io::Result<()> {
    for q in &s.quarantined {
        writeln!(
            out,
            "QUARANTINED document {} since {} ({}, from {}): {}; {} changes held — `halfsky quarantine release|drop {}`",
            q.org, q.since, q.rule, q.sender, q.reason, q.held, q.org
        )?;
    }
    if !s.refusals.is_empty() {
        writeln!(out, "latest refusals:")?;
    }
    for r in &s.refusals {
        let who = if r.by_peer {
            format!("refused by {}", r.sender)
        } else {
            format!("from {}", r.sender)
        };
        writeln!(
            out,
            "  {} document {} change {} ({}, {who}, {}): {}",
            r.at,
            r.org,
            r.change.as_deref().unwrap_or("-"),
            r.rule,
            r.door,
            r.reason
        )?;
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
    // Stored in UTC; shown in the deployment's local time (China's).
    let zone = Zone::default();
    writeln!(
        out,
        "  created {} by {}",
        zone.show_stamp(&meta.created_at),
        meta.created_by
    )?;
    writeln!(
        out,
        "  updated {} by {}",
        zone.show_stamp(&meta.updated_at),
        meta.updated_by
    )?;
    if meta.retired {
        writeln!(
            out,
            "  RETIRED: {}",
            meta.retired_reason.as_deref().unwrap_or("")
        )?;
    }
    Ok(())
}

/// Women registered twice, one block per ID number.
fn print_duplicates(
    out: &mut dyn Write,
    groups: &[crate::ledger::duplicates::Duplicate],
) -> std::io::Result<()> {
    if groups.is_empty() {
        return writeln!(out, "no woman is registered twice");
    }
    writeln!(
        out,
        "{} ID numbers are registered more than once:",
        groups.len()
    )?;
    for g in groups {
        writeln!(out, "\nseen together at {}:", g.lowest_common_unit)?;
        for c in &g.cards {
            writeln!(
                out,
                "  {}  {}  {}  {} {}  written {} by {}",
                c.id,
                c.name,
                c.id_number_masked,
                c.unit,
                c.unit_name.as_deref().unwrap_or(""),
                c.created_at,
                c.created_by
            )?;
        }
    }
    Ok(())
}

/// The pairing rhythm: totals, per unit and helper, then the overdue pairings.
fn print_rhythm(
    out: &mut dyn Write,
    r: &crate::ledger::rhythm::RhythmReport,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{} as of {}: {} active pairings; {} overdue for a contact (every {} days), {} for a visit in person (every {} days)",
        r.org,
        r.as_of,
        r.total.pairings,
        r.total.contact_overdue,
        r.rhythm.phone_every_days,
        r.total.visit_overdue,
        r.rhythm.visit_every_days
    )?;
    for (unit, c) in &r.by_unit {
        writeln!(
            out,
            "  unit {unit}: {} pairings, {} contact overdue, {} visit overdue",
            c.pairings, c.contact_overdue, c.visit_overdue
        )?;
    }
    for (helper, c) in &r.by_helper {
        writeln!(
            out,
            "  helper {helper}: {} pairings, {} contact overdue, {} visit overdue",
            c.pairings, c.contact_overdue, c.visit_overdue
        )?;
    }
    let modes: Vec<String> = r
        .visits_by_mode
        .iter()
        .map(|(mode, n)| format!("{} {n}", halfsky_shared::schema::enums::VISIT_MODE.zh(mode)))
        .collect();
    writeln!(out, "  visits by mode: {}", modes.join(", "))?;
    for p in r
        .pairings
        .iter()
        .filter(|p| p.contact_overdue_days > 0 || p.visit_overdue_days > 0)
    {
        writeln!(
            out,
            "{}  {} ({})  helper {}  contact {} days overdue, visit {} days overdue",
            p.pairing,
            p.woman_name,
            p.woman,
            p.helper_name,
            p.contact_overdue_days,
            p.visit_overdue_days
        )?;
    }
    Ok(())
}
