//! Language: Chinese (zh-CN) by default, English on request (`?lang=en`, remembered in
//! a cookie). Texts are written inline as `lang.t("中文", "English")` so each page
//! reads in both languages at once; enum labels come from the schema tables.
//! [`Lang`] itself lives in `halfsky_shared::lang`, shared with the command line and
//! the spreadsheets a node writes; here are the page-only helpers.

pub use halfsky_shared::lang::{field_label, money, Lang};

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
    use chrono::NaiveDate;

    use super::*;

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
