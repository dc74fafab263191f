//! Closed sets of values (status, labour capacity, poverty causes, …), each with a
//! stable English code (stored, scripted against) and the Chinese name cadres use.
//! Input accepts the code, the Chinese name, or any listed alias.

/// One enumeration: its options as `(code, Chinese name, extra aliases)`.
#[derive(Debug)]
pub struct EnumSpec {
    /// Name of the enumeration, for messages.
    pub name: &'static str,
    /// `(code, zh, aliases)` for each option, in display order.
    pub options: &'static [(&'static str, &'static str, &'static [&'static str])],
}

impl EnumSpec {
    /// The stored code for an input, matching code, Chinese name or alias (case-insensitive;
    /// `at risk` and `at-risk` are `at_risk`, as English pages and exports write it).
    pub fn resolve(&self, input: &str) -> Option<&'static str> {
        let needle = input.trim().to_lowercase().replace(['-', ' '], "_");
        self.options.iter().find_map(|(code, zh, aliases)| {
            let hit = *code == needle
                || *zh == input.trim()
                || aliases
                    .iter()
                    .any(|a| a.to_lowercase() == needle || *a == input.trim());
            hit.then_some(*code)
        })
    }

    /// The Chinese name of a stored code (the code itself if unknown).
    pub fn zh<'a>(&self, code: &'a str) -> &'a str {
        self.options
            .iter()
            .find(|(c, _, _)| *c == code)
            .map(|(_, zh, _)| *zh)
            .unwrap_or(code)
    }

    /// The codes in display order.
    pub fn codes(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.options.iter().map(|(code, _, _)| *code)
    }

    /// `poor (贫困), exited (脱贫), …` for error messages and help.
    pub fn describe_options(&self) -> String {
        self.options
            .iter()
            .map(|(code, zh, _)| format!("{code} ({zh})"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A woman's poverty status on her card.
pub static STATUS: EnumSpec = EnumSpec {
    name: "status",
    options: &[
        ("poor", "贫困", &["未脱贫", "在册"]),
        ("exited", "脱贫", &["已脱贫"]),
        ("at_risk", "返贫风险", &["risk", "返贫"]),
    ],
};

/// 有无劳动能力.
pub static LABOR: EnumSpec = EnumSpec {
    name: "labor_capacity",
    options: &[
        ("full", "有劳动能力", &["有", "全劳力"]),
        ("partial", "部分劳动能力", &["弱劳力", "半劳力"]),
        ("none", "无劳动能力", &["无", "丧失劳动能力"]),
    ],
};

/// 致贫原因.
pub static CAUSE: EnumSpec = EnumSpec {
    name: "poverty_cause",
    options: &[
        ("illness", "因病", &["病", "疾病"]),
        ("disability", "因残", &["残", "残疾"]),
        ("lack_of_skills", "缺技术", &["skills"]),
        ("lack_of_labor", "缺劳力", &["labor"]),
        ("lack_of_funds", "缺资金", &["funds"]),
        ("education_costs", "因学", &["education"]),
        ("disaster", "因灾", &["灾"]),
        ("other", "其他", &[]),
    ],
};

/// Schooling completed.
pub static EDUCATION: EnumSpec = EnumSpec {
    name: "education",
    options: &[
        ("none", "文盲", &["未上学", "illiterate"]),
        ("primary", "小学", &[]),
        ("junior", "初中", &["middle"]),
        ("senior", "高中", &["high", "中专"]),
        ("college", "大专及以上", &["大专", "本科", "university"]),
    ],
};

/// Who the helper in a pairing (结对) is.
pub static HELPER_KIND: EnumSpec = EnumSpec {
    name: "helper_kind",
    options: &[
        ("entrepreneur", "爱心企业家", &["企业家"]),
        ("coop_leader", "合作社带头人", &["合作社"]),
        ("capable_woman", "能人", &["女能人"]),
        ("craftswoman", "巧女", &["巧手"]),
        ("cadre", "干部", &["妇联干部"]),
    ],
};

/// 六大路径 of a measure (施策).
pub static PATH: EnumSpec = EnumSpec {
    name: "path",
    options: &[
        ("skills", "技能", &["技能培训"]),
        ("industry", "产业", &["产业扶贫"]),
        ("base", "基地", &["基地带动"]),
        ("funding", "资金", &["资金扶持"]),
        ("demonstration", "示范", &["示范引领"]),
        ("health", "健康", &["健康扶贫"]),
    ],
};

/// How a follow-up visit (回访) was made.
pub static VISIT_MODE: EnumSpec = EnumSpec {
    name: "mode",
    options: &[
        ("home", "入户", &["走访", "visit"]),
        ("phone", "电话", &[]),
        ("online", "网络", &["微信", "wechat"]),
    ],
};

/// Training topics (培训内容).
pub static TOPIC: EnumSpec = EnumSpec {
    name: "topic",
    options: &[
        ("planting_breeding", "种养殖", &["种植", "养殖"]),
        ("rural_tourism", "乡村旅游", &["旅游"]),
        ("domestic_service", "家政", &["家政服务"]),
        ("handicraft", "手工编织", &["手工"]),
        ("ecommerce", "电商", &["电子商务"]),
        ("other", "其他", &[]),
    ],
};

/// Kind of base (基地).
pub static BASE_KIND: EnumSpec = EnumSpec {
    name: "base_kind",
    options: &[
        ("entrepreneurship", "创业基地", &["创业"]),
        ("handicraft", "手工编织示范基地", &["手工"]),
        ("planting_breeding", "种养殖基地", &["种养殖"]),
        ("other", "其他", &[]),
    ],
};

/// Level at which a base is recognised.
pub static BASE_LEVEL: EnumSpec = EnumSpec {
    name: "base_level",
    options: &[
        ("county", "县级", &[]),
        ("city", "市级", &[]),
        ("provincial", "省级", &[]),
    ],
};

/// State of a small guaranteed loan (小额担保贷款).
pub static LOAN_STATUS: EnumSpec = EnumSpec {
    name: "loan_status",
    options: &[
        ("applied", "申请中", &[]),
        ("granted", "已发放", &["发放"]),
        ("repaid", "已还清", &["还清"]),
        ("overdue", "逾期", &[]),
    ],
};

/// Outcome of a verification (核查).
pub static VERIFICATION_RESULT: EnumSpec = EnumSpec {
    name: "result",
    options: &[
        ("confirmed", "属实", &["通过", "ok"]),
        ("rejected", "不属实", &["不通过"]),
        ("needs_fix", "需整改", &["整改", "fix"]),
    ],
};

/// Metrics a target (目标任务) can set.
pub static METRIC: EnumSpec = EnumSpec {
    name: "metric",
    options: &[
        ("training_person_times", "培训人次", &[]),
        ("poor_share_percent", "贫困妇女参训比例", &[]),
        ("exits", "脱贫人数", &[]),
        ("insured", "两癌保险人数", &[]),
        ("city_bases", "市级创业基地", &[]),
        ("handicraft_bases", "手工编织示范基地", &[]),
        ("model_women", "示范女性", &[]),
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_codes_chinese_and_aliases() {
        assert_eq!(STATUS.resolve("exited"), Some("exited"));
        assert_eq!(STATUS.resolve("脱贫"), Some("exited"));
        assert_eq!(STATUS.resolve("AT-RISK"), Some("at_risk"));
        assert_eq!(CAUSE.resolve("因病"), Some("illness"));
        assert_eq!(CAUSE.resolve("illness"), Some("illness"));
        assert_eq!(CAUSE.resolve("bad luck"), None);
        assert_eq!(STATUS.zh("at_risk"), "返贫风险");
    }
}
