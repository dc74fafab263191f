//! `halfsky demo`: a village ledger filled with realistic synthetic data, then its
//! statistics — the quickest way to see what halfsky keeps and reports.
//! Also home of the human-readable statistics printout shared with `halfsky stats`.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use halfsky_shared::rollup::StatsReport;
use halfsky_shared::schema::enums;
use halfsky_shared::synthetic::Generator;
use halfsky_shared::OrgCode;

use crate::config::NodeHome;
use crate::ledger::Ledger;

/// Options of `halfsky demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the demo's node home here (default: a temporary directory, removed after).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Households to generate.
    #[arg(long, default_value_t = 200)]
    pub households: usize,
    /// Seed of the synthetic data (same seed, same ledger).
    #[arg(long, default_value_t = 2016)]
    pub seed: u64,
}

/// The demo village: 延寿县 (a national poverty county, seed 001), a town, a village.
pub const DEMO_VILLAGE: &str = "230129100201";

/// Runs the demo.
pub fn run(args: DemoArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let temp;
    let dir = match &args.data {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().join("village")
        }
    };
    let home = NodeHome::new(&dir);
    let org = OrgCode::parse(DEMO_VILLAGE).expect("demo code is valid");
    if home.config_path().exists() {
        writeln!(out, "using the existing demo ledger in {}", dir.display())?;
    } else {
        home.init(org, "红星村", "demo", None)?;
    }
    let mut ledger = Ledger::open(&home)?;
    if ledger
        .list(halfsky_shared::Kind::Household, "", true)?
        .is_empty()
    {
        let started = std::time::Instant::now();
        let mut generator = Generator::new(args.seed, ledger.today());
        let mut count = 0usize;
        generator.village(&org, args.households, |kind, inputs| {
            count += 1;
            ledger.add(kind, &inputs)
        })?;
        writeln!(
            out,
            "红星村 ({DEMO_VILLAGE}): wrote {count} records, each durable before the next, in {:.1} s",
            started.elapsed().as_secs_f64()
        )?;
    }
    writeln!(out)?;
    print_stats(out, &ledger.stats(None)?)?;
    writeln!(out)?;
    match &args.data {
        Some(dir) => writeln!(
            out,
            "The ledger is kept in {}; try `halfsky -d {} list women` or `stats --json`.",
            dir.display(),
            dir.display()
        )?,
        None => writeln!(
            out,
            "(temporary ledger, removed now; keep one with --data DIR)"
        )?,
    }
    Ok(())
}

fn n(v: &serde_json::Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// Prints a statistics report for a person (Chinese labels, English beside them).
pub fn print_stats(out: &mut impl Write, r: &StatsReport) -> std::io::Result<()> {
    let w = &r.women;
    writeln!(
        out,
        "{} {} ({}) — as of {}",
        r.level.zh(),
        r.name,
        r.org,
        r.as_of
    )?;
    writeln!(
        out,
        "户 households           {:>7}   建档立卡 registered poor {}",
        n(&r.households["total"]),
        n(&r.households["registered_poor"])
    )?;
    writeln!(out, "妇女 women             {:>7}", n(&w["total"]))?;
    let status: Vec<_> = enums::STATUS
        .codes()
        .map(|c| format!("{} {} {}", enums::STATUS.zh(c), c, n(&w["by_status"][c])))
        .collect();
    writeln!(out, "  状态 status          {}", status.join(" · "))?;
    let labor: Vec<_> = enums::LABOR
        .codes()
        .map(|c| {
            let cell = &w["by_labor_and_work"][c];
            format!(
                "{} {} (wants work {})",
                c,
                n(&w["by_labor"][c]),
                n(&cell["wants_work"])
            )
        })
        .collect();
    writeln!(out, "  劳动能力 labour       {}", labor.join(" · "))?;
    let causes: Vec<_> = enums::CAUSE
        .codes()
        .filter(|c| n(&w["by_cause"][*c]) > 0)
        .map(|c| format!("{} {}", enums::CAUSE.zh(c), n(&w["by_cause"][c])))
        .collect();
    writeln!(out, "  致贫原因 causes       {}", causes.join(" · "))?;
    let ages: Vec<_> = halfsky_shared::rollup::AGE_BANDS
        .iter()
        .map(|b| format!("{b} {}", n(&w["by_age_band"][*b])))
        .collect();
    writeln!(out, "  年龄 age bands        {}", ages.join(" · "))?;
    writeln!(
        out,
        "结对 pairings active   {:>7}   coverage {}%",
        n(&r.pairings["active"]),
        w["pairing_coverage_percent"]
    )?;
    writeln!(
        out,
        "回访 visits            {:>7}   overdue (> {} days) {} of {} followed",
        n(&r.visits["total"]),
        n(&r.visits["overdue_after_days"]),
        n(&r.visits["overdue_women"]),
        n(&r.visits["followed_women"])
    )?;
    let share = r.trainings["poor_share_percent_this_year"]
        .as_f64()
        .map(|s| format!("{s}% (goal ≥ 40%)"))
        .unwrap_or_else(|| "-".into());
    writeln!(
        out,
        "培训 trainings {}     {:>7} sessions, {} person-times; poor women's share {}",
        r.trainings["year"],
        n(&r.trainings["sessions_this_year"]),
        n(&r.trainings["person_times_this_year"]),
        share
    )?;
    writeln!(
        out,
        "贷款 loans             {:>7}   {} yuan",
        n(&r.loans["count"]),
        r.loans["amount_yuan"]
    )?;
    writeln!(out, "两癌保险 insured       {:>7}", r.insured)?;
    writeln!(out, "今年脱贫 exits this year {:>5}", r.exits_this_year)?;
    writeln!(
        out,
        "核查 verifications     {:>7}",
        n(&r.verifications["total"])
    )?;
    if !r.children.is_empty() {
        writeln!(out, "下级 units below:")?;
        for c in &r.children {
            writeln!(
                out,
                "  {} {:<12} women {:>6}  households {:>6}  overdue {:>5}  exits {:>4}",
                c.org,
                c.name,
                c.women_total,
                c.households_total,
                c.overdue_women,
                c.exits_this_year
            )?;
        }
    }
    Ok(())
}
