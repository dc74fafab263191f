//! The demo city's shape: which counties, townships and villages run, and how each
//! village reaches its township. Read from TOML (`config/demo/city.toml` is embedded
//! as the default), validated, and resized by the `--counties/--townships/--villages`
//! options.

use halfsky_shared::{Level, OrgCode};
use serde::Deserialize;

/// The embedded default: Harbin with Yanshou, Bayan and Mulan (28 nodes).
pub const DEFAULT_PLAN: &str = include_str!("../../../config/demo/city.toml");

/// How a village reaches its township.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VillageLink {
    /// A simulated link with this named profile (see [`crate::lossy::NAMES`]).
    Profile(String),
    /// No direct link: sealed bundles through the relay.
    Relay,
    /// No network: bundle files carried across by hand (by the demo, on a timer).
    Bundle,
}

impl VillageLink {
    /// The name as written in the plan.
    pub fn name(&self) -> &str {
        match self {
            VillageLink::Profile(p) => p,
            VillageLink::Relay => "relay",
            VillageLink::Bundle => "bundle",
        }
    }
}

/// One org unit of the plan.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Its code.
    pub org: OrgCode,
    /// Its name.
    pub name: String,
}

/// A village and its link.
#[derive(Debug, Clone)]
pub struct Village {
    /// The unit.
    pub unit: Unit,
    /// How it reaches its township.
    pub link: VillageLink,
}

/// A township and its villages.
#[derive(Debug, Clone)]
pub struct Township {
    /// The unit.
    pub unit: Unit,
    /// Its villages.
    pub villages: Vec<Village>,
}

/// A county and its townships.
#[derive(Debug, Clone)]
pub struct County {
    /// The unit.
    pub unit: Unit,
    /// Its townships.
    pub townships: Vec<Township>,
}

