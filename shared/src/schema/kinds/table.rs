//! The ledger's record kinds as data: each kind's names and fields, in DOMAIN.md's
//! order, with Chinese labels, aliases and help. The types are in the parent module.

use super::{FieldSpec, FieldType, Kind, KindSpec};
use crate::schema::enums;

macro_rules! field {
    ($name:literal, $zh:literal, $ty:expr, req, $help:literal) => {
        field!($name, $zh, [], $ty, true, None, $help)
    };
    ($name:literal, $zh:literal, $ty:expr, opt, $help:literal) => {
        field!($name, $zh, [], $ty, false, None, $help)
    };
    ($name:literal, $zh:literal, [$($alias:literal),*], $ty:expr, $req:expr, $default:expr, $help:literal) => {
        FieldSpec {
            name: $name,
            zh: $zh,
            aliases: &[$($alias),*],
            ty: $ty,
            required: $req,
            default: $default,
            help: $help,
        }
    };
}

use FieldType::*;

pub(super) static HOUSEHOLD: KindSpec = KindSpec {
    kind: Kind::Household,
    name: "household",
    plural: "households",
    zh: "户",
    id_letter: 'H',
    title_field: "head_name",
    fields: &[
        field!(
            "head_name",
            "户主姓名",
            ["head", "户主"],
            Text,
            true,
            None,
            "name of the head of household"
        ),
        field!(
            "members",
            "家庭人口",
            ["人口"],
            Int { min: 1, max: 30 },
            true,
            None,
            "number of people in the household"
        ),
        field!(
            "registered_poor",
            "建档立卡",
            ["poor"],
            Bool,
            false,
            Some("false"),
            "registered poor household (建档立卡贫困户)"
        ),
        field!(
            "income_per_capita",
            "人均纯收入",
            ["income", "人均收入"],
            Money,
            false,
            None,
            "income per person per year, yuan"
        ),
        field!(
            "address",
            "住址",
            [],
            Text,
            false,
            None,
            "address or group (组) in the village"
        ),
    ],
};

pub(super) static WOMAN: KindSpec = KindSpec {
    kind: Kind::Woman,
    name: "woman",
    plural: "women",
    zh: "妇女",
    id_letter: 'W',
    title_field: "name",
    fields: &[
        field!("name", "姓名", [], Text, true, None, "her name"),
        field!(
            "household_id",
            "户编号",
            ["household"],
            Ref(Kind::Household),
            false,
            None,
            "id of her household (户有册)"
        ),
        field!(
            "id_number",
            "身份证号",
            ["身份证", "id_card"],
            IdNumber,
            false,
            None,
            "resident ID number; only a hash and a mask are kept"
        ),
        field!(
            "birth_year",
            "出生年份",
            ["出生年"],
            Year {
                min: 1900,
                max: 2100
            },
            true,
            None,
            "year of birth, e.g. 1975"
        ),
        field!(
            "education",
            "文化程度",
            [],
            Enum(&enums::EDUCATION),
            false,
            None,
            "schooling"
        ),
        field!(
            "labor_capacity",
            "劳动能力",
            ["labor", "劳动力"],
            Enum(&enums::LABOR),
            true,
            None,
            "labour capacity: full, partial, none (有/部分/无劳动能力)"
        ),
        field!(
            "wants_work",
            "就业愿望",
            ["wants_job", "就业意愿"],
            Bool,
            false,
            Some("false"),
            "she wishes to work (有就业愿望)"
        ),
        field!(
            "poverty_causes",
            "致贫原因",
            ["cause", "causes"],
            EnumList(&enums::CAUSE),
            false,
            None,
            "causes of poverty; repeat for several"
        ),
        field!(
            "needs",
            "发展需求",
            ["need"],
            Text,
            false,
            None,
            "what she needs to develop (发展需求)"
        ),
        field!(
            "status",
            "状态",
            ["贫困状态"],
            Enum(&enums::STATUS),
            true,
            Some("poor"),
            "poor, exited or at_risk (贫困/脱贫/返贫风险)"
        ),
        field!(
            "exit_date",
            "脱贫日期",
            ["exited_on"],
            Date,
            false,
            None,
            "date she exited poverty; left empty if not given (an exit without a date counts in no year)"
        ),
        field!(
            "insured_two_cancers",
            "两癌保险",
            ["insured"],
            Bool,
            false,
            Some("false"),
            "covered by two-cancer insurance"
        ),
        field!(
            "phone",
            "联系电话",
            ["电话"],
            Text,
            false,
            None,
            "phone number"
        ),
    ],
};

