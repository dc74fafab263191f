//! The language a person reads: Chinese (zh-CN) by default, English on request (the
//! web's `?lang=en`, the command line's `--lang en` / `HALFSKY_LANG=en`). Texts are
//! written inline as `lang.t("中文", "English")`; field labels and value names come
//! from the schema tables ([`crate::schema`]), so the web, the command line and the
//! spreadsheets a node writes use one set of words, and import reads them all back.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

use crate::local_time::Zone;
use crate::org::Level;
use crate::schema::{EnumSpec, FieldSpec, FieldType, Value};

/// The language a person reads: of a page, a command's output, an exported file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// 简体中文 (default).
    #[default]
    Zh,
    /// English.
    En,
}

impl Lang {
    /// From a `lang` query value, cookie, `--lang` or `HALFSKY_LANG` (`en`, `zh`, `zh-CN`).
    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "en" | "en-us" | "en-gb" | "english" => Some(Lang::En),
            "zh" | "zh-cn" | "cn" => Some(Lang::Zh),
            _ => None,
        }
    }

    /// The `lang` attribute of the page.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// Picks the text of this language.
    pub fn t(self, zh: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }

    /// An enum option's label (Chinese name or English code).
    pub fn option(self, spec: &EnumSpec, code: &str) -> String {
        match self {
            Lang::Zh => spec.zh(code).to_string(),
            Lang::En => code.replace('_', " "),
        }
    }

    /// A stored value as a person reads it: options by their names (several joined
    /// with 、 or `, `), yes/no, money as `1,545,000.00 元`, dates as
    /// [`Lang::date`] writes them.
    pub fn value(self, value: &Value, ty: &FieldType) -> String {
        match (ty, value) {
            (FieldType::Money, Value::Int(fen)) => money(self, *fen as f64 / 100.0),
            (FieldType::EnumList(_), Value::List(codes)) => self.text(&codes.join(";"), ty),
            _ => self.text(&value.display(ty), ty),
        }
    }

    /// A value as [`Value::display`] writes it (`illness;disability`, `true`,
    /// `2026-03-05`, `1500.5`: what history entries hold) as [`Lang::value`] shows it.
    pub fn text(self, raw: &str, ty: &FieldType) -> String {
        match ty {
            FieldType::Enum(spec) => self.option(spec, raw),
            FieldType::EnumList(spec) => self.options(spec, raw),
            FieldType::Bool => self.yes_no(raw),
            FieldType::Date => self.date_text(raw),
            FieldType::Money => match raw.trim().parse::<f64>() {
                Ok(yuan) => money(self, yuan),
                Err(_) => raw.to_string(),
            },
            _ => raw.to_string(),
        }
    }

    /// A value as a spreadsheet cell that imports back as the same value: options and
    /// yes/no by their names, as [`Lang::value`]; numbers, money and dates as plain
    /// numbers and ISO dates, so the spreadsheet can still add and sort them.
    pub fn cell(self, value: &Value, ty: &FieldType) -> String {
        match ty {
            FieldType::Enum(_) | FieldType::EnumList(_) | FieldType::Bool => self.value(value, ty),
            _ => value.display(ty),
        }
    }

    /// `illness;disability` as `因病、因残` / `illness, disability`.
    fn options(self, spec: &EnumSpec, codes: &str) -> String {
        codes
            .split(';')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(|c| self.option(spec, c))
            .collect::<Vec<_>>()
            .join(self.t("、", ", "))
    }

    /// `true`/`false` as 是/否 or yes/no; other text unchanged.
    fn yes_no(self, raw: &str) -> String {
        match raw {
            "true" => self.t("是", "yes").to_string(),
            "false" => self.t("否", "no").to_string(),
            other => other.to_string(),
        }
    }

    /// A level's name.
    pub fn level(self, level: Level) -> &'static str {
        match self {
            Lang::Zh => level.zh(),
            Lang::En => level.as_str(),
        }
    }

    /// A date as cadres write it (2026年11月22日) or ISO in English.
    pub fn date(self, date: NaiveDate) -> String {
        match self {
            Lang::Zh => date.format("%Y年%-m月%-d日").to_string(),
            Lang::En => date.format("%Y-%m-%d").to_string(),
        }
    }

    /// A `YYYY-MM-DD` text as a date; other texts unchanged.
    pub fn date_text(self, text: &str) -> String {
        match crate::schema::parse_date(text) {
            Some(d) if text.len() == 10 => self.date(d),
            _ => text.to_string(),
        }
    }

    /// Unix seconds as date and time in the deployment's zone (China's; stored times
    /// are UTC), never the server machine's own zone.
    pub fn time(self, zone: Zone, secs: i64) -> String {
        let Some(utc) = DateTime::from_timestamp(secs, 0) else {
            return "—".into();
        };
        let local = zone.show_secs(utc.timestamp());
        match (
            self,
            NaiveDateTime::parse_from_str(&local, "%Y-%m-%d %H:%M"),
        ) {
            (Lang::Zh, Ok(t)) => t.format("%Y年%-m月%-d日 %H:%M").to_string(),
            _ => local,
        }
    }

    /// A stored RFC 3339 time (`2026-11-28T08:25:47Z`) as [`Lang::time`] shows it; other
    /// text unchanged.
    pub fn stamp(self, zone: Zone, text: &str) -> String {
        match DateTime::parse_from_rfc3339(text.trim()) {
            Ok(t) => self.time(zone, t.timestamp()),
            Err(_) => text.to_string(),
        }
    }

    /// A history entry's operation (`add`, `update`, `retire`) in words.
    pub fn op(self, op: &str) -> String {
        let (zh, en) = match op {
            "add" => ("新增", "added"),
            "update" => ("修改", "changed"),
            "retire" => ("停用", "retired"),
            "name" | "meta" => ("单位信息", "unit details"),
            other => return other.to_string(),
        };
        self.t(zh, en).to_string()
    }

    /// How long ago, roughly ("3 小时前", "2 days ago").
    pub fn ago(self, secs: i64) -> String {
        let secs = secs.max(0);
        let (n, zh, en) = if secs < 2 * 3600 {
            (secs / 60, "分钟前", "min ago")
        } else if secs < 48 * 3600 {
            (secs / 3600, "小时前", "h ago")
        } else {
            (secs / 86400, "天前", "days ago")
        };
        match self {
            Lang::Zh => format!("{n} {zh}"),
            Lang::En => format!("{n} {en}"),
        }
    }
}