/// The whole city.
#[derive(Debug, Clone)]
pub struct CityPlan {
    /// The city.
    pub city: Unit,
    /// Its counties.
    pub counties: Vec<County>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    city: RawUnit,
    #[serde(default)]
    county: Vec<RawCounty>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUnit {
    org: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCounty {
    org: String,
    name: String,
    #[serde(default)]
    township: Vec<RawTownship>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTownship {
    org: String,
    name: String,
    #[serde(default)]
    villages: Vec<RawVillage>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVillage {
    org: String,
    name: String,
    #[serde(default = "default_link")]
    link: String,
}

fn default_link() -> String {
    "rural-3g".into()
}

/// Why a demo plan was refused; says which unit and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The file is not valid TOML of the plan's shape.
    #[error(transparent)]
    Toml(#[from] toml::de::Error),
    /// A code is not a valid org code.
    #[error("{org}: {source}")]
    BadCode {
        /// The code as written.
        org: String,
        /// What is wrong with it.
        source: halfsky_shared::OrgCodeError,
    },
    /// A code of one level listed at another.
    #[error("{org} ({name}) is a {is:?} code, but it is listed as a {listed:?}")]
    WrongLevel {
        /// The code.
        org: String,
        /// The unit's name.
        name: String,
        /// The level the code has.
        is: Level,
        /// The level it is listed at.
        listed: Level,
    },
    /// A unit listed under another unit than its code's parent.
    #[error("{org} ({name}) is not directly under {parent}")]
    NotUnder {
        /// The code.
        org: String,
        /// The unit's name.
        name: String,
        /// The unit it is listed under.
        parent: OrgCode,
    },
    /// A village's link is none the demo knows.
    #[error("village {village}: link \"{link}\" is not one of {known}, relay, bundle")]
    UnknownLink {
        /// The village's code.
        village: String,
        /// The link as written.
        link: String,
        /// The simulated link profiles.
        known: String,
    },
    /// A code listed twice.
    #[error("{0} is listed twice")]
    Twice(OrgCode),
    /// No county at all.
    #[error("the plan has no county")]
    NoCounty,
}

fn unit(org: &str, name: &str, level: Level, parent: Option<&OrgCode>) -> Result<Unit, PlanError> {
    let code = OrgCode::parse(org).map_err(|source| PlanError::BadCode {
        org: org.to_string(),
        source,
    })?;
    if code.level() != level {
        return Err(PlanError::WrongLevel {
            org: org.to_string(),
            name: name.to_string(),
            is: code.level(),
            listed: level,
        });
    }
    if let Some(parent) = parent {
        if code.parent() != Some(*parent) {
            return Err(PlanError::NotUnder {
                org: org.to_string(),
                name: name.to_string(),
                parent: *parent,
            });
        }
    }
    Ok(Unit {
        org: code,
        name: name.trim().to_string(),
    })
}

fn link(text: &str, village: &str) -> Result<VillageLink, PlanError> {
    match text {
        "relay" => Ok(VillageLink::Relay),
        "bundle" => Ok(VillageLink::Bundle),
        p if crate::lossy::NAMES.contains(&p) => Ok(VillageLink::Profile(p.to_string())),
        other => Err(PlanError::UnknownLink {
            village: village.to_string(),
            link: other.to_string(),
            known: crate::lossy::NAMES.join(", "),
        }),
    }
}

impl CityPlan {
    /// The embedded default city.
    pub fn default_city() -> CityPlan {
        CityPlan::parse(DEFAULT_PLAN).expect("the embedded demo plan is valid")
    }

    /// Parses and checks a plan: every code valid, at its level, under its parent,
    /// and no code twice.
    pub fn parse(text: &str) -> Result<CityPlan, PlanError> {
        let raw: RawPlan = toml::from_str(text)?;
        let city = unit(&raw.city.org, &raw.city.name, Level::City, None)?;
        let mut counties = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut once = |org: OrgCode| {
            if seen.insert(org) {
                Ok(())
            } else {
                Err(PlanError::Twice(org))
            }
        };
        for c in &raw.county {
            let county = unit(&c.org, &c.name, Level::County, Some(&city.org))?;
            once(county.org)?;
            let mut townships = Vec::new();
            for t in &c.township {
                let township = unit(&t.org, &t.name, Level::Township, Some(&county.org))?;
                once(township.org)?;
                let mut villages = Vec::new();
                for v in &t.villages {
                    let village = unit(&v.org, &v.name, Level::Village, Some(&township.org))?;
                    once(village.org)?;
                    villages.push(Village {
                        link: link(&v.link, &v.org)?,
                        unit: village,
                    });
                }
                townships.push(Township {
                    unit: township,
                    villages,
                });
            }
            counties.push(County {
                unit: county,
                townships,
            });
        }
        if counties.is_empty() {
            return Err(PlanError::NoCounty);
        }
        Ok(CityPlan { city, counties })
    }

    /// Keeps the first `counties` counties, `townships` townships per county and
    /// `villages` villages per township, inventing more (synthetic codes and names,
    /// `rural-3g` links) where the plan has fewer.
    pub fn resized(mut self, counties: usize, townships: usize, villages: usize) -> CityPlan {
        let city = self.city.org;
        while self.counties.len() < counties {
            let n = self.counties.len();
            // County digits 5–6 from 81 up: clear of the real ones above.
            let org = synthetic_child(&city, 4, 81 + n as u64);
            self.counties.push(County {
                unit: Unit {
                    org,
                    name: format!("示范县{}", n + 1),
                },
                townships: Vec::new(),
            });
        }
        self.counties.truncate(counties);
        for county in &mut self.counties {
            while county.townships.len() < townships {
                let n = county.townships.len();
                let org = synthetic_child(&county.unit.org, 6, 500 + n as u64);
                county.townships.push(Township {
                    unit: Unit {
                        org,
                        name: format!("{}示范镇{}", county.unit.name, n + 1),
                    },
                    villages: Vec::new(),
                });
            }
            county.townships.truncate(townships);
            for township in &mut county.townships {
                while township.villages.len() < villages {
                    let n = township.villages.len();
                    let org = synthetic_child(&township.unit.org, 9, 600 + n as u64);
                    township.villages.push(Village {
                        unit: Unit {
                            org,
                            name: format!("示范村{}", n + 1),
                        },
                        link: VillageLink::Profile("rural-3g".into()),
                    });
                }
                township.villages.truncate(villages);
            }
        }
        self
    }

    /// Every village with its township and county.
    pub fn villages(&self) -> impl Iterator<Item = (&County, &Township, &Village)> {
        self.counties.iter().flat_map(|c| {
            c.townships
                .iter()
                .flat_map(move |t| t.villages.iter().map(move |v| (c, t, v)))
        })
    }

    /// How many nodes the city runs.
    pub fn node_count(&self) -> usize {
        1 + self
            .counties
            .iter()
            .map(|c| {
                1 + c
                    .townships
                    .iter()
                    .map(|t| 1 + t.villages.len())
                    .sum::<usize>()
            })
            .sum::<usize>()
    }
}

/// The code of `parent`'s child with `number` in the digits after the first `digits`.
fn synthetic_child(parent: &OrgCode, digits: usize, number: u64) -> OrgCode {
    let text = parent.to_string();
    let width = match digits {
        4 => 2,
        _ => 3,
    };
    let code = format!(
        "{}{:0width$}{}",
        &text[..digits],
        number,
        "0".repeat(12 - digits - width)
    );
    OrgCode::parse(&code).expect("synthetic codes follow the format")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_city_has_28_nodes_and_every_kind_of_link() {
        let plan = CityPlan::default_city();
        assert_eq!(plan.node_count(), 28);
        let links: std::collections::BTreeSet<_> = plan
            .villages()
            .map(|(_, _, v)| v.link.name().to_string())
            .collect();
        for l in ["rural-3g", "edge-2g", "flaky", "relay", "bundle"] {
            assert!(links.contains(l), "{l} missing from {links:?}");
        }
    }

    #[test]
    fn resizing_keeps_the_plan_and_invents_valid_units() {
        let plan = CityPlan::default_city().resized(4, 1, 5);
        assert_eq!(plan.counties.len(), 4);
        assert_eq!(plan.node_count(), 1 + 4 * (1 + 1 + 5));
        assert_eq!(plan.counties[0].unit.name, "延寿县");
        for (c, t, v) in plan.villages() {
            assert_eq!(v.unit.org.parent(), Some(t.unit.org));
            assert_eq!(t.unit.org.parent(), Some(c.unit.org));
            assert_eq!(c.unit.org.parent(), Some(plan.city.org));
        }
        let small = CityPlan::default_city().resized(1, 1, 1);
        assert_eq!(small.node_count(), 4);
    }

    #[test]
    fn bad_plans_say_what_is_wrong() {
        let bad_level = DEFAULT_PLAN.replace("org = \"230129100000\"", "org = \"230129000001\"");
        let err = CityPlan::parse(&bad_level).unwrap_err().to_string();
        assert!(err.contains("230129000001"), "{err}");
        let bad_link = DEFAULT_PLAN.replace("link = \"flaky\"", "link = \"pigeon\"");
        let err = CityPlan::parse(&bad_link).unwrap_err().to_string();
        assert!(err.contains("pigeon") && err.contains("rural-3g"), "{err}");
        let twice = DEFAULT_PLAN.replace("230129100202", "230129100201");
        assert!(CityPlan::parse(&twice)
            .unwrap_err()
            .to_string()
            .contains("twice"));
    }
}