pub(super) static PAIRING: KindSpec = KindSpec {
    kind: Kind::Pairing,
    name: "pairing",
    plural: "pairings",
    zh: "结对",
    id_letter: 'P',
    title_field: "helper_name",
    fields: &[
        field!(
            "woman_id",
            "妇女编号",
            ["woman"],
            Ref(Kind::Woman),
            true,
            None,
            "id of the woman helped"
        ),
        field!(
            "helper_name",
            "帮扶人",
            ["helper"],
            Text,
            true,
            None,
            "name of the helper"
        ),
        field!(
            "helper_kind",
            "帮扶人类型",
            [],
            Enum(&enums::HELPER_KIND),
            true,
            None,
            "entrepreneur, coop_leader, capable_woman, craftswoman, cadre"
        ),
        field!(
            "since",
            "结对日期",
            ["date"],
            Date,
            true,
            None,
            "date the pairing started"
        ),
        field!(
            "active",
            "在帮",
            [],
            Bool,
            false,
            Some("true"),
            "the pairing is still active"
        ),
    ],
};

pub(super) static MEASURE: KindSpec = KindSpec {
    kind: Kind::Measure,
    name: "measure",
    plural: "measures",
    zh: "施策",
    id_letter: 'M',
    title_field: "path",
    fields: &[
        field!(
            "woman_id",
            "妇女编号",
            ["woman"],
            Ref(Kind::Woman),
            true,
            None,
            "id of the woman"
        ),
        field!(
            "path",
            "帮扶路径",
            [],
            Enum(&enums::PATH),
            true,
            None,
            "one of the six paths (六大路径)"
        ),
        field!("date", "日期", [], Date, true, None, "date of the measure"),
        field!(
            "amount_yuan",
            "金额",
            ["amount"],
            Money,
            false,
            None,
            "amount in yuan, if any"
        ),
        field!("note", "备注", [], Text, false, None, "what was done"),
    ],
};

pub(super) static VISIT: KindSpec = KindSpec {
    kind: Kind::Visit,
    name: "visit",
    plural: "visits",
    zh: "回访",
    id_letter: 'V',
    title_field: "date",
    fields: &[
        field!(
            "woman_id",
            "妇女编号",
            ["woman"],
            Ref(Kind::Woman),
            true,
            None,
            "id of the woman visited"
        ),
        field!(
            "date",
            "回访日期",
            [],
            Date,
            true,
            None,
            "date of the visit"
        ),
        field!("visitor", "回访人", [], Text, true, None, "who visited"),
        field!(
            "mode",
            "方式",
            [],
            Enum(&enums::VISIT_MODE),
            false,
            Some("home"),
            "home (入户), phone (电话) or online"
        ),
        field!(
            "note",
            "情况记录",
            ["备注"],
            Text,
            false,
            None,
            "what was found (记入家庭档案)"
        ),
    ],
};

pub(super) static TRAINING: KindSpec = KindSpec {
    kind: Kind::Training,
    name: "training",
    plural: "trainings",
    zh: "培训",
    id_letter: 'T',
    title_field: "topic",
    fields: &[
        field!(
            "topic",
            "培训内容",
            [],
            Enum(&enums::TOPIC),
            true,
            None,
            "planting_breeding, rural_tourism, domestic_service, handicraft, ecommerce, other"
        ),
        field!(
            "date",
            "培训日期",
            [],
            Date,
            true,
            None,
            "date of the session"
        ),
        field!(
            "attendees",
            "参训妇女",
            ["attendee"],
            RefList(Kind::Woman),
            false,
            None,
            "ids of women with a card who attended; repeat for several"
        ),
        field!(
            "others_count",
            "其他参训人数",
            ["others"],
            Int {
                min: 0,
                max: 10_000
            },
            false,
            Some("0"),
            "attendees without a card"
        ),
        field!("place", "地点", [], Text, false, None, "where it was held"),
    ],
};

