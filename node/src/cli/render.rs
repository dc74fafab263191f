//! Rendering a [`Response`] for a person (text) or a program (`--json`). Results go to
//! standard output, what happened to standard error, so `W=$(halfsky add woman …)`
//! captures only the new id. Text is in the reader's language (`--lang`, Chinese by
//! default; records through [`super::records`]) and times in the deployment's zone
//! (stored in UTC; `--json` keeps everything as stored, codes included).

use std::io::Write;

use halfsky_shared::lang::Lang;
use halfsky_shared::local_time::Zone;
use halfsky_shared::Kind;

use super::records::{print_history, print_record, print_table, Reader};
use crate::command::{BundleReport, Response, RevocationReport};
use crate::sync::status::NodeStatus;

/// Writes `response` as text for `reader` (or JSON where `json` is set and the
/// response has a JSON form).
pub fn render(
    response: &Response,
    json: bool,
    reader: Reader,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<()> {
    let lang = reader.lang;
    match response {
        Response::Added(id) => writeln!(out, "{id}"),
        Response::Updated { id, changed } => {
            if !changed {
                writeln!(
                    err,
                    "{id}{}",
                    lang.t(
                        "：所填的值已经记录在案，没有改动",
                        ": the values given are already recorded; nothing changed"
                    )
                )?;
            }
            Ok(())
        }
        Response::Retired(id) => writeln!(err, "{id} {}", lang.t("已停用", "retired")),
        Response::Records { kind, records } => {
            if json {
                // Never the sealed number or its matching key, even to the operator.
                let plain: Vec<_> = records
                    .iter()
                    .map(|r| {
                        let mut record = r.record.clone();
                        record.meta = record.meta.for_readers();
                        record
                    })
                    .collect();
                as_json(out, &plain)
            } else {
                print_table(out, lang, *kind, records)
            }
        }
        Response::Record(view) => {
            if json {
                let mut view = view.as_ref().clone();
                view.indexed.record.meta = view.indexed.record.meta.for_readers();
                as_json(out, &view)
            } else {
                print_record(out, reader, view)
            }
        }
        Response::History { kind, entries } => {
            if json {
                as_json(out, entries)
            } else {
                print_history(out, reader, *kind, entries)
            }
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
                print_status(out, reader.zone, status)
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
                    Lang::En.stamp(reader.zone, &r.updated_at)
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
                print_duplicates(out, reader.zone, groups)
            }
        }
        Response::Imported { kind, file, report } => {
            render_import(lang, *kind, file, report, err)
        }
        Response::Exported {
            kind,
            out: path,
            count,
        } => match lang {
            Lang::Zh => writeln!(
                err,
                "已导出 {count} 条{}记录到 {}",
                kind.spec().zh,
                path.display()
            ),
            Lang::En => writeln!(
                err,
                "wrote {count} {} to {}",
                kind.spec().plural,
                path.display()
            ),
        },
        Response::Reindexed(report) => {
            for skipped in &report.skipped {
                writeln!(err, "skipped {skipped}")?;
            }
            writeln!(err, "index rebuilt: {} records", report.records)
        }
        Response::IdKeyRotated(report) => {
            for skipped in &report.skipped {
                writeln!(err, "skipped {skipped}")?;
            }
            writeln!(
                err,
                "{} {}",
                lang.t(
                    "ID 号码散列密钥已更换，号码已全部重新散列；索引记录数：",
                    "ID hash key replaced; every number hashed anew; records indexed:"
                ),
                report.records
            )
        }
        Response::IdKeys(report) if json => as_json(out, report),
        Response::IdKeys(report) => render_id_keys(lang, report, out, err),
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
                    q.org,
                    Lang::En.stamp(reader.zone, &q.since),
                    q.held,
                    q.change,
                    q.sender,
                    q.rule,
                    q.reason
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

fn render_id_keys(
    lang: Lang,
    report: &crate::command::IdKeyReport,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> std::io::Result<()> {
    if report.added > 0 {
        writeln!(
            err,
            "{} {}; {} {}",
            lang.t(
                "已加入部署 ID 密钥的私钥份数：",
                "private halves of the deployment's ID key added:"
            ),
            report.added,
            lang.t("索引已重建，记录数：", "index rebuilt, records:"),
            report.reindexed.unwrap_or_default()
        )?;
    } else if report.holds.is_some() && !report.published {
        writeln!(
            err,
            "{}",
            lang.t("没有新的私钥", "no private half was new here")
        )?;
    }
    if report.published {
        writeln!(
            err,
            "{} {}{}",
            lang.t("新的 ID 密钥", "the new ID key"),
            report.sealing_to,
            lang.t(
                " 已记入本节点的文档：下级各节点在下次同步（或回执）后用它加密号码",
                " is recorded in this node's document: every node below seals numbers to it \
                 after its next sync (or bundle acknowledgement)"
            )
        )?;
    }
    writeln!(
        out,
        "{} {}",
        lang.t("号码加密所用密钥：", "seals ID numbers to:"),
        report.sealing_to
    )?;
    if let Some(holds) = &report.holds {
        writeln!(
            out,
            "{} {}",
            lang.t("持有的私钥：", "holds private halves:"),
            holds.join(", ")
        )?;
    }
    let opens = match report.opens_current {
        Some(true) => lang.t("能打开用它加密的号码：是", "opens the numbers sealed to it: yes"),
        Some(false) => lang.t(
            "能打开用它加密的号码：否。新登记的重复身份证号在本单位查不出，直到加入密钥：用市里给的文件运行 `halfsky id-key add 文件`",
            "opens the numbers sealed to it: NO. Duplicates among new cards are not found \
             here until you add the key: `halfsky id-key add FILE` with the file from the CA holder",
        ),
        None => lang.t(
            "不能打开号码（村级节点从不持有私钥）",
            "opens numbers: no (a village never holds a private half)",
        ),
    };
    writeln!(out, "{opens}")
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
    lang: Lang,
    kind: Kind,
    file: &std::path::Path,
    report: &crate::exchange::import::ImportReport,
    err: &mut dyn Write,
) -> std::io::Result<()> {
    let dry = report.dry_run;
    let spec = kind.spec();
    for bad in &report.bad {
        let why = crate::dashboard::i18n::field_error(lang, &bad.column, &bad.reason);
        match (lang, dry) {
            (Lang::Zh, true) => writeln!(err, "将拒绝第 {} 行（{}列）：{why}", bad.row, bad.column),
            (Lang::Zh, false) => {
                writeln!(err, "已跳过第 {} 行（{}列）：{why}", bad.row, bad.column)
            }
            (Lang::En, _) => writeln!(
                err,
                "{} row {}, column {}: {}",
                if dry { "would refuse" } else { "skipped" },
                bad.row,
                bad.column,
                bad.reason
            ),
        }?;
    }
    if dry {
        for row in &report.added_rows {
            match lang {
                Lang::Zh => writeln!(err, "将新增第 {row} 行"),
                Lang::En => writeln!(err, "would add row {row}"),
            }?;
        }
    }
    for change in &report.changed {
        let fields: Vec<String> = change
            .fields
            .iter()
            .map(|f| match spec.field(f) {
                Some(field) => halfsky_shared::lang::field_label(lang, field),
                None => f.clone(),
            })
            .collect();
        let (id, row) = (&change.id, change.row);
        match (lang, dry) {
            (Lang::Zh, _) => writeln!(
                err,
                "{}修改 {id}（第 {row} 行）：{}",
                if dry { "将" } else { "已" },
                fields.join("、")
            ),
            (Lang::En, _) => writeln!(
                err,
                "{}change {id} (row {row}): {}",
                if dry { "would " } else { "" },
                fields.join(", ")
            ),
        }?;
    }
    let plural = spec.plural;
    let added = report.added_rows.len();
    let changed = report.changed.len();
    let unchanged = report.unchanged;
    let rows = report
        .bad
        .iter()
        .map(|b| b.row)
        .collect::<std::collections::BTreeSet<_>>();
    let refused_rows = rows.len();
    let file = file.display();
    match (lang, dry) {
        (Lang::Zh, true) => writeln!(
            err,
            "试导入 {file}：将新增 {added} 条{}记录，修改 {changed} 条，{unchanged} 条不变，拒绝 {refused_rows} 行；未写入任何内容",
            spec.zh
        ),
        (Lang::Zh, false) => writeln!(
            err,
            "已从 {file} 导入 {} 条{}记录：新增 {added} 条，修改 {changed} 条，{unchanged} 条不变，跳过 {refused_rows} 行",
            added + changed,
            spec.zh
        ),
        (Lang::En, true) => writeln!(
            err,
            "dry run of {file}: would add {added} {plural}, change {changed}, leave {unchanged} unchanged, refuse {refused_rows} rows; nothing was written"
        ),
        (Lang::En, false) => writeln!(
            err,
            "imported {} {plural} from {file}: {added} added, {changed} changed, {unchanged} unchanged, {refused_rows} rows skipped",
            added + changed
        ),
    }?;
    if report.masked_ids_dropped > 0 {
        let n = report.masked_ids_dropped;
        match lang {
            Lang::Zh => writeln!(
                err,
                "{n} 条新记录的身份证号是遮蔽的（****），未导入：请用 `halfsky update` 补上完整号码"
            ),
            Lang::En => writeln!(
                err,
                "{n} new records had a masked ID number (****), left out: add the full numbers with `halfsky update`"
            ),
        }?;
    }
    if report.retired_skipped > 0 {
        let n = report.retired_skipped;
        match lang {
            Lang::Zh => writeln!(err, "{n} 行标为已停用，未导入"),
            Lang::En => writeln!(err, "{n} rows marked retired were not imported"),
        }?;
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

/// `status`, its stored times shown in the deployment's `zone`.
fn print_status(out: &mut dyn Write, zone: Zone, s: &NodeStatus) -> std::io::Result<()> {
    let when = |t: Option<&String>| {
        t.map(|t| Lang::En.stamp(zone, t))
            .unwrap_or_else(|| "never".into())
    };
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
                when(p.last_sync.as_ref())
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
                    .map(|t| format!(", oldest from {}", Lang::En.stamp(zone, t)))
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
            when(r.last_visit.as_ref()),
            when(r.last_deposit.as_ref()),
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
            when(c.last_seen.as_ref()),
            when(c.last_sync.as_ref()),
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
    print_trust(out, zone, s)
}

/// Quarantined documents and the latest refusals, both ways.
fn print_trust(out: &mut dyn Write, zone: Zone, s: &NodeStatus) -> std::io::Result<()> {
    for q in &s.quarantined {
        writeln!(
            out,
            "QUARANTINED document {} since {} ({}, from {}): {}; {} changes held — `halfsky quarantine release|drop {}`",
            q.org,
            Lang::En.stamp(zone, &q.since),
            q.rule,
            q.sender,
            q.reason,
            q.held,
            q.org
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
            Lang::En.stamp(zone, &r.at),
            r.org,
            r.change.as_deref().unwrap_or("-"),
            r.rule,
            r.door,
            r.reason
        )?;
    }
    Ok(())
}

/// Women registered twice, one block per ID number.
fn print_duplicates(
    out: &mut dyn Write,
    zone: Zone,
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
                Lang::En.stamp(zone, &c.created_at),
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
