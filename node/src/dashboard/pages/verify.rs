//! `/org/{code}/verify`: four-level verification as work. This level's queue (records
//! of the unit's subtree it has not checked, filtered by kind, or a random sample per
//! village), checked one or many at a time with a result and a note; progress at each
//! level; and the records that a level above sent back for a fix, for the village to
//! answer with an edit.

use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use halfsky_shared::local_time::Zone;
use halfsky_shared::{Kind, OrgCode, RecordId};
use maud::{html as markup, Markup};
use serde::Deserialize;

use super::{message, ok_page, read_or_answer};
use crate::dashboard::auth::Ctx;
use crate::dashboard::i18n::Lang;
use crate::dashboard::unit::Unit;
use crate::dashboard::AppState;
use crate::ledger::reader::LedgerReader;
use crate::ledger::verification::{self, Check, Outcome, QueueFilter, QueueRow, LEVELS};
use crate::ledger::LedgerError;

/// Filters of the queue, from the query string.
#[derive(Debug, Default, Deserialize)]
pub struct VerifyQuery {
    /// Only this kind (`woman`, `household`…).
    kind: Option<String>,
    /// Sample this many percent of each village's queue.
    sample: Option<u8>,
    /// Seed of the sample.
    seed: Option<u64>,
    /// Checks just recorded (after a POST).
    done: Option<usize>,
}

/// Most queue rows shown at once (a sample narrows a long queue).
const SHOWN: usize = 500;

/// A record sent back for a fix by a level above, not edited since.
struct ToFix {
    id: RecordId,
    level: halfsky_shared::org::Level,
    check: Check,
}

struct PageData {
    queue: Vec<QueueRow>,
    progress: std::collections::BTreeMap<String, halfsky_shared::rollup::LevelProgress>,
    to_fix: Vec<ToFix>,
}

fn read(
    l: &LedgerReader,
    me: OrgCode,
    org: OrgCode,
    filter: QueueFilter,
) -> Result<PageData, LedgerError> {
    let queue = verification::queue(
        l,
        me,
        &QueueFilter {
            unit: Some(org),
            ..filter
        },
    )?;
    let progress = l.stats(org)?.verification.by_level;
    let mut to_fix = Vec::new();
    for ((level, id), check) in verification::latest_checks(l, org)? {
        if check.result != Outcome::NeedsFix.as_str() || level == me.level() {
            continue;
        }
        // A record this node cannot read is not listed as waiting for a fix.
        let Ok(view) = l.show(&id) else { continue };
        let updated = view.indexed.record.meta.updated_at;
        let fixed = verification::edited_since(l, &id, &check, &updated).unwrap_or(true);
        if !fixed {
            to_fix.push(ToFix { id, level, check });
        }
    }
    Ok(PageData {
        queue,
        progress,
        to_fix,
    })
}

fn kind_of(text: Option<&str>) -> Option<Kind> {
    let t = text?.trim();
    verification::CHECKED_KINDS
        .into_iter()
        .find(|k| k.spec().name == t)
}

fn progress_table(lang: Lang, d: &PageData) -> Markup {
    markup! {
        table id="verify-progress" {
            tr {
                th { (lang.t("核查层级", "Level")) }
                th { (lang.t("确认", "Confirmed")) }
                th { (lang.t("不通过", "Rejected")) }
                th { (lang.t("需整改", "Needs fix")) }
                th { (lang.t("待核查", "Pending")) }
            }
            @for level in LEVELS {
                @let p = d.progress.get(level.as_str()).cloned().unwrap_or_default();
                tr id={ "progress-" (level.as_str()) } {
                    td { (lang.level(level)) }
                    td.n { (p.confirmed) }
                    td.n { (p.rejected) }
                    td.n { (p.needs_fix) }
                    td.n { (p.pending) }
                }
            }
        }
    }
}

/// The queue as a form; times in the deployment's `zone`.
fn queue_form(ctx: &Ctx, (org, zone): (OrgCode, Zone), d: &PageData) -> Markup {
    let lang = ctx.lang;
    markup! {
        form method="post" action={ "/org/" (org) "/verify" } id="verify-form" {
            input type="hidden" name="csrf" value=(ctx.csrf());
            table id="verify-queue" {
                tr {
                    th { (lang.t("选择", "Pick")) }
                    th { (lang.t("记录", "Record")) }
                    th { (lang.t("类别", "Kind")) }
                    th { (lang.t("名称", "Title")) }
                    th { (lang.t("单位", "Unit")) }
                    th { (lang.t("最后修改", "Last changed")) }
                    th { (lang.t("上次要求整改", "Earlier fix asked")) }
                }
                @for r in d.queue.iter().take(SHOWN) {
                    tr {
                        td { input type="checkbox" name="id" value=(r.id); }
                        td { a href={ "/record/" (r.id) } { (r.id) } }
                        td { (lang.t(r.kind.spec().zh, r.kind.spec().name)) }
                        td { (r.title) }
                        td { (r.unit) }
                        td { (lang.stamp(zone, &r.updated_at)) }
                        td { (r.earlier.as_ref().map(|c| c.note.as_str()).unwrap_or("")) }
                    }
                }
            }
            @if ctx.can_write() {
                p {
                    label { (lang.t("核查结果 ", "Result "))
                        select name="result" {
                            option value="confirmed" { (lang.t("确认", "confirmed")) }
                            option value="needs_fix" { (lang.t("需整改", "needs fix")) }
                            option value="rejected" { (lang.t("不通过", "rejected")) }
                        }
                    }
                    " "
                    label { (lang.t("备注 ", "Note ")) input type="text" name="note" size="40"; }
                    " "
                    button type="submit" id="verify-submit" { (lang.t("记录核查", "Record the check")) }
                }
            } @else {
                p { (lang.t("登录（编辑角色）后可记录核查。", "Log in as an editor to record checks.")) }
            }
        }
    }
}