pub(super) static BASE: KindSpec = KindSpec {
    kind: Kind::Base,
    name: "base",
    plural: "bases",
    zh: "基地",
    id_letter: 'B',
    title_field: "name",
    fields: &[
        field!("name", "基地名称", [], Text, true, None, "name of the base"),
        field!(
            "kind",
            "基地类型",
            ["type"],
            Enum(&enums::BASE_KIND),
            true,
            None,
            "entrepreneurship, handicraft, planting_breeding, other"
        ),
        field!(
            "level",
            "级别",
            [],
            Enum(&enums::BASE_LEVEL),
            true,
            None,
            "county, city or provincial"
        ),
        field!(
            "women_employed",
            "带动妇女就业",
            ["employed"],
            Int {
                min: 0,
                max: 100_000
            },
            false,
            Some("0"),
            "women employed there"
        ),
    ],
};

pub(super) static LOAN: KindSpec = KindSpec {
    kind: Kind::Loan,
    name: "loan",
    plural: "loans",
    zh: "小额担保贷款",
    id_letter: 'L',
    title_field: "amount_yuan",
    fields: &[
        field!(
            "woman_id",
            "妇女编号",
            ["woman"],
            Ref(Kind::Woman),
            true,
            None,
            "id of the borrower"
        ),
        field!(
            "amount_yuan",
            "贷款金额",
            ["amount"],
            Money,
            true,
            None,
            "amount in yuan"
        ),
        field!(
            "date",
            "日期",
            [],
            Date,
            true,
            None,
            "date applied or granted"
        ),
        field!(
            "status",
            "状态",
            [],
            Enum(&enums::LOAN_STATUS),
            false,
            Some("granted"),
            "applied, granted, repaid, overdue"
        ),
    ],
};

pub(super) static VERIFICATION: KindSpec = KindSpec {
    kind: Kind::Verification,
    name: "verification",
    plural: "verifications",
    zh: "核查",
    id_letter: 'C',
    title_field: "record",
    fields: &[
        field!(
            "record",
            "核查对象",
            ["record_id"],
            RecordRef,
            true,
            None,
            "id of the record checked"
        ),
        field!("verifier", "核查人", [], Text, true, None, "who checked"),
        field!(
            "date",
            "核查日期",
            [],
            Date,
            true,
            None,
            "date of the check"
        ),
        field!(
            "result",
            "核查结果",
            [],
            Enum(&enums::VERIFICATION_RESULT),
            true,
            None,
            "confirmed, rejected or needs_fix"
        ),
        field!("note", "备注", [], Text, false, None, "findings"),
        field!(
            "record_version",
            "记录版本",
            [],
            Text,
            false,
            None,
            "changes the checked record had when checked (an edit after a needs_fix is a fix)"
        ),
    ],
};

pub(super) static TARGET: KindSpec = KindSpec {
    kind: Kind::Target,
    name: "target",
    plural: "targets",
    zh: "目标任务",
    id_letter: 'G',
    title_field: "metric",
    fields: &[
        field!(
            "org",
            "单位代码",
            ["unit"],
            Org,
            true,
            None,
            "org code the target is set for (this unit or one below)"
        ),
        field!(
            "metric",
            "指标",
            [],
            Enum(&enums::METRIC),
            true,
            None,
            "training_person_times, poor_share_percent, exits, insured, …"
        ),
        field!(
            "period",
            "期间",
            ["year"],
            Text,
            true,
            None,
            "year or span, e.g. 2026 or 2016-2020"
        ),
        field!(
            "value",
            "目标值",
            [],
            Int {
                min: 0,
                max: 100_000_000
            },
            true,
            None,
            "the number to reach"
        ),
    ],
};
