//! The page frame (header, language switch, who is logged in, inline CSS). Pages are
//! small: one inline stylesheet, no scripts, no web fonts. All HTML is written with
//! maud, which escapes every interpolated value unless it is explicitly
//! `PreEscaped`: a record field can never inject markup.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::i18n::Lang;

const CSS: &str = "body{font-family:sans-serif;margin:0;color:#222;background:#fafafa}\
header{background:#b03a2e;color:#fff;padding:6px 12px;display:flex;flex-wrap:wrap;align-items:center;gap:4px 12px}\
header a{color:#fff}main{padding:8px 14px;max-width:1100px;box-sizing:border-box}\
table{border-collapse:collapse;margin:4px 0 12px}.tbl{max-width:100%;overflow-x:auto}\
td:first-child{min-width:5em}h1{font-size:1.4em;overflow-wrap:anywhere}svg{max-width:100%;height:auto}\
th,td{border:1px solid #ccc;padding:3px 7px;font-size:14px}th{background:#f0e6e4}\
td.n{text-align:right}tr.stale td{background:#fde2c8}.stale-note{color:#a04000;font-weight:bold}\
.fresh{background:#eef6ee;border:1px solid #9c9;padding:6px;margin:6px 0}\
.warn{background:#fff3cd;border:1px solid #e0c060;padding:6px;margin:6px 0}\
.err{color:#a00;font-weight:bold}.ok{color:#060}.exp{margin:2px 0;font-size:13px}\
.grid{display:flex;flex-wrap:wrap;gap:14px}.box{background:#fff;border:1px solid #ddd;padding:6px 10px}\
form.rec label{display:block;margin:6px 0 2px}\
form.rec input[type=text],form.rec select,form.rec textarea{width:100%;max-width:320px;box-sizing:border-box;font-size:16px}\
form.rec .opts label{display:inline-block;margin:2px 10px 2px 0}.field-err{margin:2px 0;font-weight:normal}\
button{font-size:16px;padding:4px 14px}\
.crumbs{margin:6px 0}small{color:#555}";

/// Who is looking at the page, as the frame shows it.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// Login name, or `None` for anonymous read on loopback.
    pub name: Option<String>,
    /// The user may enter records.
    pub can_write: bool,
    /// CSRF token for forms on this page.
    pub csrf: String,
}

/// A whole page: frame around `body`.
pub fn page(
    lang: Lang,
    title: &str,
    node: &str,
    viewer: &Viewer,
    path: &str,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    a href="/" { b { (lang.t("妇联精准扶贫台账", "Women's federation poverty ledger")) } }
                    " " (node) " · "
                    a href="/new" { (lang.t("录入", "Data entry")) }
                    @match lang {
                        Lang::Zh => a href=(with_lang(path, "en")) { "English" },
                        Lang::En => a href=(with_lang(path, "zh")) { "中文" },
                    }
                    " "
                    @match &viewer.name {
                        Some(name) => {
                            (lang.t("用户", "user")) " " (name) " "
                            form method="post" action="/logout" style="display:inline" {
                                input type="hidden" name="csrf" value=(viewer.csrf);
                                button type="submit" { (lang.t("退出", "log out")) }
                            }
                        }
                        None => span {
                            (lang.t(
                                "匿名只读（本机访问，未设置用户）",
                                "anonymous, read only (local access, no users configured)"
                            ))
                        },
                    }
                }
                main { (body) }
            }
        }
    }
}

/// `path` (with query) with `lang=` set.
fn with_lang(path: &str, lang: &str) -> String {
    let (base, query) = path.split_once('?').unwrap_or((path, ""));
    let mut parts: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("lang="))
        .collect();
    let l = format!("lang={lang}");
    parts.push(&l);
    format!("{base}?{}", parts.join("&"))
}