/// `GET /org/{code}/verify`: the queue, progress and records sent back for a fix.
pub async fn page(
    State(state): State<AppState>,
    ctx: Ctx,
    Unit(org): Unit,
    Query(q): Query<VerifyQuery>,
) -> Response {
    let lang = ctx.lang;
    let me = state.org();
    let filter = QueueFilter {
        unit: None,
        kind: kind_of(q.kind.as_deref()),
        sample_percent: q.sample.filter(|p| (1..=100).contains(p)),
        seed: q.seed.unwrap_or(0),
    };
    let d = match read_or_answer(
        &ctx,
        &state,
        state.read(move |l| read(l, me, org, filter)).await,
    ) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let body = markup! {
        h1 { (lang.t("四级核查", "Four-level verification")) " " small { (org) } }
        @if let Some(n) = q.done {
            p.ok { (lang.t("已记录核查：", "Checks recorded: ")) b id="verify-done" { (n) } }
        }
        h2 { (lang.t("各级核查进度", "Progress by level")) }
        (progress_table(lang, &d))
        @if !d.to_fix.is_empty() {
            h2 { (lang.t("上级要求整改（请修改后保存）", "Sent back for a fix (edit and save)")) }
            table id="to-fix" {
                tr {
                    th { (lang.t("记录", "Record")) }
                    th { (lang.t("核查层级", "Level")) }
                    th { (lang.t("核查人", "Verifier")) }
                    th { (lang.t("日期", "Date")) }
                    th { (lang.t("备注", "Note")) }
                }
                @for f in &d.to_fix {
                    tr {
                        td { a href={ "/record/" (f.id) } { (f.id) } }
                        td { (lang.level(f.level)) }
                        td { (f.check.verifier) }
                        td { (f.check.date) }
                        td { (f.check.note) }
                    }
                }
            }
        }
        h2 { (lang.t("本级待核查", "Waiting for this level's check")) " (" (d.queue.len()) ")" }
        form method="get" action={ "/org/" (org) "/verify" } id="verify-filter" {
            label { (lang.t("类别 ", "Kind "))
                select name="kind" {
                    option value="" { (lang.t("全部", "all")) }
                    @for k in verification::CHECKED_KINDS {
                        option value=(k.spec().name) selected[q.kind.as_deref() == Some(k.spec().name)] { (k.spec().zh) }
                    }
                }
            }
            " "
            label { (lang.t("每村抽查 % ", "Sample % per village ")) input type="number" name="sample" min="1" max="100" value=[q.sample]; }
            " "
            label { (lang.t("随机种子 ", "Seed ")) input type="number" name="seed" min="0" value=[q.seed]; }
            " "
            button type="submit" { (lang.t("筛选", "Filter")) }
        }
        (queue_form(&ctx, (org, state.reader().index().zone()), &d))
    };
    ok_page(&ctx, &state, lang.t("四级核查", "Verification"), body)
}

/// `POST /org/{code}/verify`: records this level's check of the ticked records.
pub async fn submit(
    State(state): State<AppState>,
    ctx: Ctx,
    Unit(org): Unit,
    Form(posted): Form<Vec<(String, String)>>,
) -> Response {
    let lang = ctx.lang;
    let value = |name: &str| {
        posted
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    if !ctx.can_write() || !ctx.csrf_ok(&value("csrf")) {
        return message(
            &ctx,
            &state,
            StatusCode::FORBIDDEN,
            lang.t("无权核查", "Not allowed"),
            lang.t(
                "需要以“编辑”或“管理员”角色登录，并从本站的表单提交。",
                "Log in as an editor or admin and submit the form from this site.",
            ),
        );
    }
    let outcome: Outcome = match value("result").parse() {
        Ok(o) => o,
        Err(e) => {
            return message(
                &ctx,
                &state,
                StatusCode::BAD_REQUEST,
                lang.t("核查结果无效", "Invalid result"),
                &e,
            )
        }
    };
    let mut ids = Vec::new();
    for (_, raw) in posted.iter().filter(|(k, _)| k == "id") {
        match RecordId::parse(raw) {
            Ok(id) => ids.push(id),
            Err(e) => {
                return message(
                    &ctx,
                    &state,
                    StatusCode::BAD_REQUEST,
                    lang.t("记录编号无效", "Invalid record id"),
                    &e.to_string(),
                )
            }
        }
    }
    if ids.is_empty() {
        return message(
            &ctx,
            &state,
            StatusCode::BAD_REQUEST,
            lang.t("未选择记录", "No record picked"),
            lang.t("请勾选要核查的记录。", "Tick the records you checked."),
        );
    }
    let note = value("note");
    // A check made from a record's own page goes back to that record.
    let back = (value("back") == "record" && ids.len() == 1).then(|| ids[0].clone());
    let verifier = ctx
        .session
        .as_ref()
        .map(|s| s.name.clone())
        .unwrap_or_default();
    let res = state
        .run(move |l| verification::mark(l, &ids, outcome, &note, &verifier))
        .await;
    match res {
        Ok(Ok(written)) => {
            tracing::info!(user = ?ctx.session.as_ref().map(|s| &s.name), checks = written.len(), "checks recorded from the dashboard");
            match back {
                Some(id) => Redirect::to(&format!("/record/{id}?checked=1")).into_response(),
                None => Redirect::to(&format!("/org/{org}/verify?done={}", written.len()))
                    .into_response(),
            }
        }
        Ok(Err(e)) => message(
            &ctx,
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            lang.t("核查未记录", "Checks not recorded"),
            &e.to_string(),
        ),
        Err(r) => r,
    }
}