/// A field's label in this language (出生年份 / `birth year`).
pub fn field_label(lang: Lang, field: &FieldSpec) -> String {
    match lang {
        Lang::Zh => field.zh.to_string(),
        Lang::En => field.name.replace('_', " "),
    }
}

/// A sum of money as cadres write it: thousands grouped, two decimals, the unit
/// (`1,545,000.00 元`, `1,545,000.00 yuan`).
pub fn money(lang: Lang, yuan: f64) -> String {
    let fen = (yuan * 100.0).round() as i64;
    let (sign, fen) = if fen < 0 { ("-", -fen) } else { ("", fen) };
    let whole = (fen / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{:02} {}", fen % 100, lang.t("元", "yuan"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_the_deployments_zone_whatever_the_server_zone() {
        let china = Zone::default();
        assert_eq!(
            Lang::Zh.stamp(china, "2026-11-28T08:25:47Z"),
            "2026年11月28日 16:25"
        );
        assert_eq!(
            Lang::En.stamp(china, "2026-11-28T15:30:00Z"),
            "2026-11-28 23:30"
        );
        let urumqi: Zone = "Asia/Urumqi".parse().unwrap();
        assert_eq!(
            Lang::En.stamp(urumqi, "2026-11-28T15:30:00Z"),
            "2026-11-28 21:30"
        );
        assert_eq!(Lang::Zh.op("update"), "修改");
    }

    #[test]
    fn values_by_their_names_in_either_language() {
        use crate::schema::enums::{CAUSE, STATUS};
        let causes = Value::List(vec!["illness".into(), "disability".into()]);
        assert_eq!(
            Lang::Zh.value(&causes, &FieldType::EnumList(&CAUSE)),
            "因病、因残"
        );
        assert_eq!(
            Lang::En.value(&causes, &FieldType::EnumList(&CAUSE)),
            "illness, disability"
        );
        let risk = Value::Text("at_risk".into());
        assert_eq!(Lang::Zh.value(&risk, &FieldType::Enum(&STATUS)), "返贫风险");
        assert_eq!(Lang::En.value(&risk, &FieldType::Enum(&STATUS)), "at risk");
        assert_eq!(STATUS.resolve("at risk"), Some("at_risk"));
        assert_eq!(
            Lang::Zh.value(&Value::Int(154_500_000), &FieldType::Money),
            "1,545,000.00 元"
        );
        assert_eq!(
            Lang::Zh.cell(&Value::Int(150_050), &FieldType::Money),
            "1500.50"
        );
        assert_eq!(Lang::En.value(&Value::Bool(true), &FieldType::Bool), "yes");
        assert_eq!(Lang::Zh.text("false", &FieldType::Bool), "否");
        assert_eq!(
            Lang::Zh.text("2026-03-05", &FieldType::Date),
            "2026年3月5日"
        );
    }
}

#[cfg(test)]
mod money_tests {
    use super::*;

    #[test]
    fn money_is_grouped_with_two_decimals() {
        assert_eq!(money(Lang::Zh, 1_545_000.0), "1,545,000.00 元");
        assert_eq!(money(Lang::En, 999.5), "999.50 yuan");
        assert_eq!(money(Lang::Zh, 0.0), "0.00 元");
        assert_eq!(money(Lang::Zh, -1234.567), "-1,234.57 元");
    }
}
