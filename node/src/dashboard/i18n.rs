//! Language: Chinese (zh-CN) by default, English on request (`?lang=en`, remembered in
//! a cookie). Texts are written inline as `lang.t("中文", "English")` so each page
//! reads in both languages at once; enum labels come from the schema tables.

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use halfsky_shared::local_time::Zone;
use halfsky_shared::org::Level;
use halfsky_shared::schema::EnumSpec;

/// The page language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// 简体中文 (default).
    #[default]
    Zh,
    /// English.
    En,
}

impl Lang {
    /// From a `lang` query value or cookie (`en`, `zh`, `zh-CN`).
    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "en" | "en-us" | "en-gb" => Some(Lang::En),
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
        match halfsky_shared::schema::parse_date(text) {
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

/// A field's label in this language.
pub fn field_label(lang: Lang, field: &halfsky_shared::schema::FieldSpec) -> String {
    match lang {
        Lang::Zh => field.zh.to_string(),
        Lang::En => field.name.replace('_', " "),
    }
}

/// Turns a field error (English, from the shared parser) into a message for the
/// form's language: the field's label, then what is wrong and what to write.
pub fn field_error(lang: Lang, label: &str, reason: &str) -> String {
    if lang == Lang::En {
        return format!("{label}: {reason}");
    }
    let zh = if reason.starts_with("is required") {
        "必填，请填写。".to_string()
    } else if reason.contains("is not a whole number") {
        "请填写整数（如 1975）。".to_string()
    } else if let Some(range) = reason.split("outside the allowed range ").nth(1) {
        format!("超出允许范围 {range}，请检查。")
    } else if reason.contains("is not a date") {
        "不是有效日期，请写成 2024-03-05 或 2024年3月5日。".to_string()
    } else if reason.contains("is in the future") {
        "日期不能晚于今天。".to_string()
    } else if reason.contains("is before 1990") {
        "日期不能早于1990年。".to_string()
    } else if reason.contains("is not an amount in yuan") {
        "不是有效金额，请写成 5000 或 1500.50（单位：元）。".to_string()
    } else if reason.contains("cannot be negative") {
        "金额不能为负数。".to_string()
    } else if reason.contains("is not yes/no") {
        "请选择是或否。".to_string()
    } else if let Some(options) = reason.split("is not one of: ").nth(1) {
        format!("不是可选的值，可选：{options}。")
    } else if let Some(rest) = reason
        .split(" is kept by ")
        .nth(1)
        .filter(|_| reason.contains("belongs in that unit's ledger"))
    {
        let unit = rest.split(';').next().unwrap_or("");
        format!(
            "该档案由{unit}保管，回访、结对、施策、贷款须在该单位的台账中录入，不能记入本级台账。"
        )
    } else if reason.contains("does not exist in this ledger") {
        "所填编号在本台账中不存在，请先登记或检查编号。".to_string()
    } else if reason.contains("is retired") {
        "所填记录已停用，不能引用。".to_string()
    } else if reason.contains("already registered as") {
        let who = reason
            .split("already registered as ")
            .nth(1)
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("");
        format!("该身份证号已登记（{who}），请修改原有档案。")
    } else if reason.contains("appears twice") {
        "该身份证号重复出现。".to_string()
    } else if reason.contains(" id (they look like") {
        format!("编号格式不对（{reason}）。")
    } else if reason.contains("longer than 500") {
        "文字不能超过500字。".to_string()
    } else if reason.contains("is set but status is poor") {
        "状态为“贫困”时不能填写脱贫日期：请清空脱贫日期或把状态改为脱贫/返贫风险。".to_string()
    } else if reason.contains("is not") && reason.contains("or a unit below it") {
        "只能为本单位或下级单位设定目标。".to_string()
    } else {
        format!("输入有误：{reason}")
    };
    format!("{label}：{zh}")
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
    fn dates_as_cadres_write_them() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 5).unwrap();
        assert_eq!(Lang::Zh.date(d), "2026年3月5日");
        assert_eq!(Lang::En.date(d), "2026-03-05");
        assert_eq!(
            field_error(Lang::Zh, "出生年份", "\"x\" is not a whole number"),
            "出生年份：请填写整数（如 1975）。"
        );
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
